"""Write gpucost's Grafana dashboards (dashboards/grafana/*.json) from Python.

Built with grafana-foundation-sdk, Grafana's typed dashboard builders, pinned in the
`dashboards` extra:

    pip install -e '.[dashboards]'
    python dashboards/generate.py            # rewrite dashboards/grafana/*.json
    python dashboards/generate.py --check    # exit 1 when the committed JSON is stale
    python deploy/render.py                  # then refresh the dashboard ConfigMaps

Every query reads a recording rule of rules/gpucost.rules.yml where one exists, and an exported
series only where no rule does (pod GPU counts, per-node idle by resource, info metrics).
Money panels use the unit currencyUSD; `--currency EUR` writes the same dashboards with
currencyEUR for a deployment whose pricing file says `currency: EUR`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from health import (  # dashboards/ is on sys.path when this file runs as a script
    exporter_row,
    prices_row,
)
from panels import (
    BATCH_KINDS,
    BUDGET_CELL,
    BUDGET_THRESHOLDS,
    NO_UTILIZATION,
    NODE_INFO,
    OUT_DIR,
    Column,
    Grid,
    Units,
    build_dashboard,
    currency_note,
    datasource_variable,
    label_variable,
    query,
    range_spend,
    stat_panel,
    table_panel,
    timeseries_panel,
    top_bars,
)


def overview(units: Units) -> dash.Dashboard:
    money, ratio = units.money, units.ratio
    grid = Grid()

    grid.row("Cost now (per hour)")
    for title, description, expr, unit in [
        ("Node cost", "What all nodes cost per hour.",
         "sum(cluster:gpucost_node_cost_per_hour:sum)", money),
        ("Reserved by pods", "Cost of what pods reserve (their effective requests), per hour.",
         "sum(cluster:gpucost_pod_cost_per_hour:sum)", money),
        ("Idle", "Node cost no pod reserved, per hour.",
         "sum(cluster:gpucost_node_idle_cost_per_hour:sum)", money),
        ("Reserved share", "Share of node cost reserved by pods, all resources.",
         "cluster:gpucost_node_cost_per_hour:reserved_ratio", ratio),
        ("GPU share reserved", "Share of GPU cost reserved by pods.",
         'cluster_resource:gpucost_node_cost_per_hour:reserved_ratio{resource="gpu"}', ratio),
        ("GPU idle", "GPU cost no pod reserved, per hour.",
         'sum(cluster_resource:gpucost_node_idle_cost_per_hour:sum{resource="gpu"})', money),
    ]:
        grid.add(stat_panel(title, description, expr, unit), w=4, h=4)

    grid.row("Spend")
    for title, description, expr in [
        ("Node spend, last 24h", "What all nodes cost over the last 24 hours.",
         "sum(cluster:gpucost_node_cost:spend_1d)"),
        ("Node spend, last 30 days", "What all nodes cost over the last 30 days.",
         "sum(cluster:gpucost_node_cost:spend_30d)"),
        ("Monthly projection", "The last 7 days' mean hourly node cost times 730 hours.",
         "sum(cluster:gpucost_node_cost:monthly_projection)"),
        ("Idle spend, last 30 days", "Node cost no pod reserved over the last 30 days.",
         "sum(cluster:gpucost_node_idle_cost:spend_30d)"),
        ("GPU spend, last 30 days", "What the nodes' GPUs cost over the last 30 days.",
         'sum(cluster_resource:gpucost_node_cost:spend_30d{resource="gpu"})'),
        ("GPU idle spend, last 30 days", "GPU cost no pod reserved over the last 30 days.",
         'sum(cluster_resource:gpucost_node_idle_cost:spend_30d{resource="gpu"})'),
    ]:
        grid.add(stat_panel(title, description, expr, money), w=4, h=4)

    grid.row("Cost over time")
    grid.add(timeseries_panel(
        "Cost per hour: reserved and idle, by resource",
        "Stacked, the series add up to what the nodes cost.",
        [query("sum by (resource) (cluster_resource:gpucost_pod_cost_per_hour:sum)",
               "{{resource}} reserved", ref="A"),
         query("sum by (resource) (cluster_resource:gpucost_node_idle_cost_per_hour:sum)",
               "{{resource}} idle", ref="B")],
        money, stacked=True), w=16, h=9)
    grid.add(timeseries_panel(
        "Reserved share of node cost",
        "(node cost - idle) / node cost, per resource and over all resources.",
        [query("cluster_resource:gpucost_node_cost_per_hour:reserved_ratio", "{{resource}}", ref="A"),
         query("cluster:gpucost_node_cost_per_hour:reserved_ratio", "all", ref="B")],
        ratio).max(1), w=8, h=9)

    grid.row("Who spends on GPUs")
    grid.add(top_bars(
        "Top namespaces by GPU cost per hour", "The 10 namespaces whose pods reserve the most GPU cost.",
        'topk(10, sum by (namespace) (namespace_resource:gpucost_pod_cost_per_hour:sum{resource="gpu"}))',
        "{{namespace}}", money), w=8, h=10)
    grid.add(top_bars(
        "Top teams by GPU cost per hour",
        "The 10 teams whose pods reserve the most GPU cost; pods without a team label are \"(none)\".",
        'topk(10, label_replace(sum by (team) (team_resource:gpucost_pod_cost_per_hour:sum{resource="gpu"}),'
        ' "team", "(none)", "team", ""))',
        "{{team}}", money), w=8, h=10)
    grid.add(timeseries_panel(
        "GPU cost per hour by team (top 10)", "The 10 teams reserving the most GPU cost at each step.",
        [query('topk(10, sum by (team) (team_resource:gpucost_pod_cost_per_hour:sum{resource="gpu"}))',
               "{{team}}")],
        money), w=8, h=10)
    for dimension in ("team", "namespace"):
        grid.add(table_panel(
            f"Spend by {dimension}",
            f"Cost per hour now, spend over the last 24 hours and 30 days, and the monthly "
            f"projection (the last 7 days' mean times 730 hours), per {dimension}.",
            [dimension],
            [Column("Cost / h", f"sum by ({dimension}) ({dimension}:gpucost_pod_cost_per_hour:sum)", money),
             Column("GPU cost / h",
                    f'sum by ({dimension}) ({dimension}_resource:gpucost_pod_cost_per_hour:sum{{resource="gpu"}})',
                    money),
             Column("Last 24h", f"sum by ({dimension}) ({dimension}:gpucost_pod_cost:spend_1d)", money),
             Column("Last 30 days", f"sum by ({dimension}) ({dimension}:gpucost_pod_cost:spend_30d)", money),
             Column("GPU, last 30 days",
                    f'sum by ({dimension}) ({dimension}_resource:gpucost_pod_cost:spend_30d{{resource="gpu"}})',
                    money),
             Column("Monthly projection",
                    f"sum by ({dimension}) ({dimension}:gpucost_pod_cost:monthly_projection)", money)],
            sort_by="Last 30 days"), w=12, h=10)

    grid.row("Chargeback: idle and shared namespaces shared out")
    grid.add(table_panel(
        "Team cost, idle shared",
        "Per team, per hour: what its pods reserve, and the same plus its share of idle and of the "
        "shared namespaces (kube-system, monitoring: rule namespace:gpucost_shared_namespace:info), "
        "in proportion to its reserved cost of each resource. The shared column adds up to the "
        "node cost; \"__unallocated__\" holds the cost of resources only shared namespaces reserve.",
        ["team"],
        [Column("Reserved / h", "sum by (team) (team:gpucost_pod_cost_per_hour:sum)", money),
         Column("Shared / h", "sum by (team) (team:gpucost_pod_cost_per_hour:shared)", money),
         Column("GPU reserved / h", 'sum by (team) (team_resource:gpucost_pod_cost_per_hour:sum{resource="gpu"})', money),
         Column("GPU shared / h", 'sum by (team) (team_resource:gpucost_pod_cost_per_hour:shared{resource="gpu"})', money),
         Column("Shared, spend in range", range_spend("team:gpucost_pod_cost_per_hour:shared", "team"), money)],
        sort_by="Shared / h"), w=24, h=9)

    grid.row("Budgets")
    budget_keys = ["budget", "dimension", "resource"]
    by_budget = "max by (budget, dimension, resource)"
    grid.add(table_panel(
        "Budgets: monthly projection",
        "Each budget of the pricing file's `budgets:` with the monthly projection of what it "
        "covers (the last 7 days' mean times 730 hours); orange from 80 %, red from 100 %.",
        budget_keys,
        [Column("Monthly budget", f"{by_budget} (gpucost_budget_per_month)", money),
         Column("Projection",
                f"{by_budget} (budget:gpucost_budget_per_month:projection_ratio)"
                f" * {by_budget} (gpucost_budget_per_month)", money),
         Column("Projection / budget", f"{by_budget} (budget:gpucost_budget_per_month:projection_ratio)",
                ratio, cell=BUDGET_CELL)],
        sort_by="Projection / budget").thresholds(BUDGET_THRESHOLDS), w=24, h=8)

    grid.row("Infrastructure")
    nodes_of = "count by ({by}) (max by (node, {by}) (gpucost_node_info))"
    grid.add(table_panel(
        "Cost by instance type",
        "Node cost, the part pods reserve and the idle rest, per hour, by the label "
        "node.kubernetes.io/instance-type.",
        ["instance_type"],
        [Column("Nodes", nodes_of.format(by="instance_type"), units.count),
         Column("Node cost / h", "sum by (instance_type) (instance_type:gpucost_node_cost_per_hour:sum)", money),
         Column("Reserved / h", "sum by (instance_type) (instance_type:gpucost_pod_cost_per_hour:sum)", money),
         Column("Idle / h", "sum by (instance_type) (instance_type:gpucost_node_idle_cost_per_hour:sum)", money)],
        sort_by="Node cost / h"), w=12, h=10)
    gpu = '{resource="gpu", gpu_model!=""}'
    grid.add(table_panel(
        "GPU cost by GPU model",
        "Physical GPUs, their cost, the part pods reserve and the idle rest, per hour, by GPU model.",
        ["gpu_model"],
        [Column("GPUs", "sum by (gpu_model) (max by (node) (gpucost_node_gpus)"
                        f" * on (node) group_left (gpu_model) {NODE_INFO})", units.count),
         Column("GPU cost / h", f"sum by (gpu_model) (gpu_model_resource:gpucost_node_cost_per_hour:sum{gpu})", money),
         Column("Reserved / h", f"sum by (gpu_model) (gpu_model_resource:gpucost_pod_cost_per_hour:sum{gpu})", money),
         Column("Idle / h", f"sum by (gpu_model) (gpu_model_resource:gpucost_node_idle_cost_per_hour:sum{gpu})", money),
         Column("Reserved share",
                f"sum by (gpu_model) (gpu_model_resource:gpucost_pod_cost_per_hour:sum{gpu})"
                f" / sum by (gpu_model) (gpu_model_resource:gpucost_node_cost_per_hour:sum{gpu})", ratio)],
        sort_by="GPU cost / h"), w=12, h=10)
    grid.add(timeseries_panel(
        "Node cost per hour by instance type", "Stacked, the series add up to what the nodes cost.",
        [query("sum by (instance_type) (instance_type:gpucost_node_cost_per_hour:sum)", "{{instance_type}}")],
        money, stacked=True), w=12, h=9)
    grid.add(timeseries_panel(
        "GPU idle cost per hour by GPU model", "GPU cost no pod reserved.",
        [query(f"sum by (gpu_model) (gpu_model_resource:gpucost_node_idle_cost_per_hour:sum{gpu})",
               "{{gpu_model}}")],
        money, stacked=True), w=12, h=9)

    prices_row(grid, units)
    exporter_row(grid, units)

    return build_dashboard(
        "gpucost-overview", "gpucost / Overview",
        "What the cluster's nodes cost, what pods reserve, what sits idle, and who spends on GPUs. "
        + currency_note(units),
        grid, [datasource_variable()])


def workloads(units: Units) -> dash.Dashboard:
    money = units.money
    grid = Grid()
    sel = 'namespace=~"$namespace", team=~"$team", owner_name=~"$owner"'
    workload_by = "namespace, owner_kind, owner_name, team"
    wr = "workload_resource:gpucost_pod_cost_per_hour:sum"
    total = f"workload:gpucost_pod_cost_per_hour:sum{{{sel}}}"

    grid.row("Selection")
    grid.add(stat_panel("Cost per hour", "What the selected workloads reserve, per hour.",
                        f"sum({total})", money), w=6, h=4)
    grid.add(stat_panel("GPU cost per hour", "GPU cost the selected workloads reserve, per hour.",
                        f'sum({wr}{{resource="gpu", {sel}}})', money), w=6, h=4)
    grid.add(stat_panel("GPUs reserved", "Physical-GPU equivalents reserved (MIG slices and shared GPUs as fractions).",
                        f"sum(gpucost_pod_gpu_reserved{{{sel}}})", units.count), w=6, h=4)
    grid.add(stat_panel("Spend in the time range", "What the selected workloads reserved over the dashboard's time range.",
                        range_spend(total), money), w=6, h=4)

    grid.row("Workloads")
    grid.add(table_panel(
        "Cost by workload",
        "Per top-level workload (Deployment, StatefulSet, DaemonSet, CronJob, Job or an operator's kind): "
        "cost per hour by resource now, GPUs reserved now, and spend over the dashboard's time range.",
        ["namespace", "owner_kind", "owner_name", "team"],
        [Column("CPU / h", f'sum by ({workload_by}) ({wr}{{resource="cpu", {sel}}})', money),
         Column("Memory / h", f'sum by ({workload_by}) ({wr}{{resource="memory", {sel}}})', money),
         Column("GPU / h", f'sum by ({workload_by}) ({wr}{{resource="gpu", {sel}}})', money),
         Column("Total / h", f"sum by ({workload_by}) ({total})", money),
         Column("GPUs", f"sum by ({workload_by}) (gpucost_pod_gpu_reserved{{{sel}}})", units.count),
         Column("Spend in range", range_spend(total, workload_by), money)],
        sort_by="Total / h"), w=24, h=12)

    grid.row("Over time")
    top = "topk(10, sum by (namespace, owner_kind, owner_name) ({expr}))"
    legend = "{{namespace}}/{{owner_name}}"
    grid.add(timeseries_panel("Cost per hour by resource", "Stacked over the selected workloads.",
                              [query(f"sum by (resource) ({wr}{{{sel}}})", "{{resource}}")],
                              money, stacked=True), w=12, h=9)
    grid.add(timeseries_panel("Cost per hour by workload (top 10)", "All resources.",
                              [query(top.format(expr=total), legend)], money), w=12, h=9)
    for resource, name in (("cpu", "CPU"), ("memory", "Memory"), ("gpu", "GPU")):
        grid.add(timeseries_panel(
            f"{name} cost per hour by workload (top 10)",
            f"Cost of the {resource} the workloads reserve.",
            [query(top.format(expr=f'{wr}{{resource="{resource}", {sel}}}'), legend)], money), w=8, h=9)
    grid.add(timeseries_panel(
        "GPUs reserved by workload (top 10)",
        "Physical-GPU equivalents reserved, by workload.",
        [query(top.format(expr=f"gpucost_pod_gpu_reserved{{{sel}}}"), legend)], units.count), w=24, h=9)

    grid.row("Spend")
    for dimension, selector in (("namespace", 'namespace=~"$namespace"'), ("team", 'team=~"$team"')):
        grid.add(table_panel(
            f"Spend by {dimension}",
            f"Per {dimension} of the selection: spend over the last 24 hours and 30 days and the "
            f"monthly projection (the last 7 days' mean times 730 hours).",
            [dimension],
            [Column("Last 24h", f"sum by ({dimension}) ({dimension}:gpucost_pod_cost:spend_1d{{{selector}}})", money),
             Column("Last 30 days", f"sum by ({dimension}) ({dimension}:gpucost_pod_cost:spend_30d{{{selector}}})", money),
             Column("GPU, last 30 days",
                    f'sum by ({dimension}) ({dimension}_resource:gpucost_pod_cost:spend_30d{{resource="gpu", {selector}}})',
                    money),
             Column("Monthly projection",
                    f"sum by ({dimension}) ({dimension}:gpucost_pod_cost:monthly_projection{{{selector}}})", money)],
            sort_by="Last 30 days"), w=12, h=10)

    grid.row("Job cost")
    job_sel = f'owner_kind=~"{BATCH_KINDS}", {sel}'
    buckets = f"workload_resource:gpucost_pod_cost:spend_1h{{{job_sel}}}"
    grid.add(table_panel(
        "Job cost, finished jobs included",
        "Jobs, CronJobs, PyTorchJobs, RayClusters and other run-to-completion workloads, those "
        "that ended included: what they spent over the dashboard's time range (whole hours, from "
        "the hourly buckets) and over the last 30 days, per resource. Restarted pods add up "
        "under their owner.",
        ["namespace", "owner_kind", "owner_name", "team"],
        [Column("Spend in range", f"sum by ({workload_by}) (sum_over_time({buckets}[$__range]))", money),
         Column("GPU, in range",
                f'sum by ({workload_by}) (sum_over_time(workload_resource:gpucost_pod_cost:spend_1h{{resource="gpu", {job_sel}}}[$__range]))',
                money),
         Column("Last 30 days", f"sum by ({workload_by}) (workload:gpucost_pod_cost:observed_spend_30d{{{job_sel}}})", money),
         Column("Cost / h now", f"sum by ({workload_by}) (workload:gpucost_pod_cost_per_hour:sum{{{job_sel}}})", money),
         Column("GPU utilization now", f"sum by ({workload_by}) (workload:gpucost_pod_gpu_utilization:ratio{{{job_sel}}})",
                units.ratio, no_value=NO_UTILIZATION)],
        sort_by="Spend in range"), w=24, h=10)

    grid.row("Node idle")

    def per_node(expr: str) -> str:
        return f"max by (node) ({expr}) * on (node) group_left (instance_type, gpu_model) {NODE_INFO}"

    grid.add(table_panel(
        "Idle cost by node",
        "Node cost no pod reserved, per hour, by resource; and the share of each node's cost that "
        "pods reserve. Not filtered by the variables above.",
        ["node", "instance_type", "gpu_model"],
        [Column("Node cost / h", per_node("node:gpucost_node_cost_per_hour:sum"), money),
         Column("Idle / h", per_node("node:gpucost_node_idle_cost_per_hour:sum"), money),
         Column("CPU idle / h", per_node('sum without (instance) (gpucost_node_idle_cost_per_hour{resource="cpu"})'), money),
         Column("Memory idle / h",
                per_node('sum without (instance) (gpucost_node_idle_cost_per_hour{resource="memory"})'), money),
         Column("GPU idle / h", per_node('sum without (instance) (gpucost_node_idle_cost_per_hour{resource="gpu"})'), money),
         Column("Reserved share", per_node("node:gpucost_node_cost_per_hour:reserved_ratio"), units.ratio),
         Column("GPU reserved share",
                per_node('node_resource:gpucost_node_cost_per_hour:reserved_ratio{resource="gpu"}'), units.ratio)],
        sort_by="Idle / h"), w=24, h=12)

    variables: list[Builder[dm.VariableModel]] = [
        datasource_variable(),
        label_variable("namespace", "Namespace", "namespace", "namespace:gpucost_pod_cost_per_hour:sum",
                       "Namespaces with reserved cost."),
        label_variable("team", "Team", "team", 'workload:gpucost_pod_cost_per_hour:sum{namespace=~"$namespace"}',
                       "The pricing file's team label; \"All\" includes pods without one."),
        label_variable("owner", "Workload", "owner_name",
                       'workload:gpucost_pod_cost_per_hour:sum{namespace=~"$namespace", team=~"$team"}',
                       "Top-level workload name (owner_name)."),
    ]
    return build_dashboard(
        "gpucost-workloads", "gpucost / Workloads",
        "What each workload reserves and costs, by CPU, memory and GPU, filtered by namespace, team "
        "and workload; spend by namespace and team; idle cost by node. " + currency_note(units),
        grid, variables)


def gpu_efficiency(units: Units) -> dash.Dashboard:
    """Utilization of reserved GPUs (dcgm-exporter) against what is reserved. Every panel that
    needs utilization says NO_UTILIZATION when there is none, rather than 0 %."""
    money, ratio = units.money, units.ratio
    grid = Grid()
    team = 'team=~"$team"'
    reserved_gpu = 'cluster_resource:gpucost_pod_cost_per_hour:sum{resource="gpu"}'

    def measured_stat(title: str, description: str, expr: str, unit: str) -> stat.Panel:
        return stat_panel(title, description, expr, unit).no_value(NO_UTILIZATION)

    grid.row("Utilization of reserved GPUs")
    grid.add(stat_panel("Reserved GPU cost / h", "What pods reserve of the GPUs, per hour.",
                        f"sum({reserved_gpu})", money), w=4, h=4)
    grid.add(measured_stat(
        "With utilization data", "Share of the reserved GPU cost whose pods dcgm-exporter reports "
        "utilization for; the rest (AMD, Intel, no dcgm-exporter) is unknown.",
        f"sum(cluster:gpucost_pod_gpu_measured_cost_per_hour:sum) / sum({reserved_gpu})", ratio), w=4, h=4)
    grid.add(measured_stat(
        "GPU utilization of what is reserved", "Utilization weighted by reserved cost, over the pods "
        "with data (DCGM_FI_PROF_GR_ENGINE_ACTIVE, else DCGM_FI_DEV_GPU_UTIL on whole GPUs).",
        "cluster:gpucost_pod_gpu_utilization:ratio", ratio), w=4, h=4)
    grid.add(measured_stat("Unused reserved cost / h", "Reserved GPU cost x (1 - utilization), per hour.",
                           "sum(cluster:gpucost_pod_gpu_unused_cost_per_hour:sum)", money), w=4, h=4)
    grid.add(measured_stat("Unused, last 24h", "Unused reserved GPU cost over the last 24 hours.",
                           "sum(sum_over_time(cluster:gpucost_pod_gpu_unused_cost_per_hour:sum[1d]))"
                           " / scalar(count_over_time(cluster:gpucost_data:present[1d])) * 24", money), w=4, h=4)
    grid.add(measured_stat("Unused in the time range", "Unused reserved GPU cost over the dashboard's time range.",
                           range_spend("cluster:gpucost_pod_gpu_unused_cost_per_hour:sum"), money), w=4, h=4)
    grid.add(timeseries_panel(
        "Reserved GPU cost per hour: used, unused, unknown",
        "Stacked, the series add up to the reserved GPU cost. Unknown: pods without utilization data.",
        [query("sum(cluster:gpucost_pod_gpu_used_cost_per_hour:sum)", "used", ref="A"),
         query("sum(cluster:gpucost_pod_gpu_unused_cost_per_hour:sum)", "unused", ref="B"),
         query(f"sum({reserved_gpu}) - (sum(cluster:gpucost_pod_gpu_measured_cost_per_hour:sum) or vector(0))",
               "unknown", ref="C")],
        money, stacked=True), w=24, h=9)

    grid.row("By team")
    by_team = "team"
    grid.add(table_panel(
        "Utilization and unused cost by team",
        "Per team: reserved GPU cost, the part with utilization data, utilization weighted by "
        "reserved cost, and the unused part, per hour; unused over the time range.",
        ["team"],
        [Column("GPU reserved / h", f'sum by ({by_team}) (team_resource:gpucost_pod_cost_per_hour:sum{{resource="gpu", {team}}})', money),
         Column("With data / h", f"sum by ({by_team}) (team:gpucost_pod_gpu_measured_cost_per_hour:sum{{{team}}})", money,
                no_value=NO_UTILIZATION),
         Column("Utilization", f"sum by ({by_team}) (team:gpucost_pod_gpu_utilization:ratio{{{team}}})", ratio,
                no_value=NO_UTILIZATION),
         Column("Unused / h", f"sum by ({by_team}) (team:gpucost_pod_gpu_unused_cost_per_hour:sum{{{team}}})", money,
                no_value=NO_UTILIZATION),
         Column("Unused in range", range_spend(f"team:gpucost_pod_gpu_unused_cost_per_hour:sum{{{team}}}", by_team), money,
                no_value=NO_UTILIZATION)],
        sort_by="GPU reserved / h"), w=12, h=10)
    grid.add(timeseries_panel(
        "GPU utilization by team", "Utilization of what each team reserves, weighted by reserved cost.",
        [query(f"sum by (team) (team:gpucost_pod_gpu_utilization:ratio{{{team}}})", "{{team}}")],
        ratio).max(1).no_value(NO_UTILIZATION), w=12, h=10)

    grid.row("Workloads")
    workload_by = "namespace, owner_kind, owner_name, team"
    grid.add(top_bars(
        "Top wasted reservations", "The 10 workloads whose unused reserved GPU cost per hour is highest.",
        f"topk(10, sum by (namespace, owner_kind, owner_name) (workload:gpucost_pod_gpu_unused_cost_per_hour:sum{{{team}}}))",
        "{{namespace}}/{{owner_name}}", money).no_value(NO_UTILIZATION), w=8, h=12)
    grid.add(table_panel(
        "Utilization against reservation by workload",
        "Per workload: reserved GPU cost, utilization and unused cost per hour. A workload whose "
        "pods have no utilization data shows \"no utilization data\".",
        ["namespace", "owner_kind", "owner_name", "team"],
        [Column("GPU reserved / h",
                f'sum by ({workload_by}) (workload_resource:gpucost_pod_cost_per_hour:sum{{resource="gpu", {team}}})', money),
         Column("Utilization", f"sum by ({workload_by}) (workload:gpucost_pod_gpu_utilization:ratio{{{team}}})", ratio,
                no_value=NO_UTILIZATION),
         Column("Unused / h", f"sum by ({workload_by}) (workload:gpucost_pod_gpu_unused_cost_per_hour:sum{{{team}}})", money,
                no_value=NO_UTILIZATION)],
        sort_by="Unused / h"), w=16, h=12)

    grid.row("MIG and time-sliced GPUs")
    grid.add(timeseries_panel(
        "MIG instance utilization by profile",
        "Mean utilization of the MIG instances pods hold, by profile (dcgm-exporter's GPU_I_PROFILE).",
        [query('avg by (GPU_I_PROFILE) (pod_gpu:dcgm_gpu_utilization:ratio{GPU_I_PROFILE!=""})', "{{GPU_I_PROFILE}}")],
        ratio).max(1).no_value(NO_UTILIZATION), w=12, h=9)
    grid.add(table_panel(
        "Time-sliced GPUs",
        "GPUs shared by time-slicing (dcgm-exporter repeats a shared device's series per pod, with "
        "vgpu): pods sharing each device, and the device's utilization, which every sharing pod sees.",
        ["Hostname", "UUID"],
        [Column("Sharing pods", 'count by (Hostname, UUID) (pod_gpu:dcgm_gpu_utilization:ratio{vgpu!=""})', units.count),
         Column("Device utilization", 'max by (Hostname, UUID) (pod_gpu:dcgm_gpu_utilization:ratio{vgpu!=""})', ratio,
                no_value=NO_UTILIZATION)],
        sort_by="Sharing pods").no_value(NO_UTILIZATION), w=12, h=9)

    variables: list[Builder[dm.VariableModel]] = [
        datasource_variable(),
        label_variable("team", "Team", "team", 'team_resource:gpucost_pod_cost_per_hour:sum{resource="gpu"}',
                       "Teams reserving GPUs; \"All\" includes pods without a team."),
    ]
    return build_dashboard(
        "gpucost-gpu-efficiency", "gpucost / GPU efficiency",
        "Was the reservation worth it: GPU utilization (from NVIDIA dcgm-exporter) of what pods reserve, "
        "the unused reserved cost, by team and workload, MIG and time-sliced GPUs. Without dcgm-exporter "
        "data the utilization panels say \"no utilization data\". " + currency_note(units),
        grid, variables)


DASHBOARDS = {"gpucost-overview.json": overview, "gpucost-workloads.json": workloads,
              "gpucost-gpu-efficiency.json": gpu_efficiency}


def render(units: Units) -> dict[str, str]:
    """File name -> JSON text, deterministic (sorted keys, two-space indent, final newline)."""
    return {
        name: json.dumps(build(units).build(), cls=JSONEncoder, indent=2, sort_keys=True,
                         ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is stale")
    parser.add_argument("--currency", default="USD", help="ISO code for the money unit (default USD)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = parser.parse_args(argv)
    files = render(Units(money=f"currency{args.currency.upper()}"))
    stale = [name for name, text in files.items()
             if not (args.out / name).is_file() or (args.out / name).read_text() != text]
    if args.check:
        for name in stale:
            print(f"{args.out / name} is stale: run python dashboards/generate.py", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text)
    print(f"wrote {len(files)} dashboards to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Deployment artefacts agree with the exporter: manifests, image, rules and dashboards.

Every flag a manifest passes is parsed by the exporter's own parser; ports and probes match its
default listen address; the ClusterRole grants exactly what the watches need; the generated
PrometheusRule and dashboard ConfigMaps are current; every metric a dashboard queries is an
exported series or a recording rule.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpucost import __version__
from gpucost.cli import DEFAULT_LISTEN, UsageError, _check, build_parser
from gpucost.pricing_file import load_pricing

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DASHBOARDS = sorted((REPO / "dashboards" / "grafana").glob("*.json"))
DEFAULT_PORT = int(DEFAULT_LISTEN.rsplit(":", 1)[1])
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet"}
RUN_AS_USER = 65532

Doc = dict[str, Any]


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


def docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> Iterator[tuple[Path, Doc]]:
    """Kubernetes objects under deploy/ (kustomization files, the pricing data and the patches
    of deploy/components left out: those are tested as built, with the base they patch)."""
    for path in yaml_files():
        if "components" in path.relative_to(DEPLOY).parts:
            continue
        for doc in docs(path):
            if "apiVersion" in doc and "kind" in doc and doc["kind"] != "Kustomization":
                yield path, doc


def workloads() -> list[tuple[str, Doc]]:
    return [(f"{p.relative_to(DEPLOY)}:{d['metadata']['name']}", d)
            for p, d in manifests() if d["kind"] in WORKLOAD_KINDS]


WORKLOADS = workloads()
WORKLOAD_IDS = [name for name, _ in WORKLOADS]


def containers(workload: Doc) -> list[Doc]:
    return list(workload["spec"]["template"]["spec"]["containers"])


#: Stand-ins for downward-API fields, as the kubelet would fill them in.
FIELD_SAMPLES = {
    "spec.nodeName": "ip-10-0-1-17.ec2.internal",
    "metadata.labels['apps.kubernetes.io/pod-index']": "0",
}


def expand_args(container: Doc, fields: dict[str, str] = FIELD_SAMPLES) -> list[str]:
    """The container's args with $(VAR) references replaced the way the kubelet does."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]

    def expand(match: re.Match[str]) -> str:
        assert match.group(1) in env, f"$({match.group(1)}) names no env var of {container['name']}"
        return env[match.group(1)]

    return [re.sub(r"\$\((\w+)\)", expand, str(arg)) for arg in container.get("args", [])]


def parse_args(args: list[str]) -> Any:
    parsed = build_parser().parse_args(args)
    _check(parsed)
    return parsed


# --- YAML and kustomize -----------------------------------------------------------------------


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert docs(path), f"{path} holds no YAML document"


def test_deploy_has_the_three_modes_and_prometheus_operator() -> None:
    for folder in ("base", "overlays/daemonset", "overlays/sharded", "prometheus-operator"):
        assert (DEPLOY / folder / "kustomization.yaml").is_file(), folder


@pytest.mark.parametrize("kustomization", sorted(DEPLOY.rglob("kustomization.yaml")),
                         ids=lambda p: str(p.parent.relative_to(DEPLOY)))
def test_kustomization_files_exist(kustomization: Path) -> None:
    k = docs(kustomization)[0]
    for resource in k.get("resources", []):
        assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource} is missing"
    for generator in k.get("configMapGenerator", []):
        for file in generator.get("files", []):
            assert (kustomization.parent / file.split("=")[-1]).is_file(), f"{kustomization}: {file}"


KUBECTL = shutil.which("kubectl")


def kustomize(folder: str) -> list[Doc]:
    assert KUBECTL
    out = subprocess.run([KUBECTL, "kustomize", str(DEPLOY / folder)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kubectl kustomize) is not installed")
@pytest.mark.parametrize(("folder", "kinds"), [
    ("base", {"Deployment"}),
    ("overlays/daemonset", {"DaemonSet"}),
    ("overlays/sharded", {"StatefulSet"}),
])
def test_each_mode_builds_with_exactly_its_workload_kind(folder: str, kinds: set[str]) -> None:
    built = kustomize(folder)
    assert {d["kind"] for d in built} & WORKLOAD_KINDS == kinds
    configmaps = {d["metadata"]["name"] for d in built if d["kind"] == "ConfigMap"}
    for d in built:
        assert d["kind"] in {"Namespace", "ClusterRole", "ClusterRoleBinding"} or \
            d["metadata"]["namespace"] == "gpucost", d["metadata"]["name"]
        if d["kind"] in WORKLOAD_KINDS:
            volumes = d["spec"]["template"]["spec"]["volumes"]
            names = {v["configMap"]["name"] for v in volumes if "configMap" in v}
            assert names and names <= configmaps, "the pricing ConfigMap's hashed name was not substituted"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kubectl kustomize) is not installed")
def test_prometheus_operator_builds() -> None:
    kinds = sorted(d["kind"] for d in kustomize("prometheus-operator"))
    assert kinds == ["ConfigMap"] * len(DASHBOARDS) + ["PrometheusRule", "ServiceMonitor"]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kubectl kustomize) is not installed")
def test_billing_export_component_feeds_the_exporter_a_copied_export() -> None:
    """examples/billing-export-s3: deploy/base with deploy/components/billing-export-s3."""
    built = kustomize("../examples/billing-export-s3")
    (deployment,) = [d for d in built if d["kind"] == "Deployment"]
    exporter, sync = containers(deployment)
    assert parse_args(expand_args(exporter)).billing_export == "/var/lib/gpucost/billing"
    (read,) = [m for m in exporter["volumeMounts"] if m["mountPath"] == "/var/lib/gpucost/billing"]
    (write,) = [m for m in sync["volumeMounts"] if m["mountPath"] == "/var/lib/gpucost/billing"]
    assert read["readOnly"] is True and not write.get("readOnly") and read["name"] == write["name"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[write["name"]]
    # copies the configured URI with --delete, so refreshes S3 dropped go locally too
    assert 'aws s3 sync "$BILLING_EXPORT_S3_URI" /var/lib/gpucost/billing --delete' in sync["args"][0]
    configmaps = {d["metadata"]["name"]: d for d in built if d["kind"] == "ConfigMap"}
    (source,) = sync["envFrom"]
    data = configmaps[source["configMapRef"]["name"]]["data"]  # the generated, hashed name
    assert data["BILLING_EXPORT_S3_URI"].startswith("s3://") and int(data["BILLING_EXPORT_SYNC_SECONDS"]) > 0
    # locked down like the exporter, its CLI cache on a writable mount
    sc = sync["securityContext"]
    assert (sc["readOnlyRootFilesystem"], sc["allowPrivilegeEscalation"], sc["capabilities"]) == (
        True, False, {"drop": ["ALL"]})
    assert {"requests", "limits"} <= set(sync["resources"])
    home = {e["name"]: e.get("value") for e in sync["env"]}["HOME"]
    assert home in {m["mountPath"] for m in sync["volumeMounts"]}


# --- RBAC -------------------------------------------------------------------------------------


def test_cluster_role_grants_exactly_get_list_watch_on_the_watched_resources() -> None:
    from gpucost.kubeapi import DRA_VERSIONS, RESOURCES, dra_resources

    roles = [d for _, d in manifests() if d["kind"] in {"ClusterRole", "Role"}]
    assert [r["metadata"]["name"] for r in roles] == ["gpucost"]
    granted = set()
    for rule in roles[0]["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule
        granted |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    # Every collection the watcher can watch, at every DRA version: /api/v1/pods -> ("", pods),
    # /apis/resource.k8s.io/v1/resourceslices -> ("resource.k8s.io", resourceslices).
    watched = list(RESOURCES.values()) + [r for v in DRA_VERSIONS for r in dra_resources(v)]
    groups = {("" if r.path.startswith("/api/") else r.path.split("/")[2], r.name) for r in watched}
    assert groups == {("", "nodes"), ("", "pods"), ("", "namespaces"), ("apps", "replicasets"), ("batch", "jobs"),
                      ("resource.k8s.io", "resourceclaims"), ("resource.k8s.io", "resourceslices")}
    assert granted == {(g, r, v) for g, r in groups for v in ("get", "list", "watch")}


def test_cluster_role_binding_binds_the_workloads_service_account() -> None:
    (binding,) = [d for _, d in manifests() if d["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gpucost"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gpucost", "namespace": "gpucost"}]
    for _, workload in WORKLOADS:
        assert workload["spec"]["template"]["spec"]["serviceAccountName"] == "gpucost"


# --- Workloads: flags, ports, probes, security --------------------------------------------------


@pytest.mark.parametrize(("name", "workload"), WORKLOADS, ids=WORKLOAD_IDS)
def test_container_args_parse_with_the_exporters_parser(name: str, workload: Doc) -> None:
    for container in containers(workload):
        try:
            args = parse_args(expand_args(container))
        except UsageError as exc:
            pytest.fail(f"{name}: {exc}")
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert args.pricing_file == "/etc/gpucost/pricing.yaml"
        assert str(Path(args.pricing_file).parent) in mounts


def test_pricing_file_is_valid() -> None:
    config = load_pricing(str(DEPLOY / "base" / "pricing.yaml"))
    assert config.currency == "USD"


@pytest.mark.parametrize(("name", "workload"), WORKLOADS, ids=WORKLOAD_IDS)
def test_ports_and_probes_match_the_default_listen_address(name: str, workload: Doc) -> None:
    for container in containers(workload):
        assert parse_args(expand_args(container)).listen == DEFAULT_LISTEN
        assert container["ports"] == [{"name": "http-metrics", "containerPort": DEFAULT_PORT, "protocol": "TCP"}]
        for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                            ("startupProbe", "/healthz")]:
            assert container[probe]["httpGet"] == {"path": path, "port": "http-metrics"}, probe


def test_service_and_service_monitor_use_the_metrics_port() -> None:
    (service,) = [d for _, d in manifests() if d["kind"] == "Service"]
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": DEFAULT_PORT, "targetPort": "http-metrics", "protocol": "TCP"}]
    for _, workload in WORKLOADS:
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
    (monitor,) = [d for _, d in manifests() if d["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http-metrics"
    assert endpoint["honorLabels"] is True


@pytest.mark.parametrize(("name", "workload"), WORKLOADS, ids=WORKLOAD_IDS)
def test_workloads_run_locked_down(name: str, workload: Doc) -> None:
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == RUN_AS_USER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in containers(workload):
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert {"requests", "limits"} <= set(container["resources"])
        assert container["image"].endswith(f":{__version__}"), "image tag differs from the package version"


def test_base_runs_one_replica_that_is_never_doubled() -> None:
    (deployment,) = [d for _, d in manifests() if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_sharded_statefulset_serves_every_shard_once() -> None:
    (sts,) = [d for _, d in manifests() if d["kind"] == "StatefulSet"]
    (container,) = containers(sts)
    (shard_env,) = [e for e in container["env"] if e["name"] == "SHARD"]
    assert shard_env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    replicas = sts["spec"]["replicas"]
    shards = set()
    for ordinal in range(replicas):
        fields = {**FIELD_SAMPLES, shard_env["valueFrom"]["fieldRef"]["fieldPath"]: str(ordinal)}
        args = parse_args(expand_args(container, fields))
        assert args.total_shards == replicas
        shards.add(args.shard)
    assert shards == set(range(replicas))


def test_daemonsets_cost_one_node_each_and_read_nvml_on_nvidia_nodes() -> None:
    daemonsets = [d for _, d in manifests() if d["kind"] == "DaemonSet"]
    nvml = []
    for ds in daemonsets:
        (container,) = containers(ds)
        (node_env,) = [e for e in container["env"] if e["name"] == "NODE_NAME"]
        assert node_env["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
        args = parse_args(expand_args(container))
        assert args.node_name == FIELD_SAMPLES["spec.nodeName"]
        assert ds["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] == 0
        if args.nvml:
            nvml.append(ds)
            pod = ds["spec"]["template"]["spec"]
            assert pod["runtimeClassName"] == "nvidia"
            assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"} in container["env"]
    assert len(nvml) == 1 and len(daemonsets) == 2


def test_daemonset_affinities_split_the_nodes() -> None:
    """The NVML DaemonSet's terms (OR of In) and the other's (AND of NotIn) are complements."""
    terms: dict[bool, list[list[Doc]]] = {}
    for _, ds in manifests():
        if ds["kind"] == "DaemonSet":
            affinity = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
            selector = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            nvml = "--nvml" in containers(ds)[0]["args"]
            terms[nvml] = [[e for e in t["matchExpressions"] if e["key"] != "kubernetes.io/os"] for t in selector]
    gpu_terms = terms[True]
    (other,) = terms[False]
    assert all(len(t) == 1 and t[0]["operator"] == "In" for t in gpu_terms)
    assert sorted((e["key"], e["values"]) for e in other) == sorted((t[0]["key"], t[0]["values"]) for t in gpu_terms)
    assert {e["operator"] for e in other} == {"NotIn"}


# --- Image ----------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_runs_the_exporter_as_non_root_on_the_default_port() -> None:
    instructions = dockerfile_instructions()
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in instructions
    assert [arg for op, arg in instructions if op == "FROM"] == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    assert ("EXPOSE", str(DEFAULT_PORT)) in instructions
    assert ("USER", f"{RUN_AS_USER}:{RUN_AS_USER}") in instructions
    assert ("ENTRYPOINT", '["gpucost-exporter"]') in instructions
    # The demo is package data (issue 14): the image needs no variable to find it.
    assert not any("GPUCOST_DEMO_DIR" in arg for _, arg in instructions)


def test_dockerfile_copies_only_what_dockerignore_lets_through() -> None:
    allowed = [line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for op, arg in dockerfile_instructions():
        if op != "COPY" or arg.startswith("--from"):
            continue
        for source in arg.split()[:-1]:
            assert (REPO / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), \
                f"{source} is excluded by .dockerignore"


# --- Generated files ------------------------------------------------------------------------


def test_rendered_prometheus_operator_files_are_current() -> None:
    out = subprocess.run([sys.executable, str(DEPLOY / "render.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_dashboards_are_generated_from_generate_py() -> None:
    pytest.importorskip("grafana_foundation_sdk", reason="needs the dashboards extra")
    out = subprocess.run([sys.executable, str(REPO / "dashboards" / "generate.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def prometheus_rule_groups() -> list[Doc]:
    (rule,) = docs(DEPLOY / "prometheus-operator" / "prometheusrule.yaml")
    assert rule["kind"] == "PrometheusRule"
    return list(rule["spec"]["groups"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_prometheus_rule(tmp_path: Path) -> None:
    rules = tmp_path / "gpucost.yml"
    rules.write_text(yaml.safe_dump({"groups": prometheus_rule_groups()}, sort_keys=False))
    out = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --- Dashboards -----------------------------------------------------------------------------


def load_dashboard(path: Path) -> Doc:
    return json.loads(path.read_text())


def all_panels(board: Doc) -> Iterator[Doc]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exporter_metrics() -> tuple[set[str], set[str]]:
    """Metric names the docs list, and the prefixes the README's metric table lists with a
    wildcard (`gpucost_watch_*`). Wildcards in prose ("the `gpucost_pod_*` families") name no
    metric."""
    text = (REPO / "docs" / "CONTRACT.md").read_text() + (REPO / "README.md").read_text()
    names = set(re.findall(r"\b(gpucost_[a-z0-9_]*[a-z0-9])\b(?!_?\*)", text))
    table = "\n".join(line for line in text.splitlines() if line.startswith("|"))
    prefixes = set(re.findall(r"`(gpucost_[a-z0-9_]+)\*`", table))
    return names, prefixes


def recording_rules() -> set[str]:
    rules = yaml.safe_load((REPO / "rules" / "gpucost.rules.yml").read_text())
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                   "unless", "offset", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (as Grafana sends it, with $variables)."""
    label_values = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if label_values:
        expr = label_values.group(1)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # string literals
    expr = re.sub(r"\$\{[^}]*\}|\$\w+", "1", expr)           # Grafana variables
    expr = re.sub(r"\{[^}]*\}", "", expr)                   # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", expr):
        if match.group(2) is None and match.group(1) not in PROMQL_KEYWORDS:
            names.add(match.group(1))
    return names


def dashboard_queries(board: Doc) -> Iterator[tuple[str, str]]:
    for panel in all_panels(board):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r}", target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query


def test_promql_metric_name_extraction() -> None:
    expr = ('topk(10, sum by (team) (label_replace(team_resource:x:sum{resource="gpu", team=~"$team"}, '
            '"team", "(none)", "team", ""))) / scalar(count_over_time(cluster:p[$__range])) * $__range_s / 3600'
            " * on (node) group_left (gpu_model) max without (instance) (gpucost_node_info) offset 1d")
    assert promql_metric_names(expr) == {"team_resource:x:sum", "cluster:p", "gpucost_node_info"}
    assert promql_metric_names('label_values(workload:y{namespace=~"$namespace"}, owner_name)') == {"workload:y"}


def test_dashboard_set() -> None:
    titles = {load_dashboard(p)["title"] for p in DASHBOARDS}
    assert {"gpucost / Overview", "gpucost / Workloads"} <= titles


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_model(path: Path) -> None:
    text = path.read_text()
    board = json.loads(text)
    assert "__inputs" not in board and "${DS_" not in text
    for key in ("uid", "title", "tags", "schemaVersion", "refresh", "time", "description"):
        assert board.get(key), key
    assert "currency" in board["description"]
    variables = board["templating"]["list"]
    assert variables[0] == {**variables[0], "name": "datasource", "type": "datasource", "query": "prometheus"}
    ids = [p["id"] for p in all_panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in all_panels(board):
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]
        units = {panel["fieldConfig"]["defaults"].get("unit")} | {
            p["value"] for o in panel["fieldConfig"]["overrides"] for p in o["properties"] if p["id"] == "unit"}
        assert units <= {"currencyUSD", "percentunit", "none", "s"}, (panel["title"], units)
    for variable in variables[1:]:
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_name_only_exported_series_and_recording_rules(path: Path) -> None:
    names, prefixes = exporter_metrics()
    known = names | recording_rules()
    unknown = {
        (where, name)
        for where, expr in dashboard_queries(load_dashboard(path))
        for name in promql_metric_names(expr)
        if name not in known and not any(name.startswith(p) for p in prefixes)
    }
    assert not unknown


#: Exported series a recording rule already aggregates: dashboards read the rule instead.
COVERED_BY_RULES = {"gpucost_pod_cpu_cost_per_hour", "gpucost_pod_memory_cost_per_hour",
                    "gpucost_pod_gpu_reserved_cost_per_hour", "gpucost_node_cost_per_hour"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_read_recording_rules_where_they_exist(path: Path) -> None:
    used = {name for _, expr in dashboard_queries(load_dashboard(path)) for name in promql_metric_names(expr)}
    assert not used & COVERED_BY_RULES
    assert used & recording_rules()


#: What Grafana puts in for the variables: a one-hour range, "All" everywhere.
GRAFANA_VARIABLES = {"$__range_s": "3600", "$__range": "1h", "$namespace": ".*", "$team": ".*", "$owner": ".*"}


def grafana_expand(expr: str) -> str:
    label_values = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if label_values:
        expr = label_values.group(1)
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert "$" not in expr, f"unexpanded variable in {expr}"
    return expr


@pytest.mark.prometheus
def test_every_dashboard_query_parses_in_prometheus(tmp_path: Path) -> None:
    """A bare Prometheus (no targets) answers every query: a syntax error is an HTTP 400."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("the prometheus binary is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "prometheus.yml").write_text("global: {}\n")
    proc = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=5).close()  # noqa: S310 (loopback)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "Prometheus did not start"
                time.sleep(0.5)
        errors = []
        for path in DASHBOARDS:
            for where, expr in dashboard_queries(load_dashboard(path)):
                query = urllib.parse.urlencode({"query": grafana_expand(expr)})
                try:
                    urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10).close()  # noqa: S310
                except urllib.error.HTTPError as exc:
                    errors.append(f"{path.name} {where}: {json.load(exc)['error']}")
        assert not errors, "\n".join(errors)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

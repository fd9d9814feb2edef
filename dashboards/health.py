"""The overview's last rows: where the prices come from, and the exporter's own health.

Users compare gpucost's numbers with their bill; these panels say how far each node's price can
be trusted (its own billing rows, its instance type's, the catalog, a rule, or the default unit
prices), whether the last reload of the pricing file and billing export worked, whether the
export was read complete, and how current it is.
"""

from __future__ import annotations

from panels import Grid, Units, info_stat, stat_panel  # dashboards/ is on sys.path as a script


def prices_row(grid: Grid, units: Units) -> None:
    grid.row("Prices")
    grid.add(stat_panel(
        "Nodes by price source",
        "How many nodes each source prices (docs/pricing.md, precedence): billing (the node's own "
        "rows of the billing export), billing_sku (its instance type's rows), node_rule, "
        "instance_type, catalog, default (the unit prices: no price found).",
        # max by node: an HA pair or shards report a node more than once
        "count by (price_source) (max by (node, price_source) (gpucost_node_info))", units.count,
        "{{price_source}}"), w=8, h=4)
    grid.add(stat_panel(
        "Billing export age",
        "Time since the latest compute charge in the billing export ends: the export is refreshed "
        "daily, so days mean its copy has stopped (alert GpucostBillingExportStale). No data: no "
        "billing export.",
        "time() - max(gpucost_billing_export_last_charge_timestamp_seconds > 0)", units.seconds), w=4, h=4)
    grid.add(stat_panel(
        "Pricing reload", "1 when the last (re)load of the pricing file and billing export worked; 0 "
        "while a broken new version is refused and the old prices are kept.",
        "min(gpucost_config_last_reload_successful)", units.count), w=4, h=4)
    grid.add(stat_panel(
        "Billing export files missing",
        "Files a billing export delivery's manifest lists that the directory lacks, and manifests "
        "that cannot be read (alert GpucostBillingExportIncomplete).",
        # max: every replica and shard reads the same export
        'max(gpucost_billing_export_files{state="missing"}) + max(gpucost_billing_export_manifests_unreadable)'
        " or vector(0)", units.count), w=4, h=4)
    grid.add(stat_panel(
        "Nodes at the catalog's nearest region, on-demand or Linux price",
        "Nodes the catalog priced from another region of their type, at on-demand for want of a "
        "spot price, or, Windows nodes, at the Linux price (gpucost_node_price_fallback).",
        "count(max by (node) (gpucost_node_price_fallback == 1)) or vector(0)", units.count), w=4, h=4)


def exporter_row(grid: Grid, units: Units) -> None:
    grid.row("Exporter")
    grid.add(info_stat("Currency", "The one currency of this deployment's prices (pricing file `currency:`).",
                       "max by (currency) (gpucost_pricing_info)", "{{currency}}"), w=4, h=4)
    grid.add(stat_panel("Data age", "Seconds since the least recently updated exporter (shard, node) "
                        "last updated its cost model.",
                        "time() - min(gpucost_last_update_timestamp_seconds)", units.seconds), w=4, h=4)
    grid.add(stat_panel("Objects skipped", "Kubernetes objects left out of the costs (see the alert's runbook).",
                        "sum(gpucost_objects_skipped) or vector(0)", units.count), w=4, h=4)
    grid.add(stat_panel("GPU models at default price",
                        "GPU models with no price of their own, charged at default.gpu_hour.",
                        "count(count by (gpu_model) (gpucost_gpu_price_defaulted == 1)) or vector(0)", units.count), w=4, h=4)
    grid.add(stat_panel("Overcommitted nodes",
                        "Nodes whose reservations exceed allocatable, per resource; their pod costs are scaled down.",
                        "sum by (resource) (gpucost_overcommitted_nodes)", units.count, "{{resource}}"), w=4, h=4)
    grid.add(info_stat("Exporter version", "gpucost_build_info.",
                       "max by (version) (gpucost_build_info)", "{{version}}"), w=4, h=4)

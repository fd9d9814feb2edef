"""Building blocks of gpucost's Grafana dashboards: units, the grid, queries, panels and
variables, with the conventions every dashboard shares (see generate.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, common, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

OUT_DIR = Path(__file__).resolve().parent / "grafana"
GRID_WIDTH = 24
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["gpucost", "cost", "kubernetes"]

#: Node info joined onto per-node queries; `max by` keeps the join one-to-one while two
#: exporter replicas overlap.
NODE_INFO = "max by (node, instance_type, gpu_model) (gpucost_node_info)"
#: What a utilization panel shows without dcgm-exporter data: unknown, never 0 %.
NO_UTILIZATION = "no utilization data"
#: Top-level owners that run to completion: the Job cost table lists these.
BATCH_KINDS = "Job|CronJob|PyTorchJob|TFJob|MPIJob|XGBoostJob|PaddleJob|JAXJob|RayJob|RayCluster|JobSet|Workflow"


def range_spend(series: str, by: str = "") -> str:
    """Spend over the dashboard's time range from an hourly-rate series, read the way the spend
    rules read it: the mean rate over the evaluations at which gpucost data was present (a
    missing series counting as zero), times the hours in the range."""
    grouping = f" by ({by})" if by else ""
    return (
        f"sum{grouping} (sum_over_time({series}[$__range]))"
        " / scalar(count_over_time(cluster:gpucost_data:present[$__range])) * $__range_s / 3600"
    )


@dataclass(frozen=True)
class Units:
    """Field units; money follows the deployment's currency."""

    money: str = "currencyUSD"
    ratio: str = "percentunit"
    count: str = "none"
    seconds: str = "s"


@dataclass
class Grid:
    """Places panels left to right on Grafana's 24-column grid and numbers them."""

    x: int = 0
    y: int = 0
    row_height: int = 0
    next_id: int = 1
    panels: list[Builder[dm.Panel] | Builder[dm.RowPanel]] = field(default_factory=list)

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self.newline()
        self.panels.append(
            dash.Row(title).id(self._id()).grid_pos(dm.GridPos(x=0, y=self.y, w=GRID_WIDTH, h=1))
        )
        self.y += 1

    def newline(self) -> None:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0

    def add(self, panel: Builder[dm.Panel], w: int, h: int) -> None:
        if self.x + w > GRID_WIDTH:
            self.newline()
        panel.id(self._id()).grid_pos(dm.GridPos(x=self.x, y=self.y, w=w, h=h))  # type: ignore[attr-defined]
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)
        if self.x == GRID_WIDTH:
            self.newline()


def query(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False,
          as_table: bool = False) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    if instant or as_table:
        q = q.instant()
    if as_table:
        q = q.format(pm.PromQueryFormat.TABLE)
    return q


def stat_panel(title: str, description: str, expr: str, unit: str, legend: str = "") -> stat.Panel:
    return (
        stat.Panel().title(title).description(description).datasource(DATASOURCE)
        .with_target(query(expr, legend, instant=True)).unit(unit)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(cm.BigValueGraphMode.NONE).color_mode(cm.BigValueColorMode.NONE)
    )


def info_stat(title: str, description: str, expr: str, legend: str) -> stat.Panel:
    """A stat that shows a label value (currency, version) rather than a number."""
    return stat_panel(title, description, expr, "none", legend).text_mode(cm.BigValueTextMode.NAME)


def timeseries_panel(title: str, description: str, targets: Sequence[prom.Dataquery], unit: str,
                     *, stacked: bool = False) -> timeseries.Panel:
    panel = (
        timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
        .unit(unit).min(0).fill_opacity(30 if stacked else 10).line_width(1)
        .legend(common.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE)
                .placement(cm.LegendPlacement.RIGHT).show_legend(True)
                .calcs(["mean", "lastNotNull"]).sort_by("Last *").sort_desc(True))
        .tooltip(common.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def top_bars(title: str, description: str, expr: str, legend: str, unit: str) -> bargauge.Panel:
    return (
        bargauge.Panel().title(title).description(description).datasource(DATASOURCE)
        .with_target(query(expr, legend, instant=True)).unit(unit).min(0)
        .orientation(cm.VizOrientation.HORIZONTAL).display_mode(cm.BarGaugeDisplayMode.BASIC)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.CONTINUOUS_BL_YL_RD))
    )


@dataclass(frozen=True)
class Column:
    """One value column of a table: an instant query, its header and unit."""

    header: str
    expr: str
    unit: str
    cell: dict[str, object] | None = None
    #: Text of an empty cell, e.g. NO_UTILIZATION where dcgm-exporter may have no data.
    no_value: str | None = None


def table_panel(title: str, description: str, keys: Sequence[str], columns: Sequence[Column],
                sort_by: str) -> table.Panel:
    """Instant queries, one per column, merged into rows on the `keys` labels."""
    refs = [chr(ord("A") + i) for i in range(len(columns))]
    panel = (
        table.Panel().title(title).description(description).datasource(DATASOURCE)
        .filterable(True).unit(columns[0].unit)
        .sort_by([common.TableSortByFieldState().display_name(sort_by).desc(True)])
        .footer(common.TableFooterOptions().show(False).reducer(["sum"]))
    )
    for ref, column in zip(refs, columns, strict=True):
        panel = panel.with_target(query(column.expr, ref=ref, as_table=True))
    rename = {f"Value #{ref}": column.header for ref, column in zip(refs, columns, strict=True)}
    order = {name: i for i, name in enumerate([*keys, *rename])}
    panel = panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(dm.DataTransformerConfig(id_val="organize", options={
        "excludeByName": {"Time": True},
        "indexByName": order,
        "renameByName": rename,
    }))
    for column in columns:
        props = []
        if column.unit != columns[0].unit:
            props.append(dm.DynamicConfigValue(id_val="unit", value=column.unit))
        if column.cell is not None:
            props.append(dm.DynamicConfigValue(id_val="custom.cellOptions", value=column.cell))
        if column.no_value is not None:
            props.append(dm.DynamicConfigValue(id_val="noValue", value=column.no_value))
        if props:
            panel = panel.override_by_name(column.header, props)
    return panel


#: Colours a budget-ratio cell: green below 80 %, orange to 100 %, red above.
BUDGET_CELL: dict[str, object] = {"type": "color-background", "mode": "basic"}
BUDGET_THRESHOLDS = (
    dash.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
    .steps([dm.Threshold(None, "green"), dm.Threshold(0.8, "orange"), dm.Threshold(1.0, "red")])
)


def datasource_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, title: str, label: str, series: str, description: str) -> dash.QueryVariable:
    """A multi-value variable over the values of `label` on `series`; "All" matches any value,
    the empty one included."""
    return (
        dash.QueryVariable(name).label(title).description(description).datasource(DATASOURCE)
        .query(f"label_values({series}, {label})")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True).include_all(True).all_value(".*")
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


def currency_note(units: Units) -> str:
    return (
        f"Money is shown with the Grafana unit {units.money}. gpucost reports one currency per "
        "deployment, set by `currency:` in the pricing file and visible in "
        "gpucost_pricing_info{currency}; for another currency regenerate the dashboards with "
        "`python dashboards/generate.py --currency EUR` (or change the unit)."
    )


def build_dashboard(uid: str, title: str, description: str, grid: Grid,
                    variables: Iterable[Builder[dm.VariableModel]]) -> dash.Dashboard:
    board = (
        dash.Dashboard(title).uid(uid).description(description).tags(TAGS)
        .time("now-7d", "now").refresh("5m").timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .annotation(dash.AnnotationQuery().name("Annotations & Alerts").built_in(1).enable(True).hide(True)
                    .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
                    .icon_color("rgba(0, 211, 255, 1)").type("dashboard"))
        .link(dash.DashboardLink("gpucost").type(dm.DashboardLinkType.DASHBOARDS).tags(["gpucost"])
              .as_dropdown(True).include_vars(False).keep_time(True))
    )
    for variable in variables:
        board = board.with_variable(variable)
    for panel in grid.panels:
        if isinstance(panel, dash.Row):
            board = board.with_row(panel)
        else:
            board = board.with_panel(panel)  # type: ignore[arg-type]
    return board



"""From sums of samples to the report's rows: money, idle handling, sorting, `--top`, totals.

Idle cost (`gpucost_node_idle_cost_per_hour`, what nodes cost that no pod reserved) is:

- `separate`: a row per cluster whose other columns read `__idle__`;
- `shared`: spread over the rows per resource, in proportion to each row's cost of that
  resource within its cluster (a row with 30% of a cluster's CPU cost takes 30% of its idle
  CPU). When a filter hides part of the cluster, the proportions are of the whole cluster's
  cost, so filtered rows take only their own share. Idle of a resource no pod paid for in the
  period (GPU nodes without GPU pods) cannot be shared and stays in an `__idle__` row;
- `hidden`: left out (the totals are then what pods reserved).

Unused GPU cost (`unused_gpu`) is the part of the reserved GPU cost that the utilization rules
measured as unused. It is None (an empty cell) on rows without utilization data, idle rows
included, and the whole column is absent (`Report.unused_step_s` None) when the rules recorded
nothing in the period. Sharing idle does not change it: idle is not reserved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .dimensions import OTHER, Dimensions
from .period import Period
from .spend import RESOURCES, Sums

IdleMode = Literal["separate", "shared", "hidden"]
RowKind = Literal["pods", "idle", "other", "total"]
#: Money columns (currency) and the GPU-hours column, in output order.
MONEY = ("cpu", "memory", "gpu", "total")
SORT_KEYS = ("total", "cpu", "memory", "gpu", "gpu_hours", "unused_gpu", "name")


@dataclass
class Row:
    """One line of the report. Money in the report's currency; GPU-hours in physical-GPU
    hours reserved (None where it does not apply: idle rows); unused GPU cost in currency
    (None where no utilization data was recorded)."""

    labels: tuple[str, ...]
    kind: RowKind
    cpu: float = 0.0
    memory: float = 0.0
    gpu: float = 0.0
    gpu_hours: float | None = 0.0
    unused_gpu: float | None = None

    @property
    def total(self) -> float:
        return self.cpu + self.memory + self.gpu

    def value(self, column: str) -> float | None:
        return self.total if column == "total" else getattr(self, column)  # type: ignore[no-any-return]

    def add(self, other: Row) -> None:
        self.cpu += other.cpu
        self.memory += other.memory
        self.gpu += other.gpu
        if other.gpu_hours is not None:
            self.gpu_hours = (self.gpu_hours or 0.0) + other.gpu_hours
        if other.unused_gpu is not None:
            self.unused_gpu = (self.unused_gpu or 0.0) + other.unused_gpu


@dataclass
class Report:
    """A finished report: rows in display order and their totals."""

    period: Period
    columns: tuple[str, ...]
    currency: str
    step_s: float
    idle: IdleMode
    rows: list[Row]
    totals: Row
    #: Share (0..1) of the period's scrapes for which gpucost reported, in the cluster that
    #: reported least (gaps lower it; several shards of one cluster add up, capped at 1).
    coverage: float
    source: str
    #: Seconds each unused-GPU sample stands for (the utilization rules' evaluation
    #: interval); None when the rules recorded nothing in the period: no unused_gpu column.
    unused_step_s: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Shaping:
    """How rows are arranged: idle mode, sort column, `--top N` (None: all rows)."""

    idle: IdleMode = "separate"
    sort: str = "total"
    top: int | None = None


def build_report(sums: Sums, dims: Dimensions, period: Period, step_s: float, shaping: Shaping,
                 currency: str, source: str, unused_step_s: float | None = None) -> Report:
    """Turn sums of samples into money: each cost sample stands for `step_s` seconds, each
    unused-GPU sample for `unused_step_s` (None: no unused_gpu column)."""
    hours = step_s / 3600.0
    by_key = {key: Row(key, "pods", cpu=cols.get("cpu", 0.0) * hours,
                       memory=cols.get("memory", 0.0) * hours, gpu=cols.get("gpu", 0.0) * hours,
                       gpu_hours=cols.get("gpu_hours", 0.0) * hours)
              for key, cols in sums.pods.items()}
    if unused_step_s is not None:
        for key, value in sums.unused.items():
            # A key with unused samples but no cost sample in the period (a pod's last rule
            # evaluation falls just after its last scrape) still gets its row.
            row = by_key.setdefault(key, Row(key, "pods"))
            row.unused_gpu = value * unused_step_s / 3600.0
    rows = list(by_key.values())
    idle = {cluster: {r: cols.get(r, 0.0) * hours for r in RESOURCES}
            for cluster, cols in sums.idle.items()}
    idle_rows: list[Row] = []
    if shaping.idle == "separate":
        idle_rows = _idle_rows(idle, dims)
    elif shaping.idle == "shared":
        denominators = ({c: {r: v * hours for r, v in cols.items()}
                         for c, cols in sums.cluster_pods.items()} if sums.cluster_pods else None)
        idle_rows = _share_idle(rows, idle, dims, denominators)

    rows = _sorted(rows, shaping.sort)
    if shaping.top is not None and len(rows) > shaping.top:
        rest = Row(tuple(OTHER for _ in dims.columns), "other")
        for row in rows[shaping.top:]:
            rest.add(row)
        rows = [*rows[:shaping.top], rest]
    rows += _sorted(idle_rows, "name")

    totals = Row(tuple("" for _ in dims.columns), "total")
    for row in rows:
        totals.add(row)
    step_samples = period.seconds / step_s if step_s else 0.0
    covered = min(sums.covered.values(), default=0.0)
    coverage = min(1.0, covered / step_samples) if step_samples else 0.0
    return Report(period, dims.columns, currency, step_s, shaping.idle, rows, totals,
                  coverage, source, unused_step_s)


def _idle_rows(idle: Mapping[str, Mapping[str, float]], dims: Dimensions) -> list[Row]:
    by_key: dict[tuple[str, ...], Row] = {}
    for cluster, cols in idle.items():
        key = dims.idle_key(cluster)
        row = by_key.setdefault(key, Row(key, "idle", gpu_hours=None))
        row.add(Row(key, "idle", cols["cpu"], cols["memory"], cols["gpu"], gpu_hours=None))
    return list(by_key.values())


def _share_idle(rows: list[Row], idle: Mapping[str, Mapping[str, float]], dims: Dimensions,
                denominators: Mapping[str, Mapping[str, float]] | None) -> list[Row]:
    """Add each row's share of its cluster's idle cost to it; return what could not be
    shared as idle rows. Without a `cluster` column every cluster is one pool."""
    pooled = "cluster" not in dims.columns
    at = dims.columns.index("cluster") if not pooled else -1

    def pool(cluster: str) -> str:
        return "" if pooled else cluster

    pool_idle: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for cluster, cols in idle.items():
        for r, v in cols.items():
            pool_idle[pool(cluster)][r] += v
    cost: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    if denominators is not None:
        for cluster, cols in denominators.items():
            for r, v in cols.items():
                cost[pool(cluster)][r] += v
    else:
        for row in rows:
            for r in RESOURCES:
                cost[pool(row.labels[at] if at >= 0 else "")][r] += getattr(row, r)

    for row in rows:
        p = pool(row.labels[at]) if at >= 0 else ""
        for r in RESOURCES:
            if cost[p][r] > 0:
                setattr(row, r, getattr(row, r) * (1 + pool_idle[p][r] / cost[p][r]))

    unshared = {c: {r: (v if cost[c][r] <= 0 else 0.0) for r, v in cols.items()}
                for c, cols in pool_idle.items()}
    return [row for row in _idle_rows(unshared, dims) if row.total > 0]


def _sorted(rows: list[Row], column: str) -> list[Row]:
    if column == "name":
        return sorted(rows, key=lambda r: r.labels)
    return sorted(rows, key=lambda r: (-(r.value(column) or 0.0), r.labels))

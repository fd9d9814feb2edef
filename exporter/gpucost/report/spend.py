"""Spend over a period, integrated from gpucost's raw series in Prometheus.

Every cost series is a rate (currency per hour) sampled once per scrape. A sample stands for
the scrape interval that starts with it, so a period's spend is

    sum over the samples taken in [start, end) of  rate x step / 3600 s

with `step` the scrape interval. Prometheus does the sum (`sum_over_time` reads raw samples,
never interpolated ones); the report multiplies by the step at the end. Missing samples
(gpucost or Prometheus down) add nothing: a gap is missing spend, not filled in.

Long periods are read in chunks (default one day), each an instant query whose range covers
exactly the chunk's samples. Whether a range includes a sample lying exactly on its start
differs between engines (Prometheus 2.x: yes; 3.x: no), so the engine is asked once and each
range is sized to match; samples on a chunk boundary are counted once. A chunk the server
refuses for its size is split in halves and retried.

Unused GPU cost comes from a recording rule (gpucost.utilization), whose samples are spaced by
the rule group's evaluation interval, not the scrape interval: its sums are kept apart, read
by their own queries (split on refusal on their own) and multiplied by their own step.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .dimensions import Dimensions, Matcher, selector
from .promapi import PrometheusClient, PrometheusError, QueryTooLarge

#: The pod cost series by report column.
POD_COST = {
    "cpu": "gpucost_pod_cpu_cost_per_hour",
    "memory": "gpucost_pod_memory_cost_per_hour",
    "gpu": "gpucost_pod_gpu_reserved_cost_per_hour",
}
GPU_RESERVED = "gpucost_pod_gpu_reserved"
NODE_IDLE = "gpucost_node_idle_cost_per_hour"
NODE_INFO = "gpucost_node_info"
PRICING_INFO = "gpucost_pricing_info"
#: Unused reserved GPU cost per pod (currency per hour), recorded by the utilization rules.
UNUSED_GPU = "pod:gpucost_pod_gpu_unused_cost_per_hour:sum"
#: Its sum per cluster, recorded at the same evaluations: presence and evaluation interval.
UNUSED_GPU_CLUSTER = "cluster:gpucost_pod_gpu_unused_cost_per_hour:sum"
RESOURCES = tuple(POD_COST)

K = TypeVar("K")

#: Chunks are split no finer than this when the server refuses them (milliseconds).
MIN_CHUNK_MS = 10 * 60 * 1000
#: Window of raw samples read to detect the scrape interval (milliseconds).
STEP_WINDOW_MS = 3600 * 1000
#: Idle rows' filter: only these labels exist on the node series.
NODE_LABELS = frozenset({"node", "cluster"})


class NoData(PrometheusError):
    """No gpucost series in the period."""


@dataclass
class Sums:
    """Sums of raw samples (not yet multiplied by the step), per row key and column."""

    pods: dict[tuple[str, ...], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    idle: dict[str, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    cluster_pods: dict[str, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    currencies: set[str] = field(default_factory=set)
    #: Samples of gpucost_pricing_info per cluster (all exporters of the cluster added up).
    covered: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: Sums of UNUSED_GPU samples per row key (rule evaluations, not scrapes).
    unused: dict[tuple[str, ...], float] = field(default_factory=lambda: defaultdict(float))
    #: Samples of UNUSED_GPU_CLUSTER: > 0 when the utilization rules recorded in the period.
    unused_samples: float = 0.0

    def merge(self, other: Sums) -> None:
        _add(self.pods, other.pods)
        _add(self.idle, other.idle)
        _add(self.cluster_pods, other.cluster_pods)
        self.currencies |= other.currencies
        for cluster, samples in other.covered.items():
            self.covered[cluster] += samples
        for key, value in other.unused.items():
            self.unused[key] += value
        self.unused_samples += other.unused_samples

    @property
    def has_unused(self) -> bool:
        """Whether the utilization rules recorded anything in the period."""
        return self.unused_samples > 0 or bool(self.unused)

    @property
    def empty(self) -> bool:
        return not (self.pods or self.idle or self.currencies)


@dataclass(frozen=True)
class SpendQuery:
    """What to read: grouping, filter, and whether unfiltered cluster totals are needed
    (to share idle cost in proportion when a filter hides part of the cluster)."""

    dims: Dimensions
    matchers: tuple[Matcher, ...] = ()
    cluster_totals: bool = False


Progress = Callable[[int, int], None]


def range_start_inclusive(client: PrometheusClient, now_s: float) -> bool:
    """Ask the engine whether a range selector includes a sample exactly on its start.

    `count_over_time(vector(1)[2s:1s])` at a whole second sees the points at -2s, -1s and 0s
    when the start is included (Prometheus 2.x) and two points when it is not (3.x).
    """
    at = float(int(now_s) - 10)
    result = client.query("count_over_time(vector(1)[2s:1s])", at)
    count = float(result[0]["value"][1]) if result else 0.0
    if count not in (2.0, 3.0):
        raise PrometheusError(f"{client.base}: cannot tell how the query engine bounds ranges "
                              f"(count_over_time(vector(1)[2s:1s]) = {count:g})")
    return count == 3.0


class Integrator:
    """Runs the chunked queries for one report and adds their results up."""

    def __init__(self, client: PrometheusClient, query: SpendQuery, *, inclusive_start: bool,
                 chunk_ms: int, progress: Progress | None = None) -> None:
        self.client = client
        self.q = query
        self.inclusive_start = inclusive_start
        self.chunk_ms = chunk_ms
        self.progress = progress
        #: The last chunk that had gpucost data, for the step detection.
        self.last_data_chunk: tuple[int, int] | None = None
        #: The last chunk in which the utilization rules recorded, for their step.
        self.last_unused_chunk: tuple[int, int] | None = None
        #: How many chunks the server refused for their size (each was split in two).
        self.splits = 0

    def run(self, start_ms: int, end_ms: int) -> Sums:
        """Sum every column over [start_ms, end_ms)."""
        total = Sums()
        a = start_ms
        while a < end_ms:
            b = min(a + self.chunk_ms, end_ms)
            total.merge(self._chunk(a, b, self._query_chunk))
            total.merge(self._chunk(a, b, self._query_unused))
            if self.progress is not None:
                self.progress(b - start_ms, end_ms - start_ms)
            a = b
        return total

    def _chunk(self, a: int, b: int, query: Callable[[int, int], Sums]) -> Sums:
        """query(a, b), or, when the server refuses it for its size, the sum of its halves."""
        try:
            return query(a, b)
        except QueryTooLarge:
            if b - a <= MIN_CHUNK_MS:
                raise
            self.splits += 1
            mid = a + (b - a) // 2
            sums = self._chunk(a, mid, query)
            sums.merge(self._chunk(mid, b, query))
            return sums

    def _range(self, a: int, b: int) -> tuple[str, float]:
        """The `[...]` range and the evaluation time that select exactly the samples in [a, b).

        Evaluated at b - 1 ms: with an inclusive start the range is b - a - 1 ms ([a, b-1]);
        with an exclusive one it is b - a ((a-1, b-1]). Both are [a, b) in milliseconds.
        """
        width = b - a - (1 if self.inclusive_start else 0)
        return f"[{width}ms]", (b - 1) / 1000.0

    def _pod_cost_expr(self, rng: str, matchers: Sequence[Matcher], by: Sequence[str]) -> str:
        parts = [f'label_replace(sum_over_time({selector(metric, matchers)}{rng}), '
                 f'"resource", "{resource}", "", "")'
                 for resource, metric in POD_COST.items()]
        return f"sum by ({', '.join([*by, 'resource'])}) ({' or '.join(parts)})"

    def _query_chunk(self, a: int, b: int) -> Sums:
        rng, at = self._range(a, b)
        q, sums = self.q, Sums()
        labels = q.dims.query_labels()

        node_model: dict[tuple[str, str], str] = {}
        if q.dims.needs_node_model:
            node_model = self._node_models(rng, at)

        for r in self.client.query(self._pod_cost_expr(rng, q.matchers, labels), at):
            key = q.dims.key(r["metric"], node_model)
            sums.pods[key][r["metric"].get("resource", "")] += _value(r)
        gpus = f"sum by ({', '.join(labels)}) (sum_over_time({selector(GPU_RESERVED, q.matchers)}{rng}))"
        for r in self.client.query(gpus, at):
            sums.pods[q.dims.key(r["metric"], node_model)]["gpu_hours"] += _value(r)

        node_matchers = [m for m in q.matchers if m.label in NODE_LABELS]
        idle = (f"sum by (cluster, resource) "
                f"(sum_over_time({selector(NODE_IDLE, node_matchers)}{rng}))")
        for r in self.client.query(idle, at):
            sums.idle[r["metric"].get("cluster", "")][r["metric"].get("resource", "")] += _value(r)

        if q.cluster_totals:
            for r in self.client.query(self._pod_cost_expr(rng, (), ["cluster"]), at):
                cluster = r["metric"].get("cluster", "")
                sums.cluster_pods[cluster][r["metric"].get("resource", "")] += _value(r)

        pricing = f"sum by (cluster, currency) (count_over_time({PRICING_INFO}{rng}))"
        for r in self.client.query(pricing, at):
            sums.currencies.add(r["metric"].get("currency", ""))
            sums.covered[r["metric"].get("cluster", "")] += _value(r)
        if sums.currencies:
            self.last_data_chunk = (a, b)
        return sums

    def _query_unused(self, a: int, b: int) -> Sums:
        """Unused GPU cost of [a, b) by row key, and whether the rules recorded at all (the
        cluster series, unfiltered: a filter that matches no GPU pod still shows the column)."""
        rng, at = self._range(a, b)
        q, sums = self.q, Sums()
        labels = q.dims.query_labels()
        node_model = self._node_models(rng, at) if q.dims.needs_node_model else {}
        expr = f"sum by ({', '.join(labels)}) (sum_over_time({selector(UNUSED_GPU, q.matchers)}{rng}))"
        for r in self.client.query(expr, at):
            sums.unused[q.dims.key(r["metric"], node_model)] += _value(r)
        for r in self.client.query(f"sum(count_over_time({UNUSED_GPU_CLUSTER}{rng}))", at):
            sums.unused_samples += _value(r)
        if sums.has_unused:
            self.last_unused_chunk = (a, b)
        return sums

    def _node_models(self, rng: str, at: float) -> dict[tuple[str, str], str]:
        """(cluster, node) -> the GPU model the node reported in most samples of the chunk."""
        expr = f"max by (cluster, node, gpu_model) (count_over_time({NODE_INFO}{rng}))"
        best: dict[tuple[str, str], tuple[float, str]] = {}
        for r in self.client.query(expr, at):
            m = r["metric"]
            node = (m.get("cluster", ""), m.get("node", ""))
            candidate = (_value(r), m.get("gpu_model", ""))
            if node not in best or candidate > best[node]:
                best[node] = candidate
        return {node: model for node, (_, model) in best.items()}

    def detect_step_s(self) -> float | None:
        """The scrape interval of gpucost in seconds: the median spacing of
        gpucost_pricing_info's raw samples (one series per exporter), read an hour at a time
        backwards from the end of the last chunk that had data, rounded to a whole second
        (scrape intervals are whole seconds; timestamps jitter by milliseconds).
        """
        return self._median_spacing(PRICING_INFO, self.last_data_chunk)

    def detect_unused_step_s(self) -> float | None:
        """The utilization rules' evaluation interval in seconds, found as the scrape
        interval is, from the raw samples of UNUSED_GPU_CLUSTER (one series per cluster)."""
        return self._median_spacing(UNUSED_GPU_CLUSTER, self.last_unused_chunk)

    def _median_spacing(self, metric: str, chunk: tuple[int, int] | None) -> float | None:
        if chunk is None:
            return None
        a, b = chunk
        while b > a:
            lo = max(a, b - STEP_WINDOW_MS)
            rng, at = self._range(lo, b)
            gaps: list[float] = []
            for r in self.client.query(f"{metric}{rng}", at):
                times = [float(t) for t, _ in r.get("values", [])]
                gaps += [y - x for x, y in zip(times, times[1:], strict=False) if y > x]
            if gaps:
                median = statistics.median(gaps)
                return float(round(median)) if median >= 1 else median
            b = lo
        return None


def _add(into: dict[K, dict[str, float]], other: Mapping[K, Mapping[str, float]]) -> None:
    for key, columns in other.items():
        for column, value in columns.items():
            into[key][column] += value


def _value(result: Mapping[str, Any]) -> float:
    return float(result["value"][1])

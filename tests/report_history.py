"""32 days of gpucost series for the report's end-to-end tests, and the spend they imply.

History: 2025-08-31T00:00Z to 2025-10-02T00:00Z, one sample every 10 minutes (the "scrape
interval" the report must detect), labelled as Thanos or Mimir would show them (`cluster`
from external_labels, `job` and `instance` from the scrape). Two clusters:

prod
  nodes   cpu-1 (no GPU): cpu 0.40/h, memory 0.10/h
          gpu-a (NVIDIA-A100-SXM4-80GB, 8 GPUs): cpu 1.00/h, memory 0.50/h, gpu 8 x 3.20/h
          gpu-b (NVIDIA-L4, 4 GPUs): cpu 0.50/h, memory 0.20/h, gpu 4 x 0.80/h
  pods    web/api-7d9c (Deployment api, team web) on cpu-1 the whole time: cpu 0.10, mem 0.03
          ml-research/train-3d-0 (Job train-3d, team ml) on gpu-a for exactly 3 days,
            2025-09-10T00:00Z to 2025-09-13T00:00Z: 4 GPUs (12.80/h), cpu 0.25, mem 0.125
          ml-serve/infer-5f6b (Deployment infer) on gpu-b the whole time, 1 L4 (0.80/h),
            cpu 0.05, mem 0.02; its team label changes from ml to serving at
            2025-09-15T12:00Z (a new series, as Prometheus sees it)
          etl/etl-<n> (CronJob etl, team data) on cpu-1: a pod every 6 hours that runs for
            1 hour (pods coming and going): cpu 0.20, mem 0.05
          kube-system/agent-<node> (DaemonSet agent, no team) on every node: cpu 0.01
lab
  nodes   lab-1 (no GPU): cpu 0.20/h, memory 0.05/h
  pods    dev/sandbox (no owner, team ml) the whole time: cpu 0.05, mem 0.01

Gaps, as the exporter and Prometheus produce them:
  - the exporter restarts at 2025-09-05T12:00Z: the 12:00 scrape is missing and its series
    come back with a new `instance` (a new pod IP);
  - the exporter is down from 2025-09-20T06:00Z to 12:00Z: 36 scrapes missing, every series.

The idle series are node cost minus the pods' costs on that node, per resource, as gpucost
exports them.

Unused GPU cost, as the utilization rules (rules/gpucost.rules.yml, group gpucost.utilization)
record it: `pod:gpucost_pod_gpu_unused_cost_per_hour:sum` with gpucost's pod labels (no
`instance`) and `cluster:gpucost_pod_gpu_unused_cost_per_hour:sum` (their sum), at the rule
group's evaluations: every 4 minutes (EVAL_S, not the scrape interval), 37 s past the scrape
grid, so the report must find and use a step of its own. The rules record for a pod at an
evaluation when the pod exists, gpucost's scrape of that 10-minute slot succeeded (restart and
outage: nothing) and dcgm-exporter reports: it is installed on 2025-09-03T00:00Z and is down
on 2025-09-12 from 00:00Z to 06:00Z. Utilization, by day since the pod started:
  train-3d-0: 0.75, 0.5, 0.875 -> unused 12.80 x (0.25, 0.5, 0.125) = 3.20, 6.40, 1.60 per h
  infer-5f6b: 0.25 every day   -> unused 0.80 x 0.75 = 0.60 per h
  every other pod: no GPU, no series.

Hand-worked figures the tests assert (besides comparing every cell with `expected_rows`):
  train-3d in September: 72 h x 12.80 = 921.60 gpu, 72 x 0.25 = 18.00 cpu,
    72 x 0.125 = 9.00 memory, 72 h x 4 GPUs = 288 GPU-hours.
  September (UTC) has 720 h; the exporter reported for 720 - 1/6 (restart) - 6 (outage)
    = 713.8333 h, so web's api costs 0.10 x 713.8333 = 71.383333 cpu and 0.03 x 713.8333
    = 21.415 memory.
  Unused GPU cost in September: train-3d 24 h x 3.20 + 24 h x 6.40 + (24 - 6 dcgm gap) h
    x 1.60 = 76.80 + 153.60 + 28.80 = 259.20; infer as team ml from Sep 3 to Sep 15 12:00,
    300 h - 6 h (dcgm gap) - 12 min (the missed 12:00 scrape slot holds three evaluations,
    12:00:37, 12:04:37, 12:08:37) = 293.8 h x 0.60 = 176.28; as team serving from Sep 15
    12:00, 372 h - 6 h (outage: 90 evaluations) = 366 h x 0.60 = 219.60.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

STEP_S = 600
#: The utilization rules' evaluation interval, and where evaluations fall on the scrape grid.
EVAL_S = 240
EVAL_OFFSET_S = 37
DCGM_START = datetime(2025, 9, 3, tzinfo=timezone.utc)
DCGM_GAP = (datetime(2025, 9, 12, tzinfo=timezone.utc), datetime(2025, 9, 12, 6, tzinfo=timezone.utc))
UNUSED = "pod:gpucost_pod_gpu_unused_cost_per_hour:sum"
UNUSED_CLUSTER = "cluster:gpucost_pod_gpu_unused_cost_per_hour:sum"
START = datetime(2025, 8, 31, tzinfo=timezone.utc)
END = datetime(2025, 10, 2, tzinfo=timezone.utc)
RESTART = datetime(2025, 9, 5, 12, tzinfo=timezone.utc)
OUTAGE = (datetime(2025, 9, 20, 6, tzinfo=timezone.utc), datetime(2025, 9, 20, 12, tzinfo=timezone.utc))
JOB = (datetime(2025, 9, 10, tzinfo=timezone.utc), datetime(2025, 9, 13, tzinfo=timezone.utc))
TEAM_CHANGE = datetime(2025, 9, 15, 12, tzinfo=timezone.utc)
CURRENCY = "USD"

POD_METRICS = {"cpu": "gpucost_pod_cpu_cost_per_hour", "memory": "gpucost_pod_memory_cost_per_hour",
               "gpu": "gpucost_pod_gpu_reserved_cost_per_hour"}


def _ts(d: datetime) -> int:
    return int(d.timestamp())


@dataclass(frozen=True)
class Node:
    cluster: str
    name: str
    gpu_model: str
    cost: dict[str, float]


@dataclass
class Pod:
    """A pod's rates (currency per hour) and GPUs, and when it exists ([start, end) in s)."""

    cluster: str
    namespace: str
    name: str
    node: str
    owner_kind: str
    owner_name: str
    team: str
    cost: dict[str, float]
    gpus: float = 0.0
    start: int = _ts(START)
    end: int = _ts(END)
    product: str = ""
    #: GPU utilization (0..1) by day since start, the last repeated; empty: none measured.
    utilization: tuple[float, ...] = ()

    def unused_at(self, t: int) -> float | None:
        """Unused reserved GPU cost per hour at t, or None where nothing is measured."""
        if not self.utilization:
            return None
        day = min((t - self.start) // 86_400, len(self.utilization) - 1)
        return self.cost["gpu"] * (1 - self.utilization[day])

    def labels(self) -> dict[str, str]:
        return {"namespace": self.namespace, "pod": self.name, "node": self.node,
                "owner_kind": self.owner_kind, "owner_name": self.owner_name,
                "team": self.team, "product": self.product, "customer": ""}


NODES = [
    Node("prod", "cpu-1", "", {"cpu": 0.40, "memory": 0.10}),
    Node("prod", "gpu-a", "NVIDIA-A100-SXM4-80GB", {"cpu": 1.00, "memory": 0.50, "gpu": 8 * 3.20}),
    Node("prod", "gpu-b", "NVIDIA-L4", {"cpu": 0.50, "memory": 0.20, "gpu": 4 * 0.80}),
    Node("lab", "lab-1", "", {"cpu": 0.20, "memory": 0.05}),
]


def pods() -> list[Pod]:
    change = _ts(TEAM_CHANGE)
    out = [
        Pod("prod", "web", "api-7d9c", "cpu-1", "Deployment", "api", "web",
            {"cpu": 0.10, "memory": 0.03}, product="shop"),
        Pod("prod", "ml-research", "train-3d-0", "gpu-a", "Job", "train-3d", "ml",
            {"cpu": 0.25, "memory": 0.125, "gpu": 12.80}, gpus=4, start=_ts(JOB[0]), end=_ts(JOB[1]),
            utilization=(0.75, 0.5, 0.875)),
        Pod("prod", "ml-serve", "infer-5f6b", "gpu-b", "Deployment", "infer", "ml",
            {"cpu": 0.05, "memory": 0.02, "gpu": 0.80}, gpus=1, end=change, utilization=(0.25,)),
        Pod("prod", "ml-serve", "infer-5f6b", "gpu-b", "Deployment", "infer", "serving",
            {"cpu": 0.05, "memory": 0.02, "gpu": 0.80}, gpus=1, start=change, utilization=(0.25,)),
        Pod("lab", "dev", "sandbox", "lab-1", "", "", "ml", {"cpu": 0.05, "memory": 0.01}),
    ]
    out += [Pod(n.cluster, "kube-system", f"agent-{n.name}", n.name, "DaemonSet", "agent", "",
                {"cpu": 0.01, "memory": 0.0}) for n in NODES]
    t, n = _ts(START), 0
    while t < _ts(END):
        out.append(Pod("prod", "etl", f"etl-{n}", "cpu-1", "CronJob", "etl", "data",
                       {"cpu": 0.20, "memory": 0.05}, start=t, end=t + 3600))
        t, n = t + 6 * 3600, n + 1
    return out


def scrape_times() -> Iterator[int]:
    """Timestamps (s) at which the exporter was scraped successfully."""
    restart, down = _ts(RESTART), (_ts(OUTAGE[0]), _ts(OUTAGE[1]))
    for t in range(_ts(START), _ts(END), STEP_S):
        if t == restart or down[0] <= t < down[1]:
            continue
        yield t


def evaluation_times() -> Iterator[int]:
    """Timestamps (s) at which the utilization rules recorded: gpucost's scrape of the slot
    succeeded and dcgm-exporter was up."""
    scraped = set(scrape_times())
    gap = (_ts(DCGM_GAP[0]), _ts(DCGM_GAP[1]))
    for t in range(_ts(START) + EVAL_OFFSET_S, _ts(END), EVAL_S):
        slot = t - (t - _ts(START)) % STEP_S
        if slot in scraped and t >= _ts(DCGM_START) and not gap[0] <= t < gap[1]:
            yield t


def _instance(t: int) -> str:
    return "10.0.0.5:9863" if t < _ts(RESTART) else "10.0.0.6:9863"


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    samples: list[tuple[int, float]] = field(default_factory=list)


def history() -> list[Series]:
    """Every series, samples in time order, labels as a querier sees them."""
    series: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}

    def add(name: str, labels: dict[str, str], t: int, value: float) -> None:
        full = {**labels, "job": "gpucost", "instance": _instance(t)}
        key = (name, tuple(sorted(full.items())))
        series.setdefault(key, Series(name, full)).samples.append((t, value))

    all_pods = pods()
    for t in scrape_times():
        for cluster in ("prod", "lab"):
            add("gpucost_pricing_info", {"cluster": cluster, "currency": CURRENCY,
                                         "source": "file", "catalog_date": "2025-08-01"}, t, 1)
        reserved: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for p in all_pods:
            if not p.start <= t < p.end:
                continue
            base = {"cluster": p.cluster, **p.labels()}
            for resource, value in p.cost.items():
                add(POD_METRICS[resource], base, t, value)
                reserved[p.node][resource] += value
            if p.gpus:
                add("gpucost_pod_gpu_reserved", {**base, "resource": "nvidia.com/gpu"}, t, p.gpus)
        for n in NODES:
            node = {"cluster": n.cluster, "node": n.name}
            add("gpucost_node_info", {**node, "instance_type": "", "region": "", "zone": "",
                                      "capacity_type": "", "gpu_model": n.gpu_model,
                                      "price_source": "node_rule"}, t, 1)
            for resource, cost in n.cost.items():
                add("gpucost_node_cost_per_hour", {**node, "resource": resource}, t, cost)
                add("gpucost_node_idle_cost_per_hour", {**node, "resource": resource}, t,
                    round(cost - reserved[n.name][resource], 10))
    for t in evaluation_times():
        # Recorded series: gpucost's labels without `instance`, as `sum without (instance)`.
        clusters: dict[str, float] = defaultdict(float)
        for p in all_pods:
            unused = p.unused_at(t) if p.start <= t < p.end else None
            if unused is None:
                continue
            key = (UNUSED, tuple(sorted({"cluster": p.cluster, **p.labels(), "job": "gpucost"}.items())))
            series.setdefault(key, Series(UNUSED, dict(key[1]))).samples.append((t, unused))
            clusters[p.cluster] += unused
        for cluster, total in clusters.items():
            key = (UNUSED_CLUSTER, (("cluster", cluster), ("job", "gpucost")))
            series.setdefault(key, Series(UNUSED_CLUSTER, dict(key[1]))).samples.append((t, total))
    return list(series.values())


def openmetrics(all_series: Iterable[Series]) -> str:
    """OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`: each family's
    samples together, each series' samples in time order, `# EOF` at the end."""
    by_family: dict[str, list[Series]] = defaultdict(list)
    for s in all_series:
        by_family[s.name].append(s)
    lines: list[str] = []
    for name, family in by_family.items():
        lines.append(f"# TYPE {name} gauge")
        for s in family:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            lines += [f"{name}{{{labels}}} {v!r} {t}" for t, v in s.samples]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


# ---- Spend worked out from the series, independently of gpucost.report ------------------

Key = tuple[str, ...]
KeyOf = Callable[[dict[str, str]], Key]


def spend_by(all_series: Sequence[Series], start: datetime, end: datetime, key_of: KeyOf,
             names: dict[str, str], step_s: int = STEP_S) -> dict[Key, dict[str, float]]:
    """Sum value x step_s / 3600 over the samples in [start, end), per key and column.

    names maps a metric name to the column it adds to.
    """
    lo, hi = start.timestamp(), end.timestamp()
    out: dict[Key, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in all_series:
        column = names.get(s.name)
        if column is None:
            continue
        total = sum(v for t, v in s.samples if lo <= t < hi)
        if any(lo <= t < hi for t, _ in s.samples):
            out[key_of(s.labels)][column] += total * step_s / 3600
    return out


POD_COLUMNS = {**{m: r for r, m in POD_METRICS.items()}, "gpucost_pod_gpu_reserved": "gpu_hours"}
IDLE_COLUMNS = {"gpucost_node_idle_cost_per_hour": ""}
UNUSED_COLUMNS = {UNUSED: "unused_gpu"}


def has_unused(all_series: Sequence[Series], start: datetime, end: datetime) -> bool:
    """Whether the utilization rules recorded anything in [start, end)."""
    lo, hi = start.timestamp(), end.timestamp()
    return any(lo <= t < hi for s in all_series if s.name == UNUSED_CLUSTER for t, _ in s.samples)


def idle_by_cluster(all_series: Sequence[Series], start: datetime,
                    end: datetime) -> dict[str, dict[str, float]]:
    """Idle spend per cluster and resource in [start, end)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    lo, hi = start.timestamp(), end.timestamp()
    for s in all_series:
        if s.name == "gpucost_node_idle_cost_per_hour":
            out[s.labels["cluster"]][s.labels["resource"]] += sum(
                v for t, v in s.samples if lo <= t < hi) * STEP_S / 3600
    return out

"""The scale benchmark (issues 6 and 16): one command, one table, every figure against its
reference measured in the same run.

    python -m bench.run                      # 150,000 pods; memory at 10k, 50k and 150k
    python -m bench.run --pods 20000 --memory-sizes 5000,10000,20000 --scrapes 5

Measures
1. cold sync: paginated list bytes -> complete gzip exposition, as a ratio to decoding alone
   the same pages into the same Structs (the practical limit), measured warm (best of three) with
   the garbage collector as in production (enabled, default thresholds); both measured in each
   of three fresh processes that hold only the pages, as the exporter holds only what it reads
   (not the generator's cluster), and the median process shown with the spread: a cold sync is
   timed once a process, and one timing moves by several points with the machine;
2. scrape: /metrics over HTTP (p50, p99), plain and gzip, against a prometheus_client custom
   collector that yields the same samples from the same state, served by prometheus_client;
3. watch: pod MODIFIED events applied per second (decode, recompute, re-render), as a ratio to
   decoding the same event lines alone (warm, best of three), in the same fresh process;
4. memory: RSS after a cold sync, each size in a fresh process, and the growth per pod.

The cluster allocates its GPUs through DRA (one ResourceClaim per GPU pod, one ResourceSlice per
GPU node; `--device-plugins` for the cluster without), so the claim path is inside the sync.
No pass/fail: the table shows each goal beside the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import hashlib
import json
import os
import pickle
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from gpucost.kubeapi import decode_event, decode_page
from gpucost.objects import KINDS
from gpucost.pricing import PricingConfig
from gpucost.server import Exporter
from gpucost.state import NODE_FAMILIES, POD_FAMILIES, CostState

from bench import synth

#: Kinds in the order a fresh exporter's watches typically finish their first list: the small
#: core lists, then the DRA lists (started after discovery), then the pods.
KIND_ORDER = ("Namespace", "ReplicaSet", "Job", "Node", "ResourceSlice", "ResourceClaim", "Pod")
#: Passes of each decode-only reference; the fastest counts (the reference runs warm).
REFERENCE_PASSES = 3
PAGE = 500
_DECODERS = {kind: msgspec.json.Decoder(KINDS[kind]) for kind in KIND_ORDER}
_HELP = {name: help_text for name, help_text in POD_FAMILIES} | {n: h for n, _, h in NODE_FAMILIES}


@dataclass
class Row:
    what: str
    measured: str
    reference: str
    ratio: str
    goal: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    identical: bool | None = None
    unique: bool | None = None
    samples: int = 0
    same_in_fresh_process: bool | None = None

    def add(self, *cells: str) -> None:
        self.rows.append(Row(*cells))

    def table(self) -> str:
        head = Row("measure", "gpucost", "reference", "ratio", "goal")
        rows = [head, *self.rows]
        widths = [max(len(getattr(r, f)) for r in rows) for f in ("what", "measured", "reference", "ratio", "goal")]
        lines = []
        for i, r in enumerate(rows):
            cells = [r.what, r.measured, r.reference, r.ratio, r.goal]
            lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
            if i == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the cluster


def list_pages(cluster: synth.Cluster) -> dict[str, list[bytes]]:
    """Every watched kind as the API server would page it (limit 500)."""
    by_kind = {kind: items for kind, items in cluster.lists().values()}
    return {
        kind: synth.paginate(by_kind[kind], PAGE, kind=kind, resource_version=cluster.resource_version)
        for kind in KIND_ORDER
        if kind in by_kind
    }


def decode_only(pages: dict[str, list[bytes]]) -> int:
    """The reference: decode every page and every item into its Struct exactly as the sync
    does (same pages, same decoders), keep nothing."""
    n = 0
    for kind in KIND_ORDER:
        decoder = _DECODERS[kind]
        for body in pages.get(kind, ()):
            for raw in decode_page(body).items or ():
                decoder.decode(raw)
                n += 1
    return n


def decode_events(lines: list[bytes]) -> None:
    """The watch reference: decode each event line and its pod, as apply_events does."""
    decoder = _DECODERS["Pod"]
    for line in lines:
        decoder.decode(decode_event(line).object)


@dataclass
class Timing:
    """Wall-clock and process CPU seconds of one measured run. On a shared machine the CPU
    seconds are the steadier figure: other jobs stretch the wall clock, not this process's CPU."""

    wall: float
    cpu: float

    @classmethod
    def of(cls, fn: Any, *args: Any) -> tuple[Timing, Any]:
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn(*args)
        return cls(time.perf_counter() - w0, time.process_time() - c0), result


def best_of(passes: int, fn: Any, *args: Any) -> Timing:
    """The fastest of `passes` runs of fn(*args) (wall and CPU each at their best)."""
    runs = [Timing.of(fn, *args)[0] for _ in range(passes)]
    return Timing(min(r.wall for r in runs), min(r.cpu for r in runs))


def ratio(reference: Timing, measured: Timing) -> str:
    return f"{reference.wall / measured.wall:.0%} of decode-only (CPU time: {reference.cpu / measured.cpu:.0%})"


def cold_sync(pages: dict[str, list[bytes]], pricing: PricingConfig) -> tuple[CostState, bytes]:
    """What the exporter does on start: list every kind into the state, then a gzip scrape."""
    state = CostState(pricing)
    for kind in KIND_ORDER:  # as ResourceWatch._list does: each page into a streamed relist
        decoder = _DECODERS[kind]
        relist = state.relist(kind)
        for body in pages.get(kind, ()):
            for raw in decode_page(body).items or ():
                relist.add(decoder.decode(raw))
        relist.finish()
    body = first_scrape(state)
    return state, body


def first_scrape(state: CostState) -> bytes:
    """The gzip exposition, on an event loop of its own. Not asyncio.run: on the main thread
    it checks its SIGINT handler on the way out, and on Python 3.11 that check formats the
    finished task, result included: a repr of the whole gzip body (about 0.1 s of CPU for
    20 MB) that the exporter, serving from one long-lived loop, never pays."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(Exporter(state).body(True))
    finally:
        loop.close()


# --------------------------------------------------------------------------- the baseline


class BaselineCollector:
    """A prometheus_client custom collector yielding the same samples from the same state:
    the straightforward way to write this exporter, computing every sample at scrape time."""

    def __init__(self, state: CostState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for name, labels, value in self.state.series():
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(
                    name, _HELP[name].format(currency=self.state.pricing.currency),
                    labels=[k for k, _ in labels],
                )
            family.add_metric([v for _, v in labels], value)
        yield from families.values()


def per_object_samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith(("gpucost_pod_", "gpucost_node_", "gpucost_gpu_price"))
    }


def object_lines_digest(text: bytes) -> str:
    """A digest of the per-object lines of an exposition, in order (the process's own
    families, such as its memory and collector counts, differ from process to process)."""
    digest = hashlib.sha256()
    for line in text.splitlines():
        if line.startswith((b"gpucost_pod_", b"gpucost_node_", b"gpucost_gpu_price")):
            digest.update(line)
    return digest.hexdigest()


# --------------------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """The real aiohttp exporter on a loopback port, its event loop in a thread."""

    def __init__(self, exporter: Exporter) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(exporter,), daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def _run(self, exporter: Exporter) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(exporter.app(), access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self.loop.run_forever()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run fn(*args) on the server's loop (where the state lives) and wait for it."""
        async def wrapper() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result()


def fetch(port: int, gz: bool) -> tuple[float, bytes]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"} if gz else {}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as resp:
        data = resp.read()
    return time.perf_counter() - started, data


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


# --------------------------------------------------------------------------- measures


def measure(pods: int, scrapes: int, baseline_scrapes: int, events: int, report: Report, dra: bool = True,
            sync_runs: int = 3) -> None:
    with tempfile.TemporaryDirectory(prefix="gpucost-bench-") as tmp:
        # The cluster is generated in a process of its own, which writes the bytes the exporter
        # would read (pages, watch events) and exits: no process measured here, nor this one,
        # holds the generator's millions of objects (docs/performance.md: on this benchmark's
        # machine a 2 GB process beside the sync made its page faults four times as dear).
        path = Path(tmp) / "cluster.pickle"
        child("bench.run", "--generate-child", str(path), "--pods", str(pods), "--scrapes", str(scrapes),
              "--events", str(events), *([] if dra else ["--device-plugins"]))
        # 1. cold sync and watch, each against decoding the same bytes alone, in fresh processes
        #    that hold what the exporter holds (sync_child); the median process counts
        fresh = [sync_in_child(path) for _ in range(sync_runs)]
        with path.open("rb") as f:
            generated = pickle.load(f)
    pages, changes, n_objects = generated["pages"], generated["changes"], generated["objects"]
    del generated
    assert all(r["objects"] == n_objects for r in fresh)
    t_decode, t_full, spread = median_run(fresh, "decode", "sync")
    report.add(
        f"cold sync, {pods:,} pods (+{n_objects - pods:,} other objects)",
        f"{pods / t_full.wall:,.0f} pods/s ({t_full.wall:.2f} s)",
        f"decode only {pods / t_decode.wall:,.0f} pods/s ({t_decode.wall:.2f} s)",
        ratio(t_decode, t_full) + spread,
        ">= 40% of decode-only",
    )
    t_decode, t_apply, spread = median_run(fresh, "events_decode", "watch")
    report.add(
        f"watch: pod MODIFIED events, {events:,} (10% resizes)",
        f"{events / t_apply.wall:,.0f} events/s",
        f"decode only {events / t_decode.wall:,.0f} events/s",
        ratio(t_decode, t_apply) + spread,
        ">= 40% of decode-only",
    )
    state, body = cold_sync(pages, PricingConfig())  # the state the scrapes are measured on (not timed)
    text = gzip.decompress(body)
    report.same_in_fresh_process = all(object_lines_digest(text) == r["object_lines_sha256"] for r in fresh)
    print(f"# cold sync done: exposition {len(text) / 1e6:.0f} MB, {len(body) / 1e6:.1f} MB gzip", file=sys.stderr)
    del pages, text

    # 2. scrapes over HTTP
    exporter = Exporter(state)
    server = ServerThread(exporter)
    registry = CollectorRegistry()
    registry.register(BaselineCollector(state))
    baseline_port = free_port()
    baseline_server, _ = start_http_server(baseline_port, addr="127.0.0.1", registry=registry)
    try:
        fast: dict[bool, list[float]] = {False: [], True: []}
        slow: dict[bool, list[float]] = {False: [], True: []}
        fast_text = slow_text = b""
        for gz in (False, True):
            fetch(server.port, gz)  # warm: the first scrape after a sync compresses every block
            for _ in range(scrapes):
                seconds, data = fetch(server.port, gz)
                fast[gz].append(seconds)
                if not gz:
                    fast_text = data
            for _ in range(baseline_scrapes):
                seconds, data = fetch(baseline_port, gz)
                slow[gz].append(seconds)
                if not gz:
                    slow_text = data
        fast_samples = per_object_samples(fast_text.decode())
        report.identical = fast_samples == per_object_samples(slow_text.decode())
        report.samples = len(fast_samples)
        report.unique = unique_series(fast_text.decode())
        for gz, label in ((False, "plain"), (True, "gzip")):
            p50, p99 = percentiles(fast[gz])
            b50, b99 = percentiles(slow[gz])
            report.add(
                f"scrape {label}, {pods:,} pods (p50 / p99)",
                f"{_ms(p50)} / {_ms(p99)}",
                f"prometheus_client {_ms(b50)} / {_ms(b99)}",
                f"{b50 / p50:,.0f}x faster",
                "gzip p50 <= 250 ms, >= 25x" if gz else "",
            )

        # scrapes while the state changes: 1,000 pod changes between scrapes
        churn: list[float] = []
        for i in range(scrapes):
            server.call(apply_events, state, changes[i * 1000:(i + 1) * 1000])
            seconds, _ = fetch(server.port, True)
            churn.append(seconds)
        p50, p99 = percentiles(churn)
        report.add("scrape gzip after 1,000 pod changes", f"{_ms(p50)} / {_ms(p99)}", "", "", "")

    finally:
        baseline_server.shutdown()
        server.loop.call_soon_threadsafe(server.loop.stop)


def unique_series(text: str) -> bool:
    """Whether no series (name and label set) occurs twice: Prometheus rejects a whole scrape
    that repeats one."""
    seen = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series = line.rsplit(" ", 1)[0]
            if series in seen:
                return False
            seen.add(series)
    return True


def apply_events(state: CostState, lines: list[bytes]) -> None:
    """What the watch does per event line: decode the event and the pod, apply it."""
    decoder = _DECODERS["Pod"]
    for line in lines:
        event = decode_event(line)
        obj = decoder.decode(event.object)
        if event.type == "DELETED":
            state.delete("Pod", obj)
        else:
            state.upsert("Pod", obj)


def generate_child(path: Path, pods: int, scrapes: int, events: int, dra: bool) -> None:
    """Generate the cluster and write what the measurements read to `path`: the list pages,
    the watch events (for the scrapes under churn, and the watch measurement) and counts."""
    started = time.perf_counter()
    cluster = synth.generate(pods, dra=dra)
    generated = {
        "pages": list_pages(cluster),
        "changes": synth.modified_events(cluster, 1000 * scrapes, seed=1),
        "stream": synth.modified_events(cluster, events, seed=2),
        "objects": sum(len(items) for _, items in cluster.lists().values()),
    }
    with path.open("wb") as f:
        pickle.dump(generated, f, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"# generated {pods:,} pods, {len(cluster.nodes):,} nodes, {len(cluster.resourceclaims):,} "
          f"claims, {len(cluster.resourceslices):,} slices in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)


def child(module: str, *args: str) -> str:
    """Run `python -m MODULE ARGS` in a fresh interpreter: the last line it printed (its
    standard error passes through)."""
    out = subprocess.run([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def sync_in_child(path: Path) -> dict[str, Any]:
    """Measure the cold sync and the watch in a fresh interpreter (sync_child): its report."""
    result: dict[str, Any] = json.loads(child("bench.run", "--sync-child", str(path)))
    return result


def median_run(runs: list[dict[str, Any]], reference: str, measured: str) -> tuple[Timing, Timing, str]:
    """The run of median CPU ratio (reference / measured), and the runs' range of it."""
    ratios = sorted((r[reference][1] / r[measured][1], i) for i, r in enumerate(runs))
    mid = runs[ratios[(len(ratios) - 1) // 2][1]]
    spread = f"; {len(runs)} processes: {ratios[0][0]:.0%}-{ratios[-1][0]:.0%}" if len(runs) > 1 else ""
    return Timing(*mid[reference]), Timing(*mid[measured]), spread


def sync_child(path: Path) -> None:
    """The cold sync and the watch measured in a process that holds what the exporter holds:
    the pages (as read from the API server) and the state, not the generator's cluster of
    millions of small objects. The references are measured here too, on the same bytes."""
    with path.open("rb") as f:
        generated = pickle.load(f)
    pages, stream = generated["pages"], generated["stream"]
    del generated
    objects = decode_only(pages)
    t_decode = best_of(REFERENCE_PASSES, decode_only, pages)
    t_sync, (state, body) = Timing.of(cold_sync, pages, PricingConfig())
    t_events = best_of(REFERENCE_PASSES, decode_events, stream)

    def watch() -> None:  # as the exporter's watch and flush loop: a flush after each batch
        for start in range(0, len(stream), 1000):
            apply_events(state, stream[start:start + 1000])
            state.flush()

    t_watch, _ = Timing.of(watch)
    print(json.dumps({
        "objects": objects,
        "decode": [t_decode.wall, t_decode.cpu], "sync": [t_sync.wall, t_sync.cpu],
        "events_decode": [t_events.wall, t_events.cpu], "watch": [t_watch.wall, t_watch.cpu],
        "object_lines_sha256": object_lines_digest(gzip.decompress(body)),
    }))


# --------------------------------------------------------------------------- memory


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(pods: int, workdir: Path, dra: bool) -> None:
    """In a fresh process: generate pages to files, drop everything, then sync from the files
    one page at a time and print the RSS the exporter's state holds."""
    cluster = synth.generate(pods, dra=dra)
    paths = []
    for kind, kind_pages in list_pages(cluster).items():
        for i, body in enumerate(kind_pages):
            path = workdir / f"{kind}-{i:05d}.json"
            path.write_bytes(body)
            paths.append((kind, path))
    del cluster
    gc.unfreeze()
    gc.collect()
    # Re-exec so the generator's memory is really gone, then measure.
    print(child("bench.run", "--memory-measure", str(workdir)))


def memory_measure(workdir: Path) -> None:
    baseline = rss_bytes()
    state = CostState(PricingConfig())
    for kind in KIND_ORDER:
        decoder = _DECODERS[kind]
        relist = state.relist(kind)
        for path in sorted(workdir.glob(f"{kind}-[0-9]*.json")):
            for raw in decode_page(path.read_bytes()).items or ():
                relist.add(decoder.decode(raw))
        relist.finish()
    first_scrape(state)
    gc.collect()
    print(json.dumps({"rss": rss_bytes(), "baseline": baseline}))


def measure_memory(sizes: list[int], report: Report, dra: bool = True) -> None:
    results = {}
    for pods in sizes:
        with tempfile.TemporaryDirectory(prefix="gpucost-bench-") as tmp:
            results[pods] = json.loads(child("bench.run", "--memory-child", str(pods), tmp,
                                             *([] if dra else ["--device-plugins"])))
    base = results[sizes[0]]["baseline"]
    for pods in sizes:
        r = results[pods]
        report.add(f"memory (RSS) after sync, {pods:,} pods", f"{r['rss'] / 2**20:,.0f} MiB",
                   f"empty process {r['baseline'] / 2**20:,.0f} MiB", "",
                   "<= 600 MB at 150k" if pods == sizes[-1] else "")
    if len(sizes) >= 3:
        per = [
            (results[b]["rss"] - results[a]["rss"]) / (b - a)
            for a, b in zip(sizes, sizes[1:], strict=False)
        ]
        report.add("memory growth per pod", " / ".join(f"{p / 1024:.2f} KiB" for p in per),
                   f"between sizes {', '.join(f'{s:,}' for s in sizes)}",
                   f"{max(per) / min(per):.2f} max/min", "linear (ratio ~1)")
    if len(sizes) >= 2:
        first, last = sizes[0], sizes[-1]
        per_pod = (results[last]["rss"] - results[first]["rss"]) / (last - first)
        report.add(f"memory per pod, {first:,} to {last:,} pods", f"{per_pod / 1024:.2f} KiB",
                   "", "", "<= 2.4 KiB (before issue 16)")
    del base


# --------------------------------------------------------------------------- main


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> Report:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=150_000, help="cluster size for sync, scrape and watch")
    p.add_argument("--memory-sizes", default="10000,50000,150000", help="comma-separated; '' to skip")
    p.add_argument("--scrapes", type=int, default=9, help="scrapes per encoding (p50, p99)")
    p.add_argument("--baseline-scrapes", type=int, default=3)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--sync-runs", type=int, default=3,
                   help="fresh processes the cold sync and watch are measured in (the median counts)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument("--device-plugins", action="store_true",
                   help="GPUs through device plugins only (the cluster before issue 16), no DRA objects")
    p.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--memory-measure", help=argparse.SUPPRESS)
    p.add_argument("--sync-child", help=argparse.SUPPRESS)
    p.add_argument("--generate-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    report = Report()
    if args.memory_child:
        memory_child(int(args.memory_child[0]), Path(args.memory_child[1]), not args.device_plugins)
        return report
    if args.memory_measure:
        memory_measure(Path(args.memory_measure))
        return report
    if args.sync_child:
        sync_child(Path(args.sync_child))
        return report
    if args.generate_child:
        generate_child(Path(args.generate_child), args.pods, args.scrapes, args.events, not args.device_plugins)
        return report
    dra = not args.device_plugins
    measure(args.pods, args.scrapes, args.baseline_scrapes, args.events, report, dra, args.sync_runs)
    sizes = [int(s) for s in args.memory_sizes.split(",") if s.strip()]
    if sizes:
        measure_memory(sizes, report, dra)
    print(f"machine: {machine()}")
    print(f"fast path and baseline serve identical samples: {report.identical} ({report.samples:,} samples)")
    print(f"every series in the exposition is unique: {report.unique}")
    print(f"the fresh processes' syncs rendered the same lines as this one: {report.same_in_fresh_process}")
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in report.rows], indent=2))
    return report


if __name__ == "__main__":
    main()

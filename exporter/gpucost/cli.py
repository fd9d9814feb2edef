"""Command line: `gpucost-exporter` (also `python -m gpucost`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__, logs
from .billing import COST_COLUMNS, DEFAULT_WINDOW_DAYS
from .configfile import ConfigError
from .nvml import physical_gpus_and_model
from .nvml_source import NvmlSource
from .reload import PricingSource
from .server import Exporter, parse_listen_address, serve
from .snapshot import Snapshot, SnapshotError, load_snapshot
from .state import CostState, Shard
from .webconfig import WebGuard

if TYPE_CHECKING:  # the kubernetes package is slow to import; --once and --demo never need it
    from .kubeapi import WatchSettings
    from .kubewatch import ClusterWatcher

log = logging.getLogger("gpucost")

DEFAULT_LISTEN = ":9863"
DEFAULT_TELEMETRY_PATH = "/metrics"
#: Paths the server answers itself; the metrics cannot move onto one of them.
_RESERVED_PATHS = ("/", "/healthz", "/readyz")
#: Apply order: owners and namespaces first so pods render with their labels at once.
#: Every kind a cluster file may hold (objects.KINDS), in an order that costs each pod once.
APPLY_ORDER = ("Namespace", "ReplicaSet", "Job", "ResourceSlice", "Node", "ResourceClaim", "Pod")


class UsageError(Exception):
    """A bad flag or file: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gpucost-exporter",
        description="Prometheus exporter: what each Kubernetes workload's reservations cost, GPUs included.",
    )
    src = p.add_argument_group("sources")
    src.add_argument("--demo", action="store_true", help="run on the bundled demo cluster and its pricing file")
    src.add_argument("--from-file", action="append", default=[], metavar="PATH",
                     help="Kubernetes List or manifests (JSON or YAML) to read instead of the API; repeatable")
    src.add_argument("--kubeconfig", metavar="PATH",
                     help="kubeconfig for the API (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
    src.add_argument("--node-name", metavar="NAME",
                     help="only this node and its pods (DaemonSet mode; the API filters by field selector)")
    src.add_argument("--shard", type=int, metavar="I", help="this process's shard, 0 <= I < N")
    src.add_argument("--total-shards", type=int, metavar="N", help="number of shards")
    src.add_argument("--nvml", action="store_true",
                     help="read GPU inventory through NVML (needs --node-name: gpucost runs on that node)")
    src.add_argument("--nvml.refresh-interval", dest="nvml_refresh", type=float, default=60.0,
                     metavar="SECONDS", help="how often to re-read the NVML inventory (default 60)")
    p.add_argument("--pricing-file", metavar="PATH", help="pricing config (YAML); built-in list prices without it")
    p.add_argument("--billing-export", metavar="PATH",
                   help="FOCUS billing export (a .csv, .csv.gz or .parquet file, or a directory of them; Parquet needs "
                        "the parquet extra): nodes are priced "
                        "at what the bill says they cost")
    p.add_argument("--billing.window-days", dest="billing_window_days", type=float, default=DEFAULT_WINDOW_DAYS,
                   metavar="DAYS", help=f"trailing window of the export to price from (default {DEFAULT_WINDOW_DAYS})")
    p.add_argument("--billing.cost-column", dest="billing_cost_column", default=COST_COLUMNS[0],
                   choices=COST_COLUMNS, help=f"FOCUS cost column to price from (default {COST_COLUMNS[0]})")
    p.add_argument("--pricing.reload-interval", dest="reload_interval", type=float, default=30.0, metavar="SECONDS",
                   help="how often to check the pricing file and billing export for changes; 0: only on SIGHUP "
                        "(default 30)")
    p.add_argument("--once", action="store_true", help="print the exposition to stdout and exit")
    p.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN, metavar="ADDR",
                   help=f"address for /metrics, /healthz, /readyz (default {DEFAULT_LISTEN})")
    p.add_argument("--web.config.file", dest="web_config", metavar="PATH",
                   help="TLS, basic auth and headers (Prometheus exporter-toolkit format); re-read on change")
    p.add_argument("--web.telemetry-path", dest="telemetry_path", default=DEFAULT_TELEMETRY_PATH,
                   metavar="PATH", help=f"path under which to expose metrics (default {DEFAULT_TELEMETRY_PATH})")
    p.add_argument("--log.level", dest="log_level", default="info", choices=list(logs.LEVELS),
                   help="only log messages of this severity or above: debug, info, warn, error "
                        "(warning is an alias of warn; default info)")
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=list(logs.FORMATS),
                   help="log line format: logfmt or json (default logfmt)")
    p.add_argument("--version", action="version", version=f"gpucost-exporter {__version__}")
    return p


def demo_dir() -> Path:
    """The bundled demo cluster and its pricing file: package data, so a source checkout, an
    installed wheel and the image all find it (examples/demo/ links to the same files)."""
    d = Path(__file__).resolve().with_name("demo")
    if not (d / "cluster.json").is_file():
        raise UsageError(f"--demo: {d / 'cluster.json'} is missing; this installation of gpucost is incomplete")
    return d


def _check(args: argparse.Namespace) -> None:
    if (args.shard is None) != (args.total_shards is None):
        raise UsageError("--shard and --total-shards go together")
    if args.total_shards is not None:
        if args.total_shards < 1:
            raise UsageError(f"--total-shards: must be >= 1, got {args.total_shards}")
        if not 0 <= args.shard < args.total_shards:
            raise UsageError(f"--shard: must be in 0..{args.total_shards - 1}, got {args.shard}")
    if args.nvml and not args.node_name:
        raise UsageError("--nvml needs --node-name (NVML describes the node gpucost runs on)")
    if (args.demo or args.from_file) and args.kubeconfig:
        raise UsageError("--kubeconfig cannot be combined with --demo or --from-file")
    if args.demo and args.from_file:
        # Merging your cluster into the demo's would report both as one: refuse it.
        raise UsageError("--demo cannot be combined with --from-file (the demo is a cluster of its own)")
    path = args.telemetry_path
    if not path.startswith("/") or path in _RESERVED_PATHS:
        raise UsageError(f"--web.telemetry-path: expected a path starting with / other than "
                         f"{', '.join(_RESERVED_PATHS)}, got {path!r}")
    if not args.once:
        try:
            parse_listen_address(args.listen)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


class NodeInventory:
    """NVML's answer for the one node gpucost runs on (DaemonSet mode), for the cost model."""

    def __init__(self, node_name: str, source: NvmlSource) -> None:
        self.node_name = node_name
        self.source = source
        self._logged: set[str] = set()

    def __call__(self, node: str) -> tuple[int, str]:
        inventory = self.source.inventory
        if node != self.node_name or inventory is None:
            return 0, ""
        return physical_gpus_and_model(inventory)

    def refresh(self) -> bool:
        """Re-read NVML; True when what the cost model reads of it (GPU count and model) changed,
        so the node needs pricing again. Live readings change at every read (a busy GPU's power
        draw, on a real H200, differs read to read) and price nothing. Logs each failure reason
        once."""
        before = self.source.inventory
        if not self.source.refresh():
            err = self.source.last_error
            if err is not None and err.reason not in self._logged:
                self._logged.add(err.reason)
                log.warning("%s; using node labels for GPU inventory until NVML answers", err)
        after = self.source.inventory
        if after is None or after is before:
            return False
        return before is None or physical_gpus_and_model(after) != physical_gpus_and_model(before)


def pricing_source(args: argparse.Namespace) -> PricingSource:
    """The pricing file (the demo's with --demo) and billing export the flags name."""
    pricing_path = args.pricing_file or (str(demo_dir() / "pricing.yaml") if args.demo else None)
    return PricingSource(pricing_path, args.billing_export, cost_column=args.billing_cost_column,
                         window_days=args.billing_window_days)


def load_state(
    args: argparse.Namespace, nvml: NodeInventory | None = None, source: PricingSource | None = None
) -> tuple[CostState, Snapshot | None]:
    files = list(args.from_file)
    if args.demo:
        files.insert(0, str(demo_dir() / "cluster.json"))
    pricing = (source or pricing_source(args)).load()
    shard = Shard(args.shard or 0, args.total_shards or 1)
    state = CostState(pricing, shard=shard, nvml_inventory=nvml)
    if not files:
        return state, None
    snap = load_snapshot(files)
    apply_snapshot(state, snap, node_name=args.node_name)
    return state, snap


def apply_snapshot(state: CostState, snap: Snapshot, node_name: str | None = None) -> None:
    for kind, key, message in snap.broken:
        state.skip(kind or "Unknown", key, "decode_error", message)
    for kind in APPLY_ORDER:
        objs = snap.objects[kind]
        if node_name and kind == "Node":
            objs = [n for n in objs if n.metadata.name == node_name]
        elif node_name and kind == "Pod":
            objs = [p for p in objs if p.spec.node_name == node_name]
        elif node_name and kind == "ResourceSlice":
            objs = [s for s in objs if s.spec.node_name == node_name]
        for obj in objs:
            state.upsert(kind, obj)
    state.flush()
    # Files are the whole picture: the model is current once they are applied, even when they
    # held nothing to recompute (an empty NodeList).
    state.last_update = time.time()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check(args)
        logs.configure(args.log_level, args.log_format)
        nvml = NodeInventory(args.node_name, NvmlSource()) if args.nvml else None
        if nvml is not None:
            nvml.refresh()
        prices = pricing_source(args)
        state, snap = load_state(args, nvml, prices)
        guard = WebGuard(args.web_config) if args.web_config and not args.once else None
    except (UsageError, ConfigError, SnapshotError) as exc:
        print(f"gpucost-exporter: error: {exc}", file=sys.stderr)
        return 2
    if args.once:
        extra = nvml.source.metric_families(args.node_name) if nvml is not None else ()
        sys.stdout.write(state.render(extra))
        return 0
    try:
        return asyncio.run(_run(args, state, snap, nvml, guard, prices))
    except KeyboardInterrupt:
        return 0


def live_source(
    state: CostState, config: Any, node_name: str | None, settings: WatchSettings | None = None
) -> tuple[ClusterWatcher, list[Coroutine[Any, Any, None]]]:
    """Wire the Kubernetes watch into the state: the watcher (readiness, self-metrics) and the
    coroutines to run (the watches; a flush loop that keeps rendered series current)."""
    from .kubeapi import WatchSettings  # noqa: F811 - the runtime import
    from .kubewatch import ClusterWatcher  # noqa: F811

    watcher = ClusterWatcher(state, config, node_name=node_name, settings=settings or WatchSettings())
    state.confirmed = lambda: min((w.last_sync for w in watcher.stats().values()), default=0.0)
    return watcher, [watcher.run(), _flush_continuously(state)]


#: Pods rendered per slice of the background flush (~0.1 s of event-loop time).
_FLUSH_SLICE = 5000


async def _flush_continuously(state: CostState, interval: float = 1.0) -> None:
    """Apply watch events to the rendered series between scrapes, so a scrape finds little to
    do (the first one after a 150k-pod sync would otherwise render everything)."""
    while True:
        await asyncio.sleep(interval)
        try:
            while not state.flush(budget=_FLUSH_SLICE):
                await asyncio.sleep(0)  # let watch events and scrapes in between slices
        except Exception:  # a bug must not stop the series from updating for good
            log.exception("updating the cost series failed; retrying")


async def _refresh_nvml(nvml: NodeInventory, state: CostState, interval: float) -> None:
    """Re-read NVML off the event loop (its calls block); re-price the node when it changed."""
    while True:
        await asyncio.sleep(interval)
        try:
            if await asyncio.to_thread(nvml.refresh):
                state.refresh_nodes()
        except Exception:  # NVML errors are handled in refresh(); anything else: keep going
            log.exception("re-reading the GPU inventory failed; retrying")


class _PricingReloads:
    """Reloads of the pricing file and billing export: on SIGHUP and when they change. One at
    a time; the files are read in a worker thread (a month of billing rows takes seconds), and
    the nodes re-priced on the event loop, which owns the state."""

    def __init__(self, prices: PricingSource, state: CostState) -> None:
        self.prices = prices
        self.state = state
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, why: str) -> None:
        task = asyncio.get_running_loop().create_task(self.run(why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, why: str) -> None:
        async with self._lock:
            pricing = await asyncio.to_thread(self.prices.try_load, self.state.pricing, why)
            if pricing is not None:
                self.state.reprice(pricing)

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if await asyncio.to_thread(self.prices.changed):
                    await self.run("file changed")
            except Exception:  # a bug must not stop later reloads
                log.exception("checking the pricing files failed; retrying")


async def _run(
    args: argparse.Namespace, state: CostState, snap: Snapshot | None, nvml: NodeInventory | None = None,
    guard: WebGuard | None = None, prices: PricingSource | None = None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sources = []
    tasks: list[asyncio.Task[None]] = []
    # Files: ready once they have been applied (a failed load has exited with code 2 already).
    ready = lambda: state.last_update > 0
    if snap is None:
        from .kubeapi import load_configuration

        try:
            config = load_configuration(args.kubeconfig)
        except Exception as exc:  # noqa: BLE001 - any config failure is a usage error
            print(f"gpucost-exporter: error: {exc}", file=sys.stderr)
            return 2
        watcher, jobs = live_source(state, config, args.node_name)
        sources.append(watcher.metric_families)
        ready = watcher.synced
        tasks.extend(asyncio.create_task(job) for job in jobs)
    if nvml is not None:
        node_name = args.node_name
        sources.append(lambda: nvml.source.metric_families(node_name))
        tasks.append(asyncio.create_task(_refresh_nvml(nvml, state, args.nvml_refresh)))
    if guard is not None:
        sources.append(guard.metric_families)
    if prices is not None:
        sources.append(prices.metric_families)
        reloads = _PricingReloads(prices, state)
        loop.add_signal_handler(signal.SIGHUP, reloads.request, "SIGHUP")
        if args.reload_interval > 0:
            tasks.append(asyncio.create_task(reloads.watch(args.reload_interval)))
    exporter = Exporter(state, sources=sources, ready=ready, telemetry_path=args.telemetry_path)
    try:
        await serve(exporter, args.listen, stop, guard, notes=[prices.summary(state.pricing)] if prices else [])
    except OSError as exc:
        # asyncio words it "error while attempting to bind on address (...): ..."; the errno's
        # own text says the same in fewer words.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"gpucost-exporter: error: --web.listen-address {args.listen}: {reason}", file=sys.stderr)
        return 2
    finally:
        for t in tasks:
            t.cancel()
    return 0

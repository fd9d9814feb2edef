"""Command line: `gpucost-exporter` (also `python -m gpucost`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .configfile import ConfigError
from .nvml import NvmlSource, physical_gpus_and_model
from .pricing import PricingConfig, load_pricing
from .server import Exporter, parse_listen_address, serve
from .snapshot import Snapshot, SnapshotError, load_snapshot
from .state import CostState, Shard
from .webconfig import WebGuard

if TYPE_CHECKING:  # the kubernetes package is slow to import; --once and --demo never need it
    from .kubeapi import ClusterWatcher, WatchSettings

log = logging.getLogger("gpucost")

DEFAULT_LISTEN = ":9863"
#: Apply order: owners and namespaces first so pods render with their labels at once.
APPLY_ORDER = ("Namespace", "ReplicaSet", "Job", "Node", "Pod")


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
    p.add_argument("--once", action="store_true", help="print the exposition to stdout and exit")
    p.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN, metavar="ADDR",
                   help=f"address for /metrics, /healthz, /readyz (default {DEFAULT_LISTEN})")
    p.add_argument("--web.config.file", dest="web_config", metavar="PATH",
                   help="TLS, basic auth and headers (Prometheus exporter-toolkit format); re-read on change")
    p.add_argument("--log.level", dest="log_level", default="info",
                   choices=["debug", "info", "warning", "error"], help="log level (default info)")
    p.add_argument("--version", action="version", version=f"gpucost-exporter {__version__}")
    return p


def demo_dir() -> Path:
    """The bundled demo cluster: $GPUCOST_DEMO_DIR, the source tree, or the installed share."""
    candidates = [
        os.environ.get("GPUCOST_DEMO_DIR"),
        Path(__file__).resolve().parents[2] / "examples" / "demo",
        Path(sys.prefix) / "share" / "gpucost" / "demo",
    ]
    for c in candidates:
        if c and (Path(c) / "cluster.json").is_file():
            return Path(c)
    raise UsageError("--demo: cannot find the demo cluster (examples/demo/cluster.json); set GPUCOST_DEMO_DIR")


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
        """Re-read NVML; True when the inventory changed. Logs each failure reason once."""
        before = self.source.inventory
        if not self.source.refresh():
            err = self.source.last_error
            if err is not None and err.reason not in self._logged:
                self._logged.add(err.reason)
                log.warning("%s; using node labels for GPU inventory until NVML answers", err)
        return self.source.inventory != before


def load_state(args: argparse.Namespace, nvml: NodeInventory | None = None) -> tuple[CostState, Snapshot | None]:
    pricing_path = args.pricing_file
    files = list(args.from_file)
    if args.demo:
        d = demo_dir()
        files.insert(0, str(d / "cluster.json"))
        pricing_path = pricing_path or str(d / "pricing.yaml")
    pricing = load_pricing(pricing_path) if pricing_path else PricingConfig()
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
        for obj in objs:
            state.upsert(kind, obj)
    state.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check(args)
        logging.basicConfig(
            level=args.log_level.upper(), stream=sys.stderr,
            format="%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        )
        nvml = NodeInventory(args.node_name, NvmlSource()) if args.nvml else None
        if nvml is not None:
            nvml.refresh()
        state, snap = load_state(args, nvml)
        guard = WebGuard(args.web_config) if args.web_config and not args.once else None
    except (UsageError, ConfigError, SnapshotError) as exc:
        print(f"gpucost-exporter: error: {exc}", file=sys.stderr)
        return 2
    if args.once:
        extra = nvml.source.metric_families(args.node_name) if nvml is not None else ()
        sys.stdout.write(state.render(extra))
        return 0
    try:
        return asyncio.run(_run(args, state, snap, nvml, guard))
    except KeyboardInterrupt:
        return 0


def live_source(
    state: CostState, config: Any, node_name: str | None, settings: WatchSettings | None = None
) -> tuple[ClusterWatcher, list[Coroutine[Any, Any, None]]]:
    """Wire the Kubernetes watch into the state: the watcher (readiness, self-metrics) and the
    coroutines to run (the watches; a flush loop that keeps rendered series current)."""
    from .kubeapi import ClusterWatcher, WatchSettings  # noqa: F811 - the runtime import

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


async def _run(
    args: argparse.Namespace, state: CostState, snap: Snapshot | None, nvml: NodeInventory | None = None,
    guard: WebGuard | None = None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sources = []
    tasks: list[asyncio.Task[None]] = []
    ready = lambda: True
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
    exporter = Exporter(state, sources=sources, ready=ready)
    log.info("gpucost %s serving on %s", __version__, args.listen)
    try:
        await serve(exporter, args.listen, stop, guard)
    except OSError as exc:
        print(f"gpucost-exporter: error: --web.listen-address {args.listen}: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
        for t in tasks:
            t.cancel()
    return 0

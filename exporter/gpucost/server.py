"""HTTP: /metrics (plain or gzip), /healthz, /readyz and a landing page at /.

Besides the cost series, /metrics carries the exporter's own process and Python runtime
metrics (`process_*`, `python_gc_*`, `python_info`), as every client_python exporter does, so
its memory and file descriptors can be alerted on like node_exporter's.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import generate_latest

from . import __version__
from .basicauth import Verdict
from .exposition import CONTENT_TYPE, SMALL_FAMILY_BYTES, MetricFamily, gzip_member
from .logs import rfc3339
from .state import CostState
from .webconfig import WebGuard

log = logging.getLogger("gpucost.server")

FamilySource = Callable[[], Iterable[MetricFamily]]

_LANDING = """<!doctype html>
<html><head><meta charset="utf-8"><title>gpucost exporter</title></head>
<body>
<h1>gpucost exporter {version}</h1>
<p>Prometheus exporter that charges every Kubernetes pod for the CPU, memory and GPUs it
reserves, and reports per node the cost nobody reserved.</p>
<ul>
<li><a href="{metrics_href}">{metrics_path}</a> &mdash; cost series</li>
<li><a href="healthz">/healthz</a> &mdash; liveness</li>
<li><a href="readyz">/readyz</a> &mdash; ready once every source has synced</li>
</ul>
</body></html>
"""


def runtime_registry() -> CollectorRegistry:
    """client_python's process (Linux /proc), platform and garbage-collector collectors."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class Exporter:
    """Renders the state for scrapes.

    Concurrent scrapes (an HA Prometheus pair, a person with curl) that arrive while a render
    of the same encoding is under way wait for it and share its bytes. Compression of the
    blocks that changed runs in worker threads (ISA-L and zlib release the GIL), so watch events keep
    being applied during a scrape.
    """

    def __init__(
        self,
        state: CostState,
        *,
        sources: Iterable[FamilySource] = (),
        ready: Callable[[], bool] = lambda: True,
        telemetry_path: str = "/metrics",
        runtime: CollectorRegistry | None = None,
    ) -> None:
        self.state = state
        self.sources = list(sources)
        self.ready = ready
        self.telemetry_path = telemetry_path
        self.runtime = runtime if runtime is not None else runtime_registry()
        self._pending: dict[bool, asyncio.Future[bytes]] = {}
        self.renders = 0

    def _extra(self) -> list[MetricFamily]:
        return [family for source in self.sources for family in source()]

    def _runtime(self) -> bytes:
        """The process and runtime families: a few /proc reads, ~2 KB of text."""
        return generate_latest(self.runtime)

    async def body(self, gz: bool) -> bytes:
        """The exposition, gzip-compressed when `gz`; shared by scrapes that overlap."""
        pending = self._pending.get(gz)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[gz] = future
        try:
            data = await (self._gzip() if gz else self._plain())
            future.set_result(data)
            return data
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._pending[gz]

    async def _plain(self) -> bytes:
        self.renders += 1
        return self.state.render_bytes(self._extra()) + self._runtime()

    async def _gzip(self) -> bytes:
        self.renders += 1
        started = time.perf_counter()
        self.state.flush()
        families = self.state.families()
        jobs = [
            (family, block, version, text)
            for family in families if family.size() >= SMALL_FAMILY_BYTES
            for block, version, text in family.stale_blocks()
        ]
        if jobs:
            # deflate releases the GIL: spread the blocks over the cores.
            texts = [text for *_, text in jobs]
            step = -(-len(texts) // _COMPRESS_THREADS)
            chunks = await asyncio.gather(*(
                asyncio.to_thread(_compress_all, texts[i:i + step]) for i in range(0, len(texts), step)
            ))
            members = [member for chunk in chunks for member in chunk]
            for (family, block, version, _), member in zip(jobs, members, strict=True):
                family.store_gzip(block, version, member)
        # Assemble on the event loop: families only change in flush(), so this is one state.
        parts: list[bytes] = []
        for family in families:
            if family.size() >= SMALL_FAMILY_BYTES:
                parts.extend(family.gzip_members())
            elif family.size():
                parts.append(gzip_member(family.text()))
        parts.append(gzip_member(self.state.tail(self._extra(), started) + self._runtime()))
        return b"".join(parts)

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        gz = "gzip" in request.headers.get("Accept-Encoding", "")
        data = await self.body(gz)
        headers = {"Content-Type": CONTENT_TYPE}
        if gz:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=data, headers=headers)

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, _request: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: sources have not synced yet\n")

    async def landing(self, _request: web.Request) -> web.Response:
        page = _LANDING.format(version=__version__, metrics_href=self.telemetry_path.lstrip("/"),
                               metrics_path=self.telemetry_path)
        return web.Response(text=page, content_type="text/html")

    def app(self, guard: WebGuard | None = None) -> web.Application:
        app = web.Application(middlewares=[_guard_middleware(guard)] if guard is not None else [])
        app.router.add_get(self.telemetry_path, self.metrics)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/", self.landing)
        return app


_COMPRESS_THREADS = max(1, min(4, os.cpu_count() or 1))


def _guard_middleware(guard: WebGuard) -> Any:
    """Basic auth and response headers from the web config, re-read when the file changes."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        guard.maybe_reload()
        config = guard.config
        verdict = await _verdict(guard, request) if config.basic_auth_users else Verdict.GRANTED
        response: web.StreamResponse
        if verdict is Verdict.GRANTED:
            response = await handler(request)
        elif verdict is Verdict.BUSY:
            response = web.Response(status=429, text="Too Many Requests: authentication is busy\n",
                                    headers={"Retry-After": "1"})
        else:
            response = web.Response(
                status=401, text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="gpucost"'}
            )
        response.headers.update(config.headers)
        return response

    return middleware


async def _verdict(guard: WebGuard, request: web.Request) -> Verdict:
    """Malformed credentials (not base64, not UTF-8, no colon) are refused like wrong ones."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return Verdict.REFUSED
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return Verdict.REFUSED
    if not sep:
        return Verdict.REFUSED
    # Cached verdicts come back at once; bcrypt runs off the event loop, bounded.
    return await guard.auth.verdict(user, password)


def _compress_all(texts: list[bytes]) -> list[bytes]:
    return [gzip_member(text) for text in texts]


def parse_listen_address(address: str) -> tuple[str, int]:
    """`:9863`, `0.0.0.0:9863`, `[::1]:9863` -> (host, port); host "" means all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--web.listen-address: expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


async def serve(exporter: Exporter, address: str, stop: asyncio.Event, guard: WebGuard | None = None,
                notes: Sequence[str] = ()) -> None:
    """Serve until `stop` is set. A listen address that cannot be bound raises OSError before
    anything is logged, so the log never claims a server that is not there; once listening, the
    `notes` (where the prices come from) are logged after that line."""
    host, port = parse_listen_address(address)
    runner = web.AppRunner(exporter.app(guard), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or None, port, ssl_context=guard.ssl_context if guard else None)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("gpucost %s listening on %s%s (started %s)", __version__, address, exporter.telemetry_path,
             rfc3339(time.time()))
    for note in notes:
        log.info("%s", note)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

"""HTTP: /metrics (plain or gzip), /healthz, /readyz and a landing page at /."""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections.abc import Callable, Iterable

from aiohttp import web

from . import __version__
from .exposition import CONTENT_TYPE, MetricFamily
from .state import CostState

log = logging.getLogger("gpucost.server")

FamilySource = Callable[[], Iterable[MetricFamily]]

_LANDING = """<!doctype html>
<html><head><meta charset="utf-8"><title>gpucost exporter</title></head>
<body>
<h1>gpucost exporter {version}</h1>
<p>Prometheus exporter that charges every Kubernetes pod for the CPU, memory and GPUs it
reserves, and reports per node the cost nobody reserved.</p>
<ul>
<li><a href="metrics">/metrics</a> &mdash; cost series</li>
<li><a href="healthz">/healthz</a> &mdash; liveness</li>
<li><a href="readyz">/readyz</a> &mdash; ready once every source has synced</li>
</ul>
</body></html>
"""


class Exporter:
    """Renders the state for scrapes. Concurrent scrapes of the same state share one render."""

    def __init__(
        self,
        state: CostState,
        *,
        sources: Iterable[FamilySource] = (),
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.state = state
        self.sources = list(sources)
        self.ready = ready
        self._pending: asyncio.Future[bytes] | None = None
        self.scrapes = 0

    def render(self) -> bytes:
        extra = [family for source in self.sources for family in source()]
        return self.state.render(extra).encode()

    async def body(self) -> bytes:
        """The exposition; a scrape arriving while another renders waits for that render."""
        if self._pending is not None:
            return await asyncio.shield(self._pending)
        loop = asyncio.get_running_loop()
        self._pending = loop.create_future()
        try:
            data = self.render()
            self._pending.set_result(data)
            return data
        except BaseException as exc:
            self._pending.set_exception(exc)
            raise
        finally:
            self._pending = None

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        self.scrapes += 1
        data = await self.body()
        headers = {"Content-Type": CONTENT_TYPE}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=data, headers=headers)

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, _request: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: sources have not synced yet\n")

    async def landing(self, _request: web.Request) -> web.Response:
        return web.Response(text=_LANDING.format(version=__version__), content_type="text/html")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/", self.landing)
        return app


def parse_listen_address(address: str) -> tuple[str, int]:
    """`:9863`, `0.0.0.0:9863`, `[::1]:9863` -> (host, port); host "" means all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--web.listen-address: expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


async def serve(exporter: Exporter, address: str, stop: asyncio.Event) -> None:
    host, port = parse_listen_address(address)
    runner = web.AppRunner(exporter.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or None, port)
    await site.start()
    log.info("listening on %s (started %.0f)", address, time.time())
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

"""Issue 15: basic auth that holds under hostile requests, on the real aiohttp server.

Oversized and malformed credentials are 401 (a password over bcrypt's 72 bytes was a 500: the
bcrypt library raises); an already-authorised scrape is answered from the cache while a flood
of wrong passwords waits for bcrypt, and the flood's backlog is bounded (429 beyond it)."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from gpucost.basicauth import HASH_BACKLOG, HASH_CONCURRENCY
from gpucost.server import Exporter, serve
from gpucost.webconfig import WebGuard

from builders import container, engine, node, pod

PASSWORD = "s3cret"


def header(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(tmp_path: Path, rounds: int) -> tuple[WebGuard, str, asyncio.Event, asyncio.Task[None]]:
    config = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    config.write_text(f"basic_auth_users:\n  prometheus: {hashed}\n")
    guard = WebGuard(str(config))
    exporter = Exporter(engine([node("n1", cpu="4"), pod("p", "n1", container(cpu="1"))]),
                        sources=[guard.metric_families])
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve(exporter, f"127.0.0.1:{port}", stop, guard))
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as http:
        for _ in range(200):  # wait for the listener
            try:
                async with http.get(url) as resp:
                    await resp.read()
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
    return guard, url, stop, server


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[WebGuard, str]]:
    guard, url, stop, server = await start(tmp_path, rounds=4)
    yield guard, url
    stop.set()
    await server


CREDENTIALS = [
    # (what, raw Authorization header value, status)
    ("password over bcrypt's 72 bytes", header(b"prometheus:" + b"x" * 73), 401),
    ("73 bytes that start with the password", header(f"prometheus:{PASSWORD}".encode() + b"x" * 67), 401),
    ("multi-byte password over 72 bytes", header(b"prometheus:" + "\u00e9".encode() * 40), 401),
    ("NUL in the password", header(f"prometheus:{PASSWORD}\0".encode()), 401),
    ("not base64", {"Authorization": "Basic !!!not-base64!!!"}, 401),
    ("not UTF-8", header(b"prometheus:\xff\xfe"), 401),
    ("no colon", header(b"prometheus"), 401),
    ("empty", {"Authorization": "Basic "}, 401),
    ("another scheme", {"Authorization": f"Bearer {PASSWORD}"}, 401),
    ("unknown user", header(f"grafana:{PASSWORD}".encode()), 401),
    ("unknown user, long password", header(b"grafana:" + b"x" * 100), 401),
    ("the right one", header(f"prometheus:{PASSWORD}".encode()), 200),
]


@pytest.mark.parametrize(("what", "headers", "status"), CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
async def test_malformed_and_oversized_credentials_are_401(
    site: tuple[WebGuard, str], what: str, headers: dict[str, str], status: int
) -> None:
    _, url = site
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        await resp.read()
        assert resp.status == status, what
        if status == 401:
            assert resp.headers["WWW-Authenticate"] == 'Basic realm="gpucost"'


async def test_an_authorised_scrape_is_served_during_a_wrong_password_flood(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    # Cost 10 (~70 ms a check here): a flood of FLOOD wrong passwords is seconds of bcrypt.
    guard, url, stop, server = await start(tmp_path, rounds=10)
    flood = HASH_BACKLOG + HASH_CONCURRENCY + 15  # 15 more than can wait: those get 429
    done: list[int] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

            async def get(headers: dict[str, str]) -> int:
                async with http.get(url, headers=headers) as resp:
                    await resp.read()
                    return resp.status

            assert await get(header(f"prometheus:{PASSWORD}".encode())) == 200  # now cached

            async def wrong(i: int) -> None:
                done.append(await get(header(f"prometheus:wrong-{i}".encode())))

            attack = [asyncio.create_task(wrong(i)) for i in range(flood)]
            await asyncio.sleep(0.3)  # let the flood reach the server and queue for bcrypt
            started = time.perf_counter()
            status = await get(header(f"prometheus:{PASSWORD}".encode()))
            latency = time.perf_counter() - started
            refused_when_served = done.count(401)
            await asyncio.gather(*attack)
            async with http.get(url, headers=header(f"prometheus:{PASSWORD}".encode())) as resp:
                body = await resp.text()
    finally:
        stop.set()
        await server
    record_property("authorised_scrape_latency_s", round(latency, 4))
    print(f"authorised scrape during a flood of {flood}: {latency * 1000:.1f} ms; "
          f"{refused_when_served} wrong passwords had been answered by then")
    assert status == 200
    # Served from the cache, ahead of the queued bcrypt checks: before the guard, it waited
    # in the same thread queue behind the flood (about 5 s in the probe).
    assert refused_when_served < flood // 2
    # The backlog is bounded: checks beyond it are refused as busy, and counted.
    busy = done.count(429)
    assert busy >= flood - HASH_BACKLOG - HASH_CONCURRENCY - 5 and done.count(401) + busy == flood
    assert f"gpucost_web_auth_busy_total {busy}\n" in body
    assert guard.auth.waiting == 0 and guard.auth.hashing == 0

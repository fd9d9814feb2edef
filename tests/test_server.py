"""The scrape path: gzip of cached blocks equals the plain text, overlapping scrapes share one
render, and the event loop keeps applying watch events while a scrape compresses."""

from __future__ import annotations

import asyncio
import gzip
import re
import shutil
import subprocess
import threading

import pytest

from gpucost import server
from gpucost.server import Exporter

from builders import container, decode, engine, node, pod


def big_cluster(pods: int = 8000) -> list[dict]:
    # enough pods that the cpu and memory families pass SMALL_FAMILY_BYTES (1 MiB)
    nodes = [node(f"node-{i:03d}", cpu="64", memory="256Gi") for i in range(pods // 50)]
    return nodes + [
        pod(f"app-{i:05d}", f"node-{i // 50:03d}", container(cpu="250m", memory="512Mi"), namespace=f"ns-{i % 40}")
        for i in range(pods)
    ]


#: Lines whose values change between two renders: the scrape's own duration, and the process
#: and runtime families (CPU seconds, memory, garbage collections).
_MOVING = re.compile(rb"^(# (HELP|TYPE) )?(gpucost_scrape_duration_seconds|process_|python_gc_)")


def stable(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines() if not _MOVING.match(line)]


async def test_gzip_members_decode_to_the_plain_exposition() -> None:
    objs = big_cluster()
    state = engine(objs)
    exporter = Exporter(state)
    zipped = await exporter.body(True)
    plain = await exporter.body(False)
    assert stable(gzip.decompress(zipped)) == stable(plain)
    assert plain.count(b"\ngpucost_pod_cpu_cost_per_hour{") == 8000
    assert state.families()[0].size() > 1 << 20  # the blocked path was taken
    # Change one pod: the next scrape shows it, and only its block was recompressed.
    fam = state.families()[0]
    cached_before = sum(m is not None for m in fam.gzips)
    changed = dict(objs[-1])
    changed["spec"] = {**changed["spec"], "containers": [container(cpu="4", memory="512Mi")]}
    state.upsert("Pod", decode(changed))
    state.flush()
    assert sum(m is not None for m in fam.gzips) == cached_before - 1
    text = gzip.decompress(await exporter.body(True))
    # 4 of 64 cores at the default 0.031611 $/core-h: 64 x 0.031611 x 4/64
    line = [x for x in text.splitlines() if b'pod="app-07999"' in x and x.startswith(b"gpucost_pod_cpu")][0]
    assert float(line.rsplit(b" ", 1)[1]) == pytest.approx(4 * 0.031611)
    assert stable(text) == stable(await exporter.body(False))


async def test_overlapping_scrapes_share_one_render() -> None:
    exporter = Exporter(engine(big_cluster()))
    results = await asyncio.gather(*(exporter.body(True) for _ in range(3)), exporter.body(False))
    assert results[0] == results[1] == results[2]
    assert exporter.renders == 2  # one gzip render shared by three scrapes, one plain


async def test_watch_events_flow_while_a_scrape_compresses(monkeypatch: pytest.MonkeyPatch) -> None:
    state = engine(big_cluster())
    exporter = Exporter(state)
    applied = threading.Event()
    real = server._compress_all

    calls = []

    def slow_compress(texts: list[bytes]) -> list[bytes]:
        # The scrape's compression cannot finish until the event loop has applied an event.
        calls.append(len(texts))
        assert applied.wait(timeout=30), "the event loop was blocked during compression"
        return real(texts)

    monkeypatch.setattr(server, "_compress_all", slow_compress)

    async def watch_event() -> None:
        await asyncio.sleep(0)
        state.upsert("Pod", decode(pod("late", "node-000", container(cpu="1"))))
        applied.set()

    scrape = asyncio.create_task(exporter.body(True))
    await watch_event()
    data = await asyncio.wait_for(scrape, timeout=60)
    assert gzip.decompress(data).startswith(b"# HELP gpucost_pod_cpu_cost_per_hour")
    assert calls and calls[0] > 100  # the blocks were compressed in the worker thread
    # the event shows up in the next scrape
    assert b'pod="late"' in gzip.decompress(await exporter.body(True))


def test_flush_in_slices_ends_where_a_full_flush_does() -> None:
    # The background flush renders 5,000 pods at a time, yielding to the event loop between
    # slices; the result must be the same exposition a single full flush gives.
    objs = big_cluster(2500)
    sliced, whole = engine([]), engine([])
    for state in (sliced, whole):
        for obj in objs:
            state.upsert(obj["kind"], decode(obj))
    slices = 0
    while not sliced.flush(budget=1000):
        slices += 1
    whole.flush()
    assert slices == 2  # 2,500 pods: 1,000 + 1,000, then the last 500 completes it
    assert stable(sliced.render().encode()) == stable(whole.render().encode())


def families(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


async def test_process_and_runtime_metrics_follow_the_cost_series_once() -> None:
    # Issue 14, item 5: client_python's process, platform and GC collectors, appended to the
    # custom-rendered exposition, in both encodings, without a family appearing twice.
    exporter = Exporter(engine(big_cluster(100)))
    for gz in (False, True):
        body = await exporter.body(gz)
        text = (gzip.decompress(body) if gz else body).decode()
        names = families(text)
        assert len(names) == len(set(names)), "a family appears twice"
        assert {"process_resident_memory_bytes", "process_open_fds", "process_max_fds",
                "process_cpu_seconds_total", "process_start_time_seconds", "python_info",
                "python_gc_collections_total"} <= set(names)
        assert names.index("gpucost_scrape_duration_seconds") < names.index("process_resident_memory_bytes")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
async def test_promtool_accepts_the_whole_exposition() -> None:
    body = await Exporter(engine(big_cluster(100))).body(False)
    out = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert out.returncode == 0, (out.stdout + out.stderr).decode()

"""A small run of the scale benchmark: it still works end to end, and the fast scrape path and
the prometheus_client baseline serve identical samples. No timing is asserted here; timings
belong to `python -m bench.run` and docs/performance.md."""

from __future__ import annotations

import pytest

from bench import run


def test_small_benchmark_run(capsys: pytest.CaptureFixture[str]) -> None:
    report = run.main([
        "--pods", "600", "--memory-sizes", "300,600,900", "--scrapes", "2",
        "--baseline-scrapes", "1", "--events", "400",
    ])
    out = capsys.readouterr().out
    assert report.identical is True
    assert report.same_in_fresh_process is True  # the measured syncs rendered what the scrapes serve
    assert report.samples > 1200  # at least cpu + memory for every counted pod
    measures = [r.what for r in report.rows]
    for expected in ("cold sync", "scrape plain", "scrape gzip", "watch", "memory (RSS)", "memory growth"):
        assert any(m.startswith(expected) for m in measures), expected
    assert "| measure" in out and "fast path and baseline serve identical samples: True" in out

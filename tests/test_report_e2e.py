"""End to end: `gpucost-report` against a real Prometheus holding 32 days of gpucost history.

The history (tests/report_history.py) is backfilled with `promtool tsdb create-blocks-from
openmetrics`; Prometheus serves it on a free port. Every cell of every report is compared
with spend worked out here from the generated samples, and a few cells with figures worked
by hand (report_history's docstring).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import report_history as h
import report_prometheus

from gpucost.report.cli import main
from gpucost.report.dimensions import Dimensions
from gpucost.report.promapi import Connection, PrometheusClient
from gpucost.report.spend import Integrator, SpendQuery, range_start_inclusive

pytestmark = pytest.mark.prometheus

UTC = timezone.utc
SEPTEMBER = (datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC))
# In-process reports read the clock as the end of the history (--last 7d is its last week).
NOW = h.END
# Small enough that a one-day chunk of one series (144 samples) is refused and split, large
# enough for a 12-hour chunk (72 samples per series, plus the results).
MAX_SAMPLES = 120
GPU_MODEL = {(n.cluster, n.name): n.gpu_model for n in h.NODES}


@dataclass
class Served:
    url: str
    series: list[h.Series]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("report-e2e")
    series = h.history()
    try:
        data = report_prometheus.backfill(h.openmetrics(series), work)
        prom = report_prometheus.start(data, work, f"--query.max-samples={MAX_SAMPLES}")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield Served(prom.url, series)
    prom.stop()


def report(served: Served, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["--prometheus", served.url, *argv], now=NOW)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""  # no progress line: stderr is not a terminal
    return out


# ---- The expected report, worked out from the samples -----------------------------------

Cells = dict[str, Any]
COLUMNS = ("cpu", "memory", "gpu", "total", "gpu_hours", "unused_gpu")


def _add_or_none(values: list[float | None]) -> float | None:
    """Sum of the cells that have a value; None when none has (no data is not zero)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _key(by: list[str], labels: dict[str, str]) -> tuple[str, ...]:
    out = []
    for column in by:
        if column == "owner":
            kind, name = labels.get("owner_kind", ""), labels.get("owner_name", "")
            out.append(f"{kind}/{name}" if kind or name else "")
        elif column == "gpu_model":
            out.append(GPU_MODEL[(labels["cluster"], labels["node"])])
        else:
            out.append(labels.get(column, ""))
    return tuple(out)


def expected(served: Served, start: datetime, end: datetime, by: list[str],
             idle: str = "separate", keep: Callable[[dict[str, str]], bool] = lambda _: True,
             top: int | None = None) -> list[tuple[tuple[str, ...], Cells]]:
    """The rows in report order: pods by total (largest first), __other__, idle by name.

    unused_gpu: the recorded unused-cost samples x EVAL_S (the rules' interval, not the
    scrape's), None on rows without any; every cell None when the rules recorded nothing in
    the period (the whole cluster, filter or not).
    """
    kept = [s for s in served.series if keep(s.labels)]
    pods = h.spend_by(kept, start, end, lambda labels: _key(by, labels), h.POD_COLUMNS)
    unused = (h.spend_by(kept, start, end, lambda labels: _key(by, labels), h.UNUSED_COLUMNS,
                         step_s=h.EVAL_S) if h.has_unused(served.series, start, end) else {})
    rows: dict[tuple[str, ...], Cells] = {
        k: {c: pods.get(k, {}).get(c, 0.0) for c in ("cpu", "memory", "gpu", "gpu_hours")}
        for k in {*pods, *unused}}
    for k, row in rows.items():
        row["unused_gpu"] = unused[k]["unused_gpu"] if k in unused else None
    idle_rows: dict[tuple[str, ...], Cells] = {}
    idle_cost = h.idle_by_cluster(served.series, start, end)
    if idle == "separate":
        for cluster, cols in idle_cost.items():
            k = tuple(cluster if c == "cluster" else "__idle__" for c in by)
            row = idle_rows.setdefault(k, {"cpu": 0.0, "memory": 0.0, "gpu": 0.0, "gpu_hours": None,
                                           "unused_gpu": None})
            for r, v in cols.items():
                row[r] += v
    elif idle == "shared":
        # Each row takes idle x (its cost / the pool's cost of all pods, filter or not),
        # per resource; the pool is the cluster where `cluster` is a column, else everything.
        def pool(cluster: str) -> str:
            return cluster if "cluster" in by else ""
        pool_idle: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for cluster, cols in idle_cost.items():
            for r, v in cols.items():
                pool_idle[pool(cluster)][r] += v
        pool_cost = h.spend_by(served.series, start, end, lambda labels: (pool(labels["cluster"]),),
                               h.POD_COLUMNS)
        for k, row in rows.items():
            p = k[by.index("cluster")] if "cluster" in by else ""
            for r in ("cpu", "memory", "gpu"):
                if pool_cost[(p,)][r] > 0:
                    row[r] += pool_idle[p][r] * row[r] / pool_cost[(p,)][r]
    for row in [*rows.values(), *idle_rows.values()]:
        row["total"] = row["cpu"] + row["memory"] + row["gpu"]
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1]["total"], kv[0]))
    if top is not None and len(ordered) > top:
        other: Cells = {c: _add_or_none([r[c] for _, r in ordered[top:]]) for c in COLUMNS}
        ordered = [*ordered[:top], (tuple("__other__" for _ in by), other)]
    return ordered + sorted(idle_rows.items())


def _totals(rows: list[tuple[tuple[str, ...], Cells]]) -> Cells:
    return {c: _add_or_none([r[c] for _, r in rows]) for c in COLUMNS}


def assert_rows(got: list[tuple[tuple[str, ...], Cells]], want: list[tuple[tuple[str, ...], Cells]],
                abs_tol: float = 2e-6) -> None:
    assert [k for k, _ in got] == [k for k, _ in want]
    for (key, g), (_, w) in zip(got, want, strict=True):
        for column in COLUMNS:
            if w[column] is None:
                assert g[column] is None, (key, column)
            else:
                assert math.isclose(g[column], w[column], rel_tol=1e-9, abs_tol=abs_tol), \
                    (key, column, g[column], w[column])


# ---- Reading each format back ------------------------------------------------------------


def parse_json(text: str, by: list[str]) -> tuple[list[tuple[tuple[str, ...], Cells]], Cells, dict[str, Any]]:
    doc = json.loads(text)
    assert doc["by"] == by
    rows = [(tuple(r[c] for c in by), r) for r in doc["rows"]]
    return rows, doc["totals"], doc


def parse_csv(text: str, by: list[str]) -> tuple[list[tuple[tuple[str, ...], Cells]], Cells]:
    records = list(csv.reader(io.StringIO(text)))
    assert records[0] == [*by, *COLUMNS]  # unused_gpu always, empty where there is no data
    parsed = []
    for rec in records[1:]:
        cells: Cells = {c: float(v) for c, v in zip(("cpu", "memory", "gpu", "total"), rec[len(by):len(by) + 4], strict=True)}
        cells["gpu_hours"] = float(rec[-2]) if rec[-2] else None
        cells["unused_gpu"] = float(rec[-1]) if rec[-1] else None
        parsed.append((tuple(rec[:len(by)]), cells))
    assert parsed[-1][0][0] == "__total__"
    return parsed[:-1], parsed[-1][1]


def _number(text: str) -> float | None:
    text = text.strip().strip("*").replace(",", "")
    return float(text) if text else None


def _shown_columns(header: list[str]) -> tuple[str, ...]:
    """The number columns a table or Markdown header shows: unused_gpu only with data."""
    names = tuple(c.removesuffix(" (USD)") for c in header)
    assert names in (COLUMNS, COLUMNS[:-1]), header
    return names


def _with_unused(cells: Cells) -> Cells:
    return {"unused_gpu": None, **cells}


def parse_markdown(text: str, by: list[str]) -> tuple[list[tuple[tuple[str, ...], Cells]], Cells]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    assert split[0][:len(by)] == by and split[0][len(by)] == "cpu (USD)"
    shown = _shown_columns(split[0][len(by):])
    assert set(split[1][len(by):]) == {"---:"}
    rows = [(tuple(c.strip("*") for c in cells[:len(by)]),
             _with_unused({col: _number(v) for col, v in zip(shown, cells[len(by):], strict=True)}))
            for cells in split[2:]]
    return rows[:-1], rows[-1][1]


def parse_table(text: str, by: list[str]) -> tuple[list[tuple[tuple[str, ...], Cells]], Cells]:
    """The aligned table: columns are where the header's dashes say they are."""
    lines = text.splitlines()
    rule_at = next(i for i, line in enumerate(lines) if line.startswith("---"))
    spans = [m.span() for m in re.finditer(r"-+", lines[rule_at])]
    header = [lines[rule_at - 1][a:b].strip() for a, b in spans]
    assert header[:len(by)] == by
    shown = _shown_columns(header[len(by):])
    body = [line for line in lines[rule_at + 1:] if not line.startswith("---")]
    for line in body:  # right-aligned numbers end exactly at their column's end
        for a, b in spans[len(by):]:
            assert line[b - 1:b] != " " or not line[a:b].strip(), line
    rows = [(tuple(line[a:b].strip() for a, b in spans[:len(by)]),
             _with_unused({col: _number(line[a:b]) for col, (a, b) in zip(shown, spans[len(by):], strict=True)}))
            for line in body]
    return rows[:-1], rows[-1][1]


# ---- Every cell against the samples -------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
CASES = [
    # (flags, by, period [start, end), idle, pod-series filter, top)
    (["--month", "2025-09", "--by", "team"], ["team"], SEPTEMBER, "separate", None, None),
    (["--month", "2025-09", "--tz", "Europe/Berlin", "--by", "namespace,owner"],
     ["namespace", "owner"],
     (datetime(2025, 9, 1, tzinfo=BERLIN), datetime(2025, 10, 1, tzinfo=BERLIN)), "separate", None, None),
    # A date in --to includes that day: [Sep 8, Sep 15).
    (["--from", "2025-09-08", "--to", "2025-09-14", "--by", "node"], ["node"],
     (datetime(2025, 9, 8, tzinfo=UTC), datetime(2025, 9, 15, tzinfo=UTC)), "separate", None, None),
    (["--month", "2025-09", "--by", "cluster,gpu_model"], ["cluster", "gpu_model"], SEPTEMBER,
     "separate", None, None),
    (["--month", "2025-09", "--by", "team", "--idle", "shared"], ["team"], SEPTEMBER, "shared", None, None),
    (["--month", "2025-09", "--by", "cluster,team", "--idle", "shared"], ["cluster", "team"], SEPTEMBER,
     "shared", None, None),
    (["--month", "2025-09", "--by", "owner", "--idle", "shared", "--filter", 'namespace=~"ml-.*"'],
     ["namespace", "owner"], SEPTEMBER, "shared", lambda lb: lb.get("namespace", "").startswith("ml-"), None),
    (["--month", "2025-09", "--by", "cluster,team", "--idle", "hidden", "--top", "2"], ["cluster", "team"],
     SEPTEMBER, "hidden", None, 2),
    (["--last", "7d", "--by", "product", "--filter", 'team!="data"'], ["product"],
     (datetime(2025, 9, 25, tzinfo=UTC), NOW), "separate", lambda lb: lb.get("team") != "data", None),
    # A month reaching past now is cut at now.
    (["--month", "2025-10", "--by", "team"], ["team"], (datetime(2025, 10, 1, tzinfo=UTC), NOW),
     "separate", None, None),
    (["--from", "2025-09-20T03:00:00+02:00", "--to", "2025-09-21T00:00:00Z", "--by", "namespace"],
     ["namespace"], (datetime(2025, 9, 20, 1, tzinfo=UTC), datetime(2025, 9, 21, tzinfo=UTC)), "separate",
     None, None),
    # Before dcgm-exporter was installed (Sep 3): no unused GPU data, every unused_gpu cell null.
    (["--from", "2025-08-31", "--to", "2025-09-01", "--by", "namespace,owner"], ["namespace", "owner"],
     (datetime(2025, 8, 31, tzinfo=UTC), datetime(2025, 9, 2, tzinfo=UTC)), "separate", None, None),
    (["--month", "2025-09", "--by", "cluster,node", "--sort", "unused_gpu"], ["cluster", "node"], SEPTEMBER,
     "separate", None, None),
]


@pytest.mark.parametrize(("flags", "by", "period", "idle", "keep", "top"), CASES,
                         ids=[" ".join(c[0]) for c in CASES])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_every_cell_equals_the_spend_of_the_samples(
        served: Served, capsys: pytest.CaptureFixture[str], fmt: str, flags: list[str], by: list[str],
        period: tuple[datetime, datetime], idle: str, keep: Callable[[dict[str, str]], bool] | None,
        top: int | None) -> None:
    out = report(served, capsys, *flags, "--format", fmt)
    want = expected(served, *period, by, idle, keep or (lambda _: True), top)
    if "--sort" in flags:  # largest unused GPU cost first, rows without any after, by name
        pods = [kv for kv in want if kv[0][-1] != "__idle__"]
        want = sorted(pods, key=lambda kv: (-(kv[1]["unused_gpu"] or 0.0), kv[0])) + want[len(pods):]
    if fmt == "json":
        rows, totals, doc = parse_json(out, by)
        assert doc["unused_step_seconds"] == (h.EVAL_S if h.has_unused(served.series, *period) else None)
    else:
        rows, totals = parse_csv(out, by)
    assert_rows(rows, want)
    assert_rows([(("",), totals)], [(("",), _totals(want))], abs_tol=1e-5)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_table_and_markdown_show_the_same_cells_rounded(
        served: Served, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    by = ["cluster", "team"]
    out = report(served, capsys, "--month", "2025-09", "--by", "cluster,team", "--format", fmt)
    rows, totals = (parse_table if fmt == "table" else parse_markdown)(out, by)
    want = expected(served, *SEPTEMBER, by)
    # Money to the cent, GPU-hours to a tenth.
    assert [k for k, _ in rows] == [k for k, _ in want]
    for (key, g), (_, w) in zip([*rows, (("",), totals)], [*want, (("",), _totals(want))], strict=True):
        for column, tol in (("cpu", 0.005), ("memory", 0.005), ("gpu", 0.005), ("total", 0.005), ("gpu_hours", 0.05),
                            ("unused_gpu", 0.005)):
            if w[column] is None:
                assert g[column] is None
            else:
                assert abs(g[column] - w[column]) <= tol + 1e-9, (key, column, g[column], w[column])
    assert "step 600s; unused GPU step 240s" in out and "month 2025-09" in out
    assert "unused_gpu (USD)" in out


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_without_utilization_data_table_and_markdown_leave_the_column_out(
        served: Served, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    # dcgm-exporter comes on Sep 3: nothing recorded on Aug 31 and Sep 1.
    out = report(served, capsys, "--from", "2025-08-31", "--to", "2025-09-01", "--by", "team", "--format", fmt)
    rows, totals = (parse_table if fmt == "table" else parse_markdown)(out, ["team"])
    assert "unused" not in out
    want = expected(served, datetime(2025, 8, 31, tzinfo=UTC), datetime(2025, 9, 2, tzinfo=UTC), ["team"])
    assert [k for k, _ in rows] == [k for k, _ in want]
    assert all(r["unused_gpu"] is None for _, r in want)


def test_hand_worked_figures(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    rows, _, doc = parse_json(report(served, capsys, "--month", "2025-09", "--by", "owner", "--format", "json"),
                              ["namespace", "owner"])
    cells = dict(rows)
    # The 3-day Job: 72 h x 12.80 = 921.60 GPU, x 0.25 = 18 CPU, x 0.125 = 9 memory, 72 x 4 GPU-hours.
    job = cells[("ml-research", "Job/train-3d")]
    assert (job["cpu"], job["memory"], job["gpu"], job["total"], job["gpu_hours"]) == \
        pytest.approx((18.0, 9.0, 921.6, 948.6, 288.0), abs=1e-6)
    # web's api: 720 h - 1/6 h (restart) - 6 h (outage) = 713.8333 h at 0.10 and 0.03.
    api = cells[("web", "Deployment/api")]
    assert (api["cpu"], api["memory"]) == pytest.approx((71.383333, 21.415), abs=1e-6)
    assert doc["currency"] == "USD" and doc["step_seconds"] == 600
    # 4320 scrapes in September, 37 missing in both clusters.
    assert doc["coverage"] == pytest.approx(4283 / 4320, abs=1e-6)
    assert doc["period"] == {"start": "2025-09-01T00:00:00+00:00", "end": "2025-10-01T00:00:00+00:00",
                             "label": "month 2025-09"}
    # Unused GPU cost, each sample standing for the rules' 240 s: the Job 76.80 + 153.60 +
    # 28.80 (its third day less the 6-hour dcgm gap) = 259.20; a CPU-only workload has none.
    assert doc["unused_step_seconds"] == 240
    assert job["unused_gpu"] == pytest.approx(259.2, abs=1e-6)
    assert api["unused_gpu"] is None
    # infer (0.60/h unused): 293.8 h as team ml, 366 h as team serving (report_history).
    assert cells[("ml-serve", "Deployment/infer")]["unused_gpu"] == pytest.approx(176.28 + 219.6, abs=1e-6)
    assert doc["totals"]["unused_gpu"] == pytest.approx(259.2 + 176.28 + 219.6, abs=1e-6)


def test_the_team_label_change_splits_the_pod_between_teams(served: Served,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    rows, _, _ = parse_json(report(served, capsys, "--month", "2025-09", "--by", "team",
                                   "--filter", 'namespace="ml-serve"', "--idle", "hidden",
                                   "--format", "json"), ["team"])
    # infer costs 0.05 + 0.02 + 0.80 = 0.87/h. ml until Sep 15 12:00: 348 h - 1/6 h (restart)
    # = 347.8333 h -> 302.76 - 0.145 = 302.615; serving after: 372 h - 6 h (outage) = 366 h -> 318.42.
    assert {k: r["total"] for k, r in rows} == pytest.approx({("ml",): 302.615, ("serving",): 318.42}, abs=1e-6)
    # Unused GPU cost splits at the same moment: 293.8 h x 0.60 = 176.28, 366 h x 0.60 = 219.60.
    assert {k: r["unused_gpu"] for k, r in rows} == pytest.approx({("ml",): 176.28, ("serving",): 219.6}, abs=1e-6)


def test_consecutive_periods_add_up_to_the_whole(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    # Samples lie on the boundary (10-minute grid, midnight): each must count exactly once.
    def by_ns(*flags: str) -> dict[tuple[str, ...], Cells]:
        rows, _, _ = parse_json(report(served, capsys, *flags, "--by", "namespace", "--format", "json"),
                                ["namespace"])
        return dict(rows)

    first = by_ns("--from", "2025-09-01", "--to", "2025-09-15T00:00:00Z")
    second = by_ns("--from", "2025-09-15", "--to", "2025-09-30")
    whole = by_ns("--month", "2025-09")
    for key, cells in whole.items():
        for column in ("cpu", "memory", "gpu", "total"):
            part = first.get(key, {}).get(column, 0.0) + second.get(key, {}).get(column, 0.0)
            assert part == pytest.approx(cells[column], abs=2e-6), (key, column)


def test_refused_chunks_are_split_and_add_up_the_same(served: Served) -> None:
    client = PrometheusClient(Connection(served.url))
    inclusive = range_start_inclusive(client, NOW.timestamp())
    assert inclusive  # the Debian package is Prometheus 2.x: ranges include their start
    start, end = (int(d.timestamp() * 1000) for d in SEPTEMBER)
    query = SpendQuery(Dimensions.parse(["team"]))
    whole_days = Integrator(client, query, inclusive_start=inclusive, chunk_ms=86_400_000)
    quarter_days = Integrator(client, query, inclusive_start=inclusive, chunk_ms=21_600_000)
    a, b = whole_days.run(start, end), quarter_days.run(start, end)
    # 144 samples per series per day > --query.max-samples=120: every day is refused and split
    # in two, except the restart day (its samples are in two series of 72 and 71) and
    # perhaps the outage day (108 samples, refused or not depending on the result count).
    assert whole_days.splits >= 28 and quarter_days.splits == 0
    flat = lambda sums: {(k, c): v for k, cols in sums.pods.items() for c, v in cols.items()}
    assert flat(a) == pytest.approx(flat(b), rel=1e-12)
    assert whole_days.detect_step_s() == 600
    # The unused-cost queries are split on their own (360 evaluations a day > 120) and add up
    # the same; their step is the rules' interval, not the scrape's.
    assert a.unused and dict(a.unused) == pytest.approx(dict(b.unused), rel=1e-12)
    assert a.unused_samples == b.unused_samples
    assert whole_days.detect_unused_step_s() == 240 == quarter_days.detect_unused_step_s()


def test_step_flag_scales_every_cell(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    detected, _, _ = parse_json(report(served, capsys, "--month", "2025-09", "--format", "json"), ["namespace"])
    ten, _, _ = parse_json(report(served, capsys, "--month", "2025-09", "--step", "10m", "--format", "json"),
                           ["namespace"])
    five, _, doc = parse_json(report(served, capsys, "--month", "2025-09", "--step", "5m", "--format", "json"),
                              ["namespace"])
    assert ten == detected
    assert doc["step_seconds"] == 300
    for (k1, half), (k2, full) in zip(five, detected, strict=True):
        assert k1 == k2 and half["total"] == pytest.approx(full["total"] / 2, abs=1e-6)
        assert half["unused_gpu"] == full["unused_gpu"]  # the scrape step does not touch it
    two, _, doc = parse_json(report(served, capsys, "--month", "2025-09", "--unused-step", "2m",
                                    "--format", "json"), ["namespace"])
    assert doc["unused_step_seconds"] == 120
    for (k1, half), (k2, full) in zip(two, detected, strict=True):
        assert k1 == k2 and half["total"] == full["total"]
        assert half["unused_gpu"] == (None if full["unused_gpu"] is None else pytest.approx(full["unused_gpu"] / 2))


@pytest.mark.parametrize(("flags", "message"), [
    (["--month", "2024-01"], "no gpucost data in month 2024-01 (2024-01-01T00:00:00+00:00 to 2024-02-01T00:00:00+00:00)"),
    (["--month", "2099-01"], "the period month 2099-01 starts in the future"),
    (["--filter", 'namespace=~"("', "--month", "2025-09"], "query rejected (HTTP 400"),
])
def test_errors_against_the_real_prometheus(served: Served, capsys: pytest.CaptureFixture[str],
                                            flags: list[str], message: str) -> None:
    code = main(["--prometheus", served.url, *flags])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("gpucost-report: error: ") and err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize("command", [
    [str(Path(sys.executable).parent / "gpucost-report")],
    [sys.executable, "-m", "gpucost.report"],
], ids=["console-script", "python-m"])
def test_installed_command_prints_the_same_report(served: Served, capsys: pytest.CaptureFixture[str],
                                                  command: list[str]) -> None:
    flags = ["--month", "2025-09", "--by", "cluster,owner", "--idle", "shared", "--format", "csv"]
    in_process = report(served, capsys, *flags)
    done = subprocess.run([*command, *flags], capture_output=True, text=True, timeout=120,
                          env={"GPUCOST_PROMETHEUS_URL": served.url, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == in_process and done.stderr == ""

"""The report's output formats: an aligned table (default), CSV, JSON and Markdown.

Table and Markdown round money to cents and GPU-hours to tenths for reading; CSV and JSON
carry full precision (rounded to 1e-6) so a spreadsheet's sums match the totals row.

`unused_gpu` (unused reserved GPU cost, from the utilization rules): CSV always has the column
and JSON the key, so their shape does not depend on the data; a row without utilization data
is an empty cell or null. Table and Markdown show the column only when the rules recorded
something in the period.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from .ledger import MONEY, Report, Row

FORMATS = ("table", "csv", "json", "markdown")
TOTAL_LABEL = "__total__"


def render(report: Report, fmt: str) -> str:
    """The report as text in one of FORMATS."""
    renderers: dict[str, Callable[[Report], str]] = {
        "table": _table, "csv": _csv, "json": _json, "markdown": _markdown,
    }
    return renderers[fmt](report)


UNUSED = "unused_gpu"


def _headers(report: Report) -> list[str]:
    return [*report.columns, *MONEY, "gpu_hours", UNUSED]


def _shows_unused(report: Report) -> bool:
    return report.unused_step_s is not None


def _cells(row: Row, report: Report, money: Callable[[float], str],
           hours: Callable[[float], str], unused: bool = True) -> list[str]:
    """The row's cells; `unused` False leaves the unused_gpu cell out."""
    labels = list(row.labels)
    if row.kind == "total":
        labels = [TOTAL_LABEL, *labels[1:]] if labels else []
    gpu_hours = "" if row.gpu_hours is None else hours(row.gpu_hours)
    cells = [*labels, *(money(float(row.value(c) or 0.0)) for c in MONEY), gpu_hours]
    if unused:
        cells.append("" if row.unused_gpu is None else money(row.unused_gpu))
    return cells


def _exact(v: float) -> str:
    return f"{round(v, 6):.6f}"


def _csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(_headers(report))
    for row in [*report.rows, report.totals]:
        w.writerow(_cells(row, report, _exact, _exact))
    return out.getvalue()


def _row_json(row: Row, report: Report) -> dict[str, Any]:
    d: dict[str, Any] = dict(zip(report.columns, row.labels, strict=True)) if row.kind != "total" else {}
    d["kind"] = row.kind
    for c in MONEY:
        d[c] = round(float(row.value(c) or 0.0), 6)
    d["gpu_hours"] = None if row.gpu_hours is None else round(row.gpu_hours, 6)
    d[UNUSED] = None if row.unused_gpu is None else round(row.unused_gpu, 6)
    return d


def _json(report: Report) -> str:
    doc = {
        "period": {"start": report.period.start.isoformat(), "end": report.period.end.isoformat(),
                   "label": report.period.label},
        "currency": report.currency,
        "by": list(report.columns),
        "idle": report.idle,
        "step_seconds": report.step_s,
        "unused_step_seconds": report.unused_step_s,
        "coverage": round(report.coverage, 6),
        "source": report.source,
        "rows": [_row_json(r, report) for r in report.rows],
        "totals": _row_json(report.totals, report),
        "notes": report.notes,
    }
    return json.dumps(doc, indent=2) + "\n"


def _money(v: float) -> str:
    return f"{v:,.2f}"


def _hours(v: float) -> str:
    return f"{v:,.1f}"


def _display_headers(report: Report) -> list[str]:
    cur = f" ({report.currency})" if report.currency else ""
    unused = [f"{UNUSED}{cur}"] if _shows_unused(report) else []
    return [*report.columns, *(f"{c}{cur}" for c in MONEY), "gpu_hours", *unused]


def _caption(report: Report) -> list[str]:
    p = report.period
    unused = (f"; unused GPU step {report.unused_step_s:g}s"
              if report.unused_step_s is not None else "")
    lines = [f"gpucost spend, {p.label}: {p.start.isoformat()} to {p.end.isoformat()} "
             f"(idle {report.idle}; step {report.step_s:g}s{unused}; data for "
             f"{report.coverage:.1%} of the period)"]
    return lines + report.notes


def _table(report: Report) -> str:
    headers = _display_headers(report)
    shown = _shows_unused(report)
    body = [_cells(r, report, _money, _hours, shown) for r in report.rows]
    total = _cells(report.totals, report, _money, _hours, shown)
    grid = [headers, *body, total]
    widths = [max(len(line[i]) for line in grid) for i in range(len(headers))]
    n = len(report.columns)

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < n else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([*_caption(report), "", fmt(headers), rule, *map(fmt, body), rule,
                      fmt(total)]) + "\n"


def _markdown(report: Report) -> str:
    headers = _display_headers(report)
    n = len(report.columns)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---" if i < n else "---:" for i in range(len(headers))]
    shown = _shows_unused(report)
    body = [line(_cells(r, report, _money, _hours, shown)) for r in report.rows]
    total = [f"**{c}**" if c else c for c in _cells(report.totals, report, _money, _hours, shown)]
    caption = [f"_{line}_" for line in _caption(report)]
    return "\n".join([*caption, "", line(headers), line(align), *body, line(total)]) + "\n"

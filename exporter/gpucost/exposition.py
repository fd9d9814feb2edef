"""Prometheus text exposition (format 0.0.4): escaping, number formatting and family blocks.

Per-object series are rendered once, when the object changes, into strings kept by the state
(see `gpucost.state`); a scrape only joins them family by family. Small families that change
every scrape (self-metrics) are rendered from `MetricFamily` records.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricFamily(NamedTuple):
    """A small family rendered per scrape. Labels are (name, value) pairs, in order."""

    name: str
    type: str  # "gauge" | "counter"
    help: str
    samples: Sequence[tuple[Sequence[tuple[str, str]], float]]


def escape_label_value(value: str) -> str:
    """Escape a label value for the text format: backslash, double quote and newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Shortest text that reads back as the same float ("1", "0.5", "1e-05", "+Inf", "NaN")."""
    if math.isfinite(value):
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(float(value))
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def label_block(labels: Iterable[tuple[str, str]]) -> str:
    """`{a="x",b="y"}` for the given pairs; "" when there are none."""
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
    return "{" + inner + "}" if inner else ""


def sample_line(name: str, labels: Iterable[tuple[str, str]], value: float) -> str:
    return f"{name}{label_block(labels)} {format_value(value)}\n"


def header(name: str, mtype: str, help_text: str) -> str:
    return f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {mtype}\n"


def render_family(family: MetricFamily) -> str:
    """Render a whole family: HELP, TYPE and one line per sample."""
    parts = [header(family.name, family.type, family.help)]
    parts.extend(sample_line(family.name, labels, value) for labels, value in family.samples)
    return "".join(parts)

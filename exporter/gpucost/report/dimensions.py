"""What a report row is keyed by (`--by`) and which pod series it reads (`--filter`).

`--by` names report columns; most are labels of gpucost's pod series as they are, a few are
derived:

- `owner` is `owner_kind/owner_name` (the top-level workload). A workload's name is unique
  only within its namespace, so `owner` brings a `namespace` column with it.
- `gpu_model` is not a pod label: pods are grouped by `node` in Prometheus and each node is
  mapped to the model `gpucost_node_info` gives it.
- `cluster` is whatever `cluster` label the series carry (Prometheus `external_labels` seen
  through Thanos or Mimir); against a single Prometheus it is empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Row label value for idle cost (`--idle separate`) and for the rows `--top` folds together.
IDLE = "__idle__"
OTHER = "__other__"

_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# One PromQL label matcher: name, operator, a double- or single-quoted string.
_MATCHER = re.compile(r"""\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*""")


class DimensionError(ValueError):
    """A `--by` or `--filter` value that cannot be used."""


@dataclass(frozen=True)
class Matcher:
    """One label matcher of `--filter`, kept as PromQL text."""

    label: str
    text: str


def parse_filter(text: str | None) -> tuple[Matcher, ...]:
    """`--filter 'namespace=~"ml-.*",team!="infra"'`: label matchers, as inside `{...}`."""
    if text is None or not text.strip():
        return ()
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    matchers, pos = [], 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if not m:
            raise DimensionError(f"--filter: expected label matchers such as "
                                 f"namespace=~\"ml-.*\",team=\"a\", got {text!r}")
        matchers.append(Matcher(m.group(1), f"{m.group(1)}{m.group(2)}{m.group(3)}"))
        pos = m.end()
        if pos < len(body):
            if body[pos] != ",":
                raise DimensionError(f"--filter: expected ',' between matchers in {text!r}")
            pos += 1
    return tuple(matchers)


def selector(metric: str, matchers: Sequence[Matcher]) -> str:
    """`metric{m1,m2}` (or the bare name without matchers)."""
    return f"{metric}{{{','.join(m.text for m in matchers)}}}" if matchers else metric


@dataclass(frozen=True)
class Dimensions:
    """The report's row key: column names in order, and how to read them from series."""

    columns: tuple[str, ...]

    @classmethod
    def parse(cls, values: Sequence[str]) -> Dimensions:
        """`--by team`, `--by cluster,team`, repeatable; default `namespace`."""
        names = [v.strip() for value in values for v in value.split(",") if v.strip()]
        columns: list[str] = []
        for name in names or ["namespace"]:
            if not _LABEL.fullmatch(name) or name.startswith("__"):
                raise DimensionError(f"--by: {name!r} is not a label name")
            if name in {"owner_kind", "owner_name"}:
                raise DimensionError(f"--by: use 'owner' (owner_kind/owner_name), not {name!r}")
            if name in {"resource", "instance", "job"}:
                raise DimensionError(f"--by: {name!r} is not a cost dimension")
            expanded = ["namespace", "owner"] if name == "owner" else [name]
            for column in expanded:
                if column not in columns:
                    columns.append(column)
        return cls(tuple(columns))

    @property
    def needs_node_model(self) -> bool:
        return "gpu_model" in self.columns

    def query_labels(self) -> tuple[str, ...]:
        """Labels the pod queries group by (`sum by (...)`)."""
        labels: list[str] = []
        for column in self.columns:
            if column == "owner":
                labels += ["owner_kind", "owner_name"]
            elif column == "gpu_model":
                labels += ["cluster", "node"]
            else:
                labels.append(column)
        return tuple(dict.fromkeys(labels))

    def key(self, metric: Mapping[str, str],
            node_model: Mapping[tuple[str, str], str]) -> tuple[str, ...]:
        """A pod query result's row key; node_model maps (cluster, node) to its GPU model."""
        values = []
        for column in self.columns:
            if column == "owner":
                kind, name = metric.get("owner_kind", ""), metric.get("owner_name", "")
                values.append(f"{kind}/{name}" if kind or name else "")
            elif column == "gpu_model":
                values.append(node_model.get((metric.get("cluster", ""), metric.get("node", "")), ""))
            else:
                values.append(metric.get(column, ""))
        return tuple(values)

    def idle_key(self, cluster: str) -> tuple[str, ...]:
        """Idle cost's row key: the cluster where there is a `cluster` column, `__idle__`
        in every other column."""
        return tuple(cluster if c == "cluster" else IDLE for c in self.columns)

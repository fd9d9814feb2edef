"""Prometheus text exposition (format 0.0.4): escaping, number formatting and family blocks.

Per-object series are rendered once, when the object changes, into strings kept by the state
(see `gpucost.state`); a scrape only joins them family by family. Small families that change
every scrape (self-metrics) are rendered from `MetricFamily` records.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

_deflate: Callable[[bytes, int, int], bytes]
try:
    # ISA-L's deflate (python-isal): about 2.6 times zlib's level 1 on exposition text, and a
    # smaller member; the first gzip scrape after a sync compresses every block (see
    # docs/performance.md). Its output is plain RFC 1952 gzip, read by Prometheus and gzip.
    from isal.isal_zlib import compress as _deflate

    DEFLATE = "isal"
except ImportError:  # a platform without its wheels: the standard library's zlib
    from zlib import compress as _deflate

    DEFLATE = "zlib"

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


#: One sample: (label name, value) pairs in order, and the value.
Sample = tuple[Sequence[tuple[str, str]], float]


class MetricFamily(NamedTuple):
    """A small family rendered per scrape. Labels are (name, value) pairs, in order."""

    name: str
    type: str  # "gauge" | "counter"
    help: str
    samples: Sequence[Sample]


def escape_label_value(value: str) -> str:
    """Escape a label value for the text format: backslash, double quote and newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


_INF = float("inf")


def format_value(value: float) -> str:
    """Shortest text that reads back as the same float ("1", "0.5", "1e-05", "+Inf", "NaN")."""
    if value != value:
        return "NaN"
    if value == _INF or value == -_INF:
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def label_block(labels: Iterable[tuple[str, str]]) -> str:
    """`{a="x",b="y"}` for the given pairs; "" when there are none."""
    inner = ",".join([f'{k}="{escape_label_value(v)}"' for k, v in labels])
    return "{" + inner + "}" if inner else ""


def sample_line(name: str, labels: Iterable[tuple[str, str]], value: float) -> str:
    return f"{name}{label_block(labels)} {format_value(value)}\n"


def header(name: str, mtype: str, help_text: str) -> str:
    return f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {mtype}\n"


def render_family(family: MetricFamily) -> str:
    """Render a whole family: HELP, TYPE and one line per sample."""
    name = family.name
    return header(name, family.type, family.help) + "".join(
        [sample_line(name, labels, value) for labels, value in family.samples]
    )


#: Hash blocks per family. A change re-encodes and re-compresses one block per family it
#: touches; at 150,000 pods a block holds ~600 pods (~150 KB of text).
BLOCKS = 256
#: Families smaller than this are compressed whole on every gzip scrape (cheaper than caching
#: hundreds of tiny gzip members).
SMALL_FAMILY_BYTES = 1 << 20
#: zlib's fastest level; ISA-L's level 1 is faster still and its members smaller than zlib's
#: (its level 0 would be faster again, but about a quarter larger).
GZIP_LEVEL = 1
_GZIP_WBITS = 31  # a gzip header and trailer around the deflate stream


def gzip_member(data: bytes) -> bytes:
    """One gzip member (RFC 1952) of `data`; members concatenate into one valid gzip body."""
    return _deflate(data, GZIP_LEVEL, _GZIP_WBITS)


def block_of(key: str, blocks: int = BLOCKS) -> int:
    """The stable hash block of an object key (CRC-32, the same in every process)."""
    return zlib.crc32(key.encode()) % blocks


class BlockedFamily:
    """One metric family's pre-rendered lines, by object key, in hash blocks.

    Each block caches its gzip member (RFC 1952 allows a stream of members; Prometheus and
    Python's gzip read them all), so a scrape compresses only the blocks that changed since the
    last one. Setting a key to the text it already has changes nothing.
    """

    __slots__ = ("blocks", "gzips", "header", "sizes", "versions")

    def __init__(self, header_text: str, blocks: int = BLOCKS) -> None:
        self.header = header_text.encode()
        self.blocks: list[dict[str, str]] = [{} for _ in range(blocks)]
        self.versions = [0] * blocks
        self.sizes = [0] * blocks  # characters of text per block
        self.gzips: list[bytes | None] = [None] * blocks

    def set(self, block: int, key: str, text: str) -> None:
        """Keep `text` as the key's lines (Renderer.render_pods does the same inline for the
        two lines every pod has)."""
        lines = self.blocks[block]
        old = lines.get(key)
        if old != text:
            lines[key] = text
            self.sizes[block] += len(text) - (len(old) if old is not None else 0)
            self.versions[block] += 1
            self.gzips[block] = None

    def pop(self, block: int, key: str) -> None:
        old = self.blocks[block].pop(key, None)
        if old is not None:
            self.sizes[block] -= len(old)
            self.versions[block] += 1
            self.gzips[block] = None

    def get(self, block: int, key: str) -> str | None:
        return self.blocks[block].get(key)

    def __len__(self) -> int:
        return sum(map(len, self.blocks))

    def size(self) -> int:
        return sum(self.sizes)

    def text(self) -> bytes:
        """HELP, TYPE and every line; b"" when the family has no series."""
        if not any(self.sizes):
            return b""
        parts = [self.header]
        parts.extend("".join(lines.values()).encode() for lines in self.blocks if lines)
        return b"".join(parts)

    def stale_blocks(self) -> list[tuple[int, int, bytes]]:
        """(block, version, text) of the non-empty blocks whose gzip member is out of date."""
        return [
            (i, self.versions[i], "".join(lines.values()).encode())
            for i, lines in enumerate(self.blocks)
            if lines and self.gzips[i] is None
        ]

    def store_gzip(self, block: int, version: int, member: bytes) -> None:
        """Keep a compressed block unless the block changed while it was being compressed."""
        if self.versions[block] == version:
            self.gzips[block] = member

    def gzip_members(self) -> list[bytes]:
        """The family as gzip members (all blocks must have been compressed)."""
        if not any(self.sizes):
            return []
        members = [gzip_member(self.header)]
        for i, lines in enumerate(self.blocks):
            if lines:
                member = self.gzips[i]
                if member is None:  # changed after compression: do it now
                    member = gzip_member("".join(lines.values()).encode())
                    self.gzips[i] = member
                members.append(member)
        return members

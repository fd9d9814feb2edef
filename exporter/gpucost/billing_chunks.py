"""A FOCUS CSV export read in large pieces, so that days before the billing window cost little.

A month of hourly rows is mostly history: with a 7-day window, three rows in four are dated
before it. Parsing a row field by field in Python costs microseconds; finding the start dates
of a few MiB of rows with C loops (bytes.split, a regular expression) costs a fraction of that.
So the export is read twice, in pieces that end on record boundaries (`pieces`): first to learn
each piece's latest `ChargePeriodStart` day (`DaySurvey`), then to parse only the pieces that
reach into the window. A piece whose dates the survey cannot vouch for (a quoted field spanning
lines, a lone carriage return, a row without the column) is simply parsed: the survey only ever
lets pieces be passed over, it never decides what a row holds.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

from .guard import encoding_of

igzip: ModuleType | None
_ISAL_ERROR: type[BaseException]
try:
    from isal import igzip, igzip_lib
    _ISAL_ERROR = igzip_lib.IsalError  # type: ignore[assignment]  # the stubs call it an instance
except ImportError:  # pragma: no cover - python-isal is a dependency; zlib where its wheels are missing
    igzip = None
    _ISAL_ERROR = zlib.error

#: What reading a damaged or truncated export raises, gzip'd or not.
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, UnicodeDecodeError, zlib.error, _ISAL_ERROR)

#: Decompressed bytes per piece: a few hours of a 5,000-node hourly export, so a piece rarely
#: straddles the window's first day, and memory stays at a few MiB.
PIECE_BYTES = 1 << 21
#: A record longer than this (or an unbalanced quote) means the file is not cut into pieces.
_MAX_RECORD = 64 << 20
#: A line with an odd number of quotes: a quoted field goes on past its end.
_ODD_QUOTES = re.compile(rb'\n[^"\n]*"(?:[^"\n]*"[^"\n]*")*[^"\n]*(?=\n)')
_DATE = rb"(\d{4}-\d\d-\d\d)"
_LONE_CR = re.compile(rb"\r(?!\n)")


#: A piece not located yet (DaySurvey.last_day, Rows.add_piece): None means "not plain enough".
UNLOCATED = object()


class Unchunkable(Exception):
    """The file cannot be cut into pieces (UTF-16/32, or no record boundary in _MAX_RECORD);
    the caller reads it as one CSV stream instead."""


def open_binary(path: Path) -> BinaryIO:
    """The export's bytes, gunzipped when the name ends in .gz: by ISA-L where python-isal is
    installed (it decompresses a month's export in a third of zlib's time), else by zlib."""
    if path.name.lower().endswith(".gz"):
        if igzip is not None:
            return igzip.open(path, "rb")  # type: ignore[return-value]
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # noqa: SIM115


def pieces(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes in pieces of about PIECE_BYTES, each ending with a newline outside
    quotes (RFC 4180: a quoted field may hold newlines; `""` is a quote inside one, and counts
    twice, so an even count of quotes before a newline means it ends a record). The first piece
    starts with the header; a file without a final newline gets one."""
    if encoding_of(stream.peek(4)[:4] if hasattr(stream, "peek") else b"") != "utf-8":  # type: ignore[attr-defined]
        raise Unchunkable
    rest = b""
    while block := stream.read(PIECE_BYTES):
        if not block.endswith(b"\n"):
            # The rest of the line: most pieces then end a record as read (no quotes), and are
            # handed on without being copied again.
            block += stream.readline(_MAX_RECORD)
        data = rest + block if rest else block
        cut = _boundary(data)
        if cut <= 0:
            if len(data) > _MAX_RECORD:
                raise Unchunkable
            rest = data
            continue
        yield data[:cut]  # the same object when cut is its length
        rest = data[cut:]
    if rest:
        yield rest if rest.endswith(b"\n") else rest + b"\n"


def replayed(stream: BinaryIO, lengths: Sequence[int]) -> Iterator[bytes]:
    """The pieces `pieces` cut from this stream before, cut again at the same lengths (the
    survey's) instead of searching for record ends a second time: the header line, then a
    piece per length, then whatever follows them (nothing, unless the file grew). A piece that
    does not end a record, or is not the length asked, means the file changed in between: the
    caller checks."""
    yield stream.readline(_MAX_RECORD)
    for i, n in enumerate(lengths):
        piece = stream.read(n)
        if len(piece) == n - 1 and i == len(lengths) - 1 and not piece.endswith(b"\n"):
            piece += b"\n"  # as pieces() ends a file without a final newline
        yield piece
    if tail := stream.read(1):
        yield tail


def _boundary(data: bytes) -> int:
    """Offset just past the last newline of `data` that ends a record; 0 if none does."""
    cut = data.rfind(b"\n") + 1
    if cut == 0 or b'"' not in data:
        return cut
    odd = _quotes(data, cut) & 1
    while odd:
        prev = data.rfind(b"\n", 0, cut - 1) + 1
        if prev == 0:
            return 0
        odd ^= data.count(b'"', prev, cut) & 1
        cut = prev
    return cut


def _quotes(data: bytes, end: int) -> int:
    """How many quotes data[:end] holds: counted by billing_columns (numpy) where it can be
    imported (an export with a JSON column has a dozen quotes a row, which bytes.count counts
    five times slower)."""
    fast = columnar()
    if fast is None:  # pragma: no cover - numpy is a dependency
        return data.count(b'"', 0, end)
    return int(fast.count_quotes(data, end))


def columnar() -> ModuleType | None:
    """billing_columns, or None where numpy cannot be imported (then every piece is read row
    by row: the same figures, more slowly). Imported on first use: an exporter without a
    billing export never loads numpy."""
    try:
        from . import billing_columns
    except ImportError:  # pragma: no cover - numpy is a dependency; this is for odd installs
        return None
    return billing_columns


def split_header(piece: bytes) -> tuple[list[str], bytes]:
    """The first piece's header (column names, a UTF-8 byte-order mark dropped) and the rest."""
    end = piece.find(b"\n") + 1
    line = piece[:end].decode("utf-8-sig")
    header = next(csv.reader([line]), [])
    return header, piece[end:]


def records(piece: bytes) -> Iterable[list[str]]:
    """The CSV records of a piece, as the csv module reads them. Plain pieces (no quote, no
    lone carriage return, no NUL) are split with str.split, three times faster."""
    text = piece.decode("utf-8")
    if '"' in text or "\0" in text:
        return csv.reader(io.StringIO(text, newline=""))
    if "\r" in text:
        if "\r" in text.replace("\r\n", ""):  # a lone CR: csv ends a record there too
            return csv.reader(io.StringIO(text, newline=""))
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    lines.pop()  # after the last newline
    return [line.split(",") if line else [] for line in lines]


class DaySurvey:
    """The latest `ChargePeriodStart` day (YYYY-MM-DD, its first ten characters as the loader
    keys days) among a piece's records, found by one regular expression per piece."""

    def __init__(self, start_column: int, width: int = 0, columnar: ModuleType | None = None) -> None:
        #: billing_columns, to find a piece's latest day with numpy when the piece is plain
        #: enough for it (records of `width` fields), about four times as fast as below.
        self._columnar = columnar
        self._width = width
        k = self._k = start_column
        self._start = itemgetter(k)
        field = rb'(?:"[^"\n]*(?:""[^"\n]*)*"|[^,"\r\n]*)'
        # A record starts after each newline (the piece is searched with one put in front); the
        # lookahead keeps the match to that newline, so no record's start is consumed by another.
        self._quoted = re.compile(rb'\n(?=(?:%s,){%d}"?%s)' % (field, k, _DATE))

    def measure(self, piece: bytes) -> tuple[int, int, str | None]:
        """(the piece's bytes, *last_day(piece)): an entry of the loader's survey."""
        return (len(piece), *self.last_day(piece))

    def last_day(self, piece: bytes, table: object = UNLOCATED) -> tuple[int, str | None]:
        """The piece's records (its newlines) and its latest start day: "" for a piece without
        records, None when some record's day cannot be vouched for (then it must be parsed).
        `table`: the piece's billing_columns.Table (or None) where the caller located it."""
        if self._columnar is not None:
            if table is UNLOCATED:
                table = self._columnar.Table.of(piece, self._width)
            if table is not None:
                day = self._columnar.latest_day(table, self._k)
                if day is not None:
                    return table.n, day  # type: ignore[attr-defined]
        lines = piece.count(b"\n")
        if b"\r" in piece and _LONE_CR.search(piece):
            return lines, None  # a lone CR ends a record too: lines would not be records
        if not lines:
            return 0, ""
        if b'"' not in piece:
            # Without quotes a record is a line and its fields are split by commas (C loops,
            # no regular expression): the latest full value has the latest first ten characters.
            rows = piece.split(b"\n")
            rows.pop()
            try:
                latest = max(map(self._start, map(bytes.split, rows, repeat(b","), repeat(self._k + 1))))
            except IndexError:
                return lines, None  # a line without the column
            return lines, latest.decode("utf-8", "replace")[:10]
        if _ODD_QUOTES.search(b"\n" + piece):
            return lines, None  # a quoted field spans lines
        days = self._quoted.findall(b"\n" + piece)
        if len(days) != lines:
            return lines, None  # a record without a date where ChargePeriodStart should be
        return lines, max(days).decode()

"""Pieces of a FOCUS CSV export read column by column with numpy.

A month of hourly rows for 5,000 nodes is 3.75 million rows; taking each apart in Python costs
microseconds a row, more than a cold sync of the cluster. Here a piece (billing_chunks.pieces)
is located once as arrays of byte offsets — where each record ends and where each of its
separators is — and the loader reads just the columns it needs from those offsets, compares
and converts them as arrays (`take`), for billing_rows to add to their (resource, UTC day)
sums with ufuncs. Python works once per distinct value (a resource, a day, a unit spelling),
not once a row.

`Table.of` takes a piece only when reading it this way gives what the csv module gives:
every record has the header's number of fields; quotes, where there are any, open a field
right after a separator and close it right before one (RFC 4180, `""` inside); no NUL byte;
a carriage return outside quotes only before a newline. Anything else is None, and the caller
parses the piece row by row as before: this module never decides what an odd row holds.
`take` likewise answers None for a piece with any row the loader would skip with a reason,
refuse, or read in a way this path does not repeat (another currency, a malformed cost or
date, a quoted date or number), so that reasons, line numbers and errors come from one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_NL, _CR, _COMMA, _QUOTE = 10, 13, 44, 34
_I64 = NDArray[np.int64]
_I32 = NDArray[np.int32]
_B = NDArray[np.bool_]


class Table:
    """A piece as byte offsets: record i is a[starts[i]:ends[i]] (its CR LF excluded), and its
    field j ends at seps[i, j] (the separator after it) for j < width - 1."""

    __slots__ = ("_padded", "a", "ends", "n", "quoted", "seps", "starts", "width")

    def __init__(self, a: NDArray[np.uint8], starts: _I32, ends: _I32, seps: _I32, width: int,
                 quoted: bool = True) -> None:
        self.a = a
        self.starts = starts
        self.ends = ends
        self.seps = seps
        self.width = width
        self.n = len(starts)
        #: Whether the piece holds a quote at all (if not, no field is quoted).
        self.quoted = quoted
        self._padded: NDArray[np.uint8] | None = None

    @classmethod
    def of(cls, piece: bytes, width: int) -> Table | None:
        """The piece's table, or None when it is not plain enough (see the module's doc). The
        piece ends with a newline outside quotes, as billing_chunks.pieces cuts them."""
        if width < 2 or not piece.endswith(b"\n") or b"\0" in piece:
            return None
        a = np.frombuffer(piece, np.uint8)
        fields = None
        if b'"' in piece and (fields := _quoted_fields(a)) is None:
            return None
        return cls._located(a, width, fields, b"\r" in piece)

    @classmethod
    def _located(cls, a: NDArray[np.uint8], width: int, fields: tuple[_I64, _I64] | None, cr: bool) -> Table | None:
        """`of`, once the quoted fields (their first and last quotes) are known: the newlines
        and the commas are found apart (two sparse scans, not one dense one over every
        separator), those inside quoted fields dropped, and each record's commas checked to lie
        inside it."""
        nl = np.flatnonzero(a == _NL)
        commas = np.flatnonzero(a == _COMMA)
        if fields is not None:
            nl, commas = _outside(nl, fields), _outside(commas, fields)
        crs = int(np.count_nonzero(a == _CR)) if cr else 0
        if crs and fields is not None and crs != len(nl):
            crs = len(_outside(np.flatnonzero(a == _CR), fields))  # some inside quoted fields?
        n = len(nl)
        if not n or len(commas) != n * (width - 1):
            return None
        ends: _I32 = nl.astype(np.int32)
        seps = commas.astype(np.int32).reshape(n, width - 1)
        starts = np.empty(n, np.int32)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        # A carriage return outside quotes only as a CR LF record end, and then at every record's
        # end (the csv module ends a record at a lone CR too).
        if crs:
            ends = ends - np.int32(1)
            if crs != n or not bool((a[ends] == _CR).all()):
                return None
        # Record i's width - 1 commas all lie within it, before its end: as the commas are in
        # order, its first after its start and its last before its end say so.
        if not (bool((seps[:, 0] >= starts).all()) and bool((seps[:, -1] < ends).all())):
            return None
        return cls(a, starts, ends, seps, width, quoted=fields is not None)

    def bounds(self, column: int) -> tuple[_I32, _I32]:
        """Start and end offsets of the column's field in every record."""
        start = self.starts if column == 0 else self.seps[:, column - 1] + 1
        end = self.ends if column == self.width - 1 else self.seps[:, column]
        return start, end

    def raw(self, column: int, limit: int | None = None, rows: _I64 | None = None) -> NDArray[np.bytes_]:
        """The column's fields as written (quotes included), at most `limit` bytes of each, as a
        fixed-width bytes array (numpy pads short values with NULs, which a piece never holds);
        of the records `rows` only, where given."""
        start, end = self.bounds(column)
        if rows is not None:
            start, end = start[rows], end[rows]
        length = end - start
        if not len(length):
            return np.zeros(0, "S1")
        shortest, width = int(length.min()), int(length.max())
        if limit is not None:
            width = min(width, limit)
        if width == 0:
            return np.zeros(len(length), "S1")
        # Each field's `width` bytes from its start, as rows of a sliding-window view of the
        # piece (no index per byte); the piece padded with NULs when the last records reach
        # past its end.
        a = self.a
        if int(start.max()) + width > len(a):
            if self._padded is None or len(self._padded) < len(a) + width:
                self._padded = np.concatenate([a, np.zeros(max(width, 64), np.uint8)])
            a = self._padded
        grid = np.lib.stride_tricks.sliding_window_view(a, width)[start]
        if shortest < width:
            grid[np.arange(width) >= length[:, None]] = 0
        return grid.view(f"S{width}").ravel()

    def equals(self, column: int, *values: str) -> _B:
        """Which records' field in `column` reads as one of `values` (quoted or not): its length,
        and its first bytes gathered once, as many as the longest value has."""
        start, end = self.bounds(column)
        length = end - start
        quoted = self.has_quote(column)
        spelled = [b for v in values for b in ((v.encode(), b'"' + v.encode().replace(b'"', b'""') + b'"')
                                                if quoted else (v.encode(),))]
        out = np.zeros(self.n, np.bool_)
        longest = max(map(len, spelled))
        head = self.raw(column, longest) if longest else None
        for b in spelled:
            same = length == len(b)
            if b and head is not None:
                same &= head == b  # fixed-width, NUL-padded: equal where the first len(b) bytes are b
            out |= same
        return out

    def has_quote(self, column: int) -> bool:
        """Whether any field of the column starts with a quote (is written quoted)."""
        if not self.quoted:
            return False
        start, end = self.bounds(column)
        first = self.a[np.minimum(start, len(self.a) - 1)]
        return bool(((first == _QUOTE) & (end > start)).any())


def count_quotes(piece: bytes, end: int) -> int:
    """How many quotes piece[:end] holds (billing_chunks, cutting pieces)."""
    return int(np.count_nonzero(np.frombuffer(piece, np.uint8, count=end) == _QUOTE))


def _outside(at: _I64, fields: tuple[_I64, _I64]) -> _I64:
    """The offsets in `at` (sorted) outside the quoted fields: those from each field's opening
    quote to its closing one, found by bisection (the fields are few, the offsets many), are the
    index ranges [first, last) of `at`, marked by one repeat and one arange."""
    first, last = np.searchsorted(at, fields[0]), np.searchsorted(at, fields[1])
    counts = last - first
    total = int(counts.sum())
    if not total:
        return at
    inside = np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(total)
    keep = np.ones(len(at), np.bool_)
    keep[inside] = False
    return at[keep]


def _quoted_fields(a: NDArray[np.uint8]) -> tuple[_I64, _I64] | None:
    """Where quoted fields open and close (each field's first and last quote, in order); None
    unless every quote opens a field (after a separator, a newline or at the start), closes one
    (before a separator, a CR or a newline) or is half of a `""` inside one. `a` ends with a
    newline, as a piece does: so a quote at the start finds it "before" itself (index -1), and
    every quote has a byte after it."""
    at = np.flatnonzero(a == _QUOTE)
    if len(at) % 2:
        return None
    opens, closes = at[0::2], at[1::2]
    before = a[opens - 1]
    ok_open = (before == _COMMA) | (before == _NL) | (before == _QUOTE)
    after = a[closes + 1]
    ok_close = (after == _COMMA) | (after == _NL) | (after == _CR) | (after == _QUOTE)
    if not (bool(ok_open.all()) and bool(ok_close.all())):
        return None
    # Quotes alternate, so the quote just before opens[j] is closes[j - 1]: where they touch,
    # they are a `""` inside one field, which the field's spans join across.
    joined = np.empty(len(opens), np.bool_)
    joined[:1] = False
    joined[1:] = opens[1:] == closes[:-1] + 1
    return opens[~joined], closes[np.append(~joined[1:], True)]


def _day_keys(days: NDArray[np.bytes_]) -> tuple[NDArray[np.uint64], NDArray[np.uint16]]:
    """Two unsigned integers per 10-byte value that order as the bytes do."""
    grid = np.ascontiguousarray(days.astype("S10")).view(np.uint8).reshape(-1, 10)
    hi = np.ascontiguousarray(grid[:, :8]).view(">u8").ravel().astype(np.uint64)
    lo = np.ascontiguousarray(grid[:, 8:]).view(">u2").ravel().astype(np.uint16)
    return hi, lo


def days_of(table: Table, column: int) -> NDArray[np.bytes_] | None:
    """The first ten bytes of each record's field in `column` (the loader's UTC day, YYYY-MM-DD),
    or None when some field is quoted or a day is not ASCII (then characters are not bytes)."""
    if table.has_quote(column):
        return None
    days = table.raw(column, 10)
    if days.dtype.itemsize and bool((days.view(np.uint8) >= 0x80).any()):
        return None
    return days


def latest_day(table: Table, column: int) -> str | None:
    """The latest day among the records (as `max(field[:10])` gives it), or None as days_of."""
    days = days_of(table, column)
    if days is None:
        return None
    hi, lo = _day_keys(days)
    top = hi.max()
    last = int(top).to_bytes(8, "big") + int(lo[hi == top].max()).to_bytes(2, "big")
    return last.rstrip(b"\0").decode("ascii")


def distinct(values: NDArray[np.bytes_]) -> tuple[NDArray[np.bytes_], _I64]:
    """np.unique(values, return_inverse=True), sorting only where a value differs from the one
    before it: an export lists many rows of one hour, or of one day, together."""
    n = len(values)
    if n == 0:
        return values, np.zeros(0, np.int64)
    change = np.empty(n, np.bool_)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    runs = np.flatnonzero(change)
    if len(runs) > n // 4:
        unique, inverse = np.unique(values, return_inverse=True)
        return unique, inverse.ravel()
    unique, inverse = np.unique(values[runs], return_inverse=True)
    return unique, np.repeat(inverse.ravel(), np.diff(np.append(runs, n)))


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], np.uint64)


def hash_strings(values: NDArray[np.bytes_], seed: int = 0) -> NDArray[np.uint64]:
    """A 64-bit digest of each value (not a cryptographic one: callers compare the values a
    digest stands for before they trust it)."""
    n, width = len(values), values.dtype.itemsize
    if n == 0 or width == 0:
        return np.zeros(n, np.uint64)  # as an empty value hashes among longer ones
    words = -(-width // 8)
    grid = np.zeros((n, words * 8), np.uint8)
    grid[:, :width] = values.view(np.uint8).reshape(n, width)
    lanes = grid.view(np.uint64)
    mix = np.resize(_MIX, words) + np.arange(seed * 64, seed * 64 + words, dtype=np.uint64)
    digest = (lanes * mix).sum(axis=1, dtype=np.uint64)
    digest ^= digest >> np.uint64(29)
    digest *= np.uint64(0xBF58476D1CE4E5B9)
    digest ^= digest >> np.uint64(32)
    return digest


def unquote(raw: bytes) -> str:
    """A field as the csv module reads it (Table.of has checked its quotes)."""
    if raw[:1] == b'"':
        return raw[1:-1].replace(b'""', b'"').decode("utf-8")
    return raw.decode("utf-8")


_NUMERIC = np.zeros(256, np.bool_)
_NUMERIC[list(b"0123456789.-+eE")] = True


def _numbers(table: Table, column: int, rows: _I64) -> NDArray[np.float64] | None:
    """The column's fields in `rows` as floats, or None unless every one is a plain finite
    decimal number (what the loader's float() reads the same way; anything else goes to it)."""
    raw = table.raw(column)[rows]
    grid = raw.view(np.uint8).reshape(len(raw), -1) if len(raw) else np.zeros((0, 1), np.uint8)
    if not bool((_NUMERIC[grid] | (grid == 0)).all()) or bool((grid[:, 0] == 0).any()):
        return None
    try:
        values = raw.astype(np.float64)
    except ValueError:
        return None
    return values if bool(np.isfinite(values).all()) else None


@dataclass
class Columns:
    """Where the loader's columns are (billing._Columns' offsets), and the row rules it needs."""

    id: int
    category: int
    start: int
    end: int
    currency: int
    cost: int
    charge_class: int | None
    service: int | None
    quantity: int | None
    unit: int | None
    name: int | None
    details: int | None
    hour_unit: Callable[[str], bool]


@dataclass
class Taken:
    """A piece's compute rows in the window, as arrays over the rows taken (`rows`: their
    records, 0-based in the piece, in order): their cost, period, hours metered (`qty`, where
    `metered`), day (`day_of`, an index into `days`), and their texts: the fields ResourceId,
    and ResourceName and x_SkuDetails where the export has them, as written (`texts`, one
    fixed-width array per field), and a 64-bit digest of the lot (`digest`)."""

    rows: _I64
    cost: NDArray[np.float64]
    start: NDArray[np.float64]
    end: NDArray[np.float64]
    qty: NDArray[np.float64]
    metered: _B
    days: list[str]
    day_of: _I64
    texts: list[NDArray[np.bytes_]]
    digest: NDArray[np.uint64]


def take(table: Table, c: Columns, floor: str, currency: str, epoch: Callable[[str], float]) -> Taken | None:
    """The window's compute rows of the piece; None to have the caller read it row by row (see
    the module's doc). Rows are taken as billing._Rows.add takes them: ChargeCategory Usage,
    not a Correction, ServiceCategory Compute or empty, with a ResourceId, on a day not before
    `floor`."""
    days = days_of(table, c.start)
    if days is None:
        return None
    keep = days >= floor.encode()
    keep &= table.equals(c.category, "Usage")
    if c.charge_class is not None:
        keep &= ~table.equals(c.charge_class, "Correction")
    if c.service is not None:
        keep &= table.equals(c.service, "Compute", "")
    keep &= ~table.equals(c.id, "")
    rows = np.flatnonzero(keep)
    if not len(rows):
        return _empty()
    if not bool(table.equals(c.currency, currency)[rows].all()):
        return None  # another currency or none: the row-by-row reader refuses or counts it
    cost = _numbers(table, c.cost, rows)
    if cost is None:
        return None
    bounds = []
    for col in (c.start, c.end):
        if col != c.start and table.has_quote(col):  # the start's quotes: days_of, above
            return None
        values, inverse = distinct(table.raw(col)[rows])
        try:
            seconds = np.array([epoch(v.decode("utf-8")) for v in values.tolist()], np.float64)
        except (ValueError, OverflowError, UnicodeDecodeError):
            return None
        bounds.append(seconds[inverse])
    start, end = bounds
    if not bool((end > start).all()):
        return None
    qty = np.zeros(len(rows))
    metered = np.zeros(len(rows), np.bool_)
    if c.unit is not None and c.quantity is not None:
        units, inverse = distinct(table.raw(c.unit)[rows])
        hourly = np.array([c.hour_unit(unquote(u)) for u in units.tolist()], np.bool_)[inverse]
        if bool(hourly.any()):
            q = _numbers(table, c.quantity, rows[hourly])
            if q is None:
                return None
            ok = q >= 0
            qty[hourly] = np.where(ok, q, 0.0)
            metered[hourly] = ok
    texts = [table.raw(col)[rows] for col in (c.id, c.name, c.details) if col is not None]
    digest = np.zeros(len(rows), np.uint64)
    for i, values in enumerate(texts):
        digest = digest * np.uint64(0x100000001B3) ^ hash_strings(values, i)
    day_values, day_of = distinct(days[rows])
    return Taken(rows, cost, start, end, qty, metered, [d.decode("ascii") for d in day_values.tolist()], day_of,
                 texts, digest)


def fields(table: Table, rows: _I64, columns: list[int | None]) -> list[list[str]]:
    """The fields in `columns` of the records `rows`, as the csv module reads them: a list per
    column, in `columns`' order ("" for each record where the column is None)."""
    out = []
    for col in columns:
        if col is None:
            out.append([""] * len(rows))
            continue
        raw = table.raw(col, rows=rows).tolist()
        out.append([unquote(v) for v in raw] if table.has_quote(col) else [v.decode("utf-8") for v in raw])
    return out


def text(c: Columns, raw: tuple[bytes, ...]) -> tuple[str, str, str]:
    """(ResourceId, ResourceName, x_SkuDetails) as the csv module reads them; "" where the
    export has no such column."""
    it = iter(raw)
    resource_id = unquote(next(it))
    name = unquote(next(it)) if c.name is not None else ""
    details = unquote(next(it)) if c.details is not None else ""
    return resource_id, name, details


def _empty() -> Taken:
    e = np.zeros(0)
    none = np.zeros(0, np.int64)
    return Taken(none, e, e, e, e, np.zeros(0, np.bool_), [], none, [], np.zeros(0, np.uint64))

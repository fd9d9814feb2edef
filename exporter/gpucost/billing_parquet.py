"""Billing exports as Parquet: AWS Data Exports (FOCUS 1.0 with AWS columns) and Azure's cost
exports write FOCUS as Parquet as well as CSV.

Read with pyarrow, an optional dependency (`pip install 'gpucost[parquet]'`), imported only
when an export holds a .parquet file. A Parquet file is read a row group at a time and only
for the columns the loader uses; its footer's statistics give each row group's latest
ChargePeriodStart without reading it, so row groups wholly before the window are passed over
unread (the CSV reader has to decompress and scan them). The other row groups are written out
by pyarrow's CSV writer, a few thousand rows at a time, as the CSV export of the same rows
(timestamps ISO 8601 in UTC, `2026-11-20 05:00:00.000`; null as an empty field; nested values
as JSON) and read by the CSV reader (`Rows.add_piece`: by columns with numpy, or row by row,
which defines what a row means). So a Parquet export and the CSV export of the same rows price
every node the same, skip the same rows for the same reasons and refuse the same currency. A
position in an error is the row's line in that CSV (the header is line 1).

Column types as AWS documents them (docs.aws.amazon.com/cur/latest/userguide/
table-dictionary-focus-1-0-aws-columns.html): costs and ConsumedQuantity `double`, the period
columns `timestamp_milliseconds`, the rest `string`. Decimal and integer columns are read as
numbers too; a timestamp without a time zone is UTC (as an ISO text without an offset is).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from .billing_rows import COST_COLUMNS, READ, BillingError, Columns, Rows, Survey, unreadable

#: Columns the loader reads (billing_rows.Columns), and the ones the costs come from.
USED = frozenset({*READ, *COST_COLUMNS})
#: Rows turned into CSV text at a time (about 4 MiB of an AWS export): bounded memory for row
#: groups of any size. Each batch costs a fixed amount on top of its rows (written out, located,
#: its texts found), so fewer, larger batches are faster; at 5,000 nodes x 30 days (when each
#: batch's (resource, day) groups were still merged in Python), 5,000 / 10,000 / 20,000 rows
#: loaded in 3.5 / 2.6 / 2.5 s with peaks of 32 / 39 / 54 MiB (docs/performance.md).
BATCH_ROWS = 10_000


#: What converting a value to Python raises when Python cannot hold it (datetime stops at 9999).
_UNCONVERTIBLE = (OverflowError, ValueError, TypeError, NotImplementedError)


def is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(".parquet")


def _pyarrow() -> tuple[ModuleType, ModuleType, ModuleType]:
    global _pool_set
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.parquet
    except ImportError:
        raise BillingError(
            "reading Parquet billing exports needs pyarrow: pip install 'gpucost[parquet]' "
            "(or export the billing data as CSV)"
        ) from None
    if not _pool_set:
        _pool_set = True
        if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
            # The C library's allocator, not pyarrow's mimalloc: this process lives on after a
            # load, and mimalloc kept about 14 MiB more of a month's 5,000-node export
            # (docs/performance.md). ARROW_DEFAULT_MEMORY_POOL chooses otherwise.
            pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    return pyarrow, pyarrow.parquet, pyarrow.compute


_pool_set = False


def _errors(pa: ModuleType) -> tuple[type[BaseException], ...]:
    return (OSError, pa.ArrowException)


def _open(f: Path) -> tuple[Any, list[str]]:
    """(the file, as pyarrow.parquet.ParquetFile; the used columns it has, in its order)."""
    pa, pq, _ = _pyarrow()
    try:
        pf = pq.ParquetFile(f)
    except _errors(pa) as exc:
        raise unreadable(f, exc) from None
    return pf, [n for n in pf.schema_arrow.names if n.strip() in USED]


def _day(value: object) -> str | None:
    """The UTC day (YYYY-MM-DD) of a statistics bound; None when it cannot say."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):  # a date column: its day
        return value.isoformat()
    if isinstance(value, str):
        return value[:10]
    return None


def survey(f: Path, cost_column: str) -> Survey:
    """Per row group: (0, its rows, its latest ChargePeriodStart day from the footer's
    statistics; None where they are missing, so the row group is read)."""
    pa, _, _ = _pyarrow()
    pf, names = _open(f)
    Columns(f, names, cost_column)  # the same missing-column errors as a CSV header's
    leaf = next((i for i in range(pf.metadata.num_columns)
                 if pf.metadata.schema.column(i).path.strip() == "ChargePeriodStart"), None)
    out: Survey = []
    try:
        for g in range(pf.metadata.num_row_groups):
            meta = pf.metadata.row_group(g)
            day = None
            stats = meta.column(leaf).statistics if leaf is not None else None
            try:
                if stats is not None and stats.has_min_max:
                    day = _day(stats.max)
            except _UNCONVERTIBLE:  # a bound Python cannot hold (a year past 9999): read the group
                day = None
            out.append((0, meta.num_rows, day))
    except _errors(pa) as exc:
        raise unreadable(f, exc) from None
    return out


def add(f: Path, rows: Rows, survey: Survey) -> None:
    """Take in the file's row groups that reach into the window; count the others' rows."""
    pa, _, pc = _pyarrow()
    pf, names = _open(f)
    columns = Columns(f, names, rows.cost_column)
    line = 1
    try:
        for g in range(pf.metadata.num_row_groups):
            _, n, day = survey[g] if g < len(survey) else (0, -1, None)
            if n != pf.metadata.row_group(g).num_rows:
                raise BillingError(f"{f}: the billing export changed while it was read")
            if day is not None and day < rows.floor:
                line += n
                rows.count += n
                continue
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], columns=names):
                batch = _flat(pa, batch)
                try:
                    latest = pc.max(batch.column(columns.start)).as_py()
                except _UNCONVERTIBLE:  # a time past 9999: the batch is left to the CSV reader
                    latest = None
                if latest is not None and (_day(latest) or "") < rows.floor:
                    line += batch.num_rows  # before the window, as the CSV reader's survey
                    rows.count += batch.num_rows  # passes over a piece
                    continue
                line = rows.add_piece(f, columns, _csv(pa, batch), line)
    except _errors(pa) as exc:
        raise unreadable(f, exc) from None
    finally:
        pa.default_memory_pool().release_unused()


def _flat(pa: ModuleType, batch: Any) -> Any:
    """The columns a CSV cannot hold as they are (maps, structs, lists: x_SkuDetails can be
    one) as the JSON text a CSV export writes there; dictionary-encoded ones decoded; times
    with a zone as the same instants without one (UTC, as the loader reads a time without an
    offset: the CSV writer formats these ten times as fast)."""
    for i, field in enumerate(batch.schema):
        t = field.type
        if pa.types.is_dictionary(t):
            batch = batch.set_column(i, field.name, batch.column(i).cast(t.value_type))
            t = t.value_type
        if pa.types.is_timestamp(t) and t.tz is not None:
            batch = batch.set_column(i, field.name, batch.column(i).cast(pa.timestamp(t.unit)))
        elif pa.types.is_nested(t):
            texts = pa.array([_json(v) for v in batch.column(i).to_pylist()], pa.string())
            batch = batch.set_column(i, field.name, texts)
    return batch


def _csv(pa: ModuleType, batch: Any) -> bytes:
    """The batch's rows as CSV records, no header: values bare where none holds a comma, quote
    or line break (the CSV readers' fast path), else quoted as RFC 4180 quotes them."""
    import pyarrow.csv

    out = pa.BufferOutputStream()
    try:
        pyarrow.csv.write_csv(batch, out, pyarrow.csv.WriteOptions(include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:  # a value that needs quotes
        out = pa.BufferOutputStream()
        pyarrow.csv.write_csv(batch, out, pyarrow.csv.WriteOptions(include_header=False))
    return bytes(out.getvalue())


def _json(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)  # a Parquet map comes back as (key, value) pairs
    return json.dumps(value, default=str, separators=(",", ":"))

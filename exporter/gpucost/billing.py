"""Billing exports in FOCUS format (FinOps Open Cost and Usage Specification 1.0+): the
effective hourly price of each node, as the provider billed it.

Which rows count: `ChargeCategory` Usage, `ServiceCategory` Compute (when the column is there),
not a correction (`ChargeClass` Correction refers to earlier periods), with a `ResourceId`.
They are matched to nodes by resource: the instance id or VM name inside `spec.providerID`
(`resource_key`). A node's hourly price is the chosen cost column summed over its rows in the
window, divided by the hours it was billed:

    hours = min(span, sum of ConsumedQuantity in hours)   when rows are metered in hours
    hours = span                                          otherwise
    span  = last ChargePeriodEnd - first ChargePeriodStart of its rows in the window

AWS and Azure meter a VM in hours, so partial hours and rows split across a savings plan add
up exactly; GCP bills cores, memory and GPUs as separate SKUs (core-hours exceed the span), so
the span counts. The window is the last `window_days` UTC days of the export, ending with the
day of its latest compute row (not today: an export delivered a day late still covers a week).

Only the window's rows are read: a first pass over the export finds, piece by piece, the latest
ChargePeriodStart day (billing_chunks), the second parses just the pieces that reach into the
window and, within them, passes over any row dated before it after looking at its date alone.
So malformed rows are counted only among the window's rows. The reader streams: it keeps one
small record per (resource, day) of the window, never the file or its rows. CSV, gzip'd CSV
and Parquet (billing_parquet, with the optional pyarrow); a directory is read recursively, except
the files of deliveries other than each period's current one (billing_deliveries: AWS and Azure
keep every refresh unless told to overwrite) and of billing-period folders (AWS
`BILLING_PERIOD=YYYY-MM`, Azure `YYYYMMDD-YYYYMMDD`) whose period ends before the window
(`period_end`).
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from itertools import chain
from operator import eq
from pathlib import Path

from . import billing_deliveries, billing_parquet
from .billing_chunks import (
    READ_ERRORS,
    DaySurvey,
    Unchunkable,
    columnar,
    open_binary,
    pieces,
    split_header,
)
from .billing_rows import (
    COST_COLUMNS,
    BillingError,
    Columns,
    Rows,
    Survey,
    epoch,
    unreadable,
)
from .guard import encoding_of

log = logging.getLogger("gpucost.billing")
_STREAM_ERRORS: tuple[type[BaseException], ...] = (*READ_ERRORS, csv.Error)
#: What sends a read with a guess of the window back to the two reads (see _read_once).
_NOT_AT_ONCE: tuple[type[BaseException], ...] = (Unchunkable, BillingError, *_STREAM_ERRORS)

DEFAULT_WINDOW_DAYS = 7
#: What a directory of exports is read for. A file given by name is read as Parquet when its
#: name ends in .parquet, else as CSV (gzip'd when it ends in .gz).
SUFFIXES = (".csv", ".csv.gz", ".parquet")


@dataclass(frozen=True)
class ResourcePrice:
    """One billed resource: its effective price ($ per hour) over `hours` billed hours."""

    hourly: float
    hours: float
    region: str
    instance_type: str
    capacity_type: str


@dataclass(frozen=True)
class BillingPrices:
    """Effective hourly prices from a billing export, by resource and by SKU."""

    source: str
    currency: str
    cost_column: str
    window_start: str  # first UTC day of the window, YYYY-MM-DD
    window_end: str  # last UTC day of the window
    resources: dict[str, ResourcePrice] = field(default_factory=dict)
    #: (instance type, region, capacity type) -> hourly price of that SKU across its resources.
    skus: dict[tuple[str, str, str], float] = field(default_factory=dict)
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows left out
    files: int = 0  # export files read (billing_deliveries: the current delivery's)
    files_passed_over: int = 0  # files of other deliveries, or not in their delivery's manifest
    manifests_unreadable: int = 0
    files_missing: int = 0  # listed by the manifest of a delivery read, not in the directory
    #: Unix time the latest compute charge period of the window ends (its ChargePeriodEnd): how
    #: current the bill behind the prices is; 0 with no compute row.
    last_charge_end: float = 0.0
    #: Reads of the CSV files the load took: 1 where the window was guessed right (one read),
    #: 2 where they were surveyed first; 0 for a Parquet export (surveyed by its statistics).
    reads: int = 2

    def node_price(self, provider_id: str) -> float | None:
        """$ per hour the node's own billing rows say; None if the export lacks it."""
        key = resource_key(provider_id)
        hit = self.resources.get(key) if key else None
        return hit.hourly if hit is not None else None

    def sku_price(self, instance_type: str, region: str, capacity_type: str) -> float | None:
        """$ per hour of other resources of the same instance type, region and capacity type."""
        return self.skus.get((instance_type, region, capacity_type or "on-demand"))


def resource_key(provider_id: str) -> str:
    """The key a node's billing rows are found under, from `spec.providerID`:
    `aws:///us-east-1a/i-0abc` -> `i-0abc`; `gce://proj/zone/gke-x-1` -> `gke-x-1`;
    `azure:///subscriptions/.../virtualMachines/aks-1` -> `aks-1`; an AKS scale-set instance
    `.../virtualMachineScaleSets/aks-pool-vmss/virtualMachines/3` -> `aks-pool-vmss_3` (the
    VMName Azure's cost details give a scale-set instance); OCI's instance OCID, bare (OKE) or
    after `oci://`. Lower case: Azure ids are case-insensitive."""
    pid = provider_id.strip().lower()
    if not pid:
        return ""
    parts = [p for p in pid.split("/") if p]
    if "virtualmachinescalesets" in parts:
        i = parts.index("virtualmachinescalesets")
        if len(parts) >= i + 4 and parts[i + 2] == "virtualmachines":
            return f"{parts[i + 1]}_{parts[i + 3]}"
    return parts[-1] if parts else ""


def export_files(path: str | Path) -> list[Path]:
    """The CSV, gzip'd CSV and Parquet files of an export: the file itself, or a directory's
    (every delivery's), sorted."""
    return _listing(path)[0]


def watched_files(path: str | Path) -> list[Path]:
    """What a reload watches: the export's files and, in a directory, its delivery manifests
    (a manifest arrives after the files of its delivery, and may make it the one read)."""
    files, manifests = _listing(path)
    return files + manifests


def _listing(path: str | Path) -> tuple[list[Path], list[Path]]:
    """The export's files and its manifests, sorted, from one walk of a directory."""
    p = Path(path)
    if p.is_dir():
        files, manifests = [], []
        for f in sorted(p.rglob("*")):
            name = f.name.lower()
            if name.endswith(SUFFIXES) and f.is_file():
                files.append(f)
            elif billing_deliveries.is_manifest(f) and f.is_file():
                manifests.append(f)
        if not files:
            raise BillingError(f"{p}: no .csv, .csv.gz or .parquet files in the billing export directory")
        return files, manifests
    if not p.is_file():
        raise BillingError(f"{p}: cannot read billing export: no such file or directory")
    return [p], []


def current_files(path: str | Path) -> billing_deliveries.Selection:
    """The files of the export's current delivery (billing_deliveries): for a directory, each
    period's latest complete delivery and every file outside the providers' layouts."""
    files = export_files(path)
    selection = billing_deliveries.select(files) if Path(path).is_dir() else billing_deliveries.Selection(files)
    for level, message in selection.notes:
        log.log(level, "%s", message)
    return selection


def _open(path: Path) -> io.TextIOBase:
    """A text stream of the CSV: UTF-8, or UTF-16/32 when a byte-order mark says so."""
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    encoding = encoding_of(raw.peek(4)[:4])
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _window_start(last_day: str, window_days: float) -> str | None:
    """The window's first UTC day (YYYY-MM-DD) when it ends on `last_day`; None if that is no date."""
    try:
        last_epoch = epoch(last_day + "T00:00:00+00:00")
    except ValueError:
        return None
    return datetime.fromtimestamp(last_epoch - (window_days - 1) * 86400, timezone.utc).strftime("%Y-%m-%d")


def load_billing(
    path: str | Path,
    currency: str,
    *,
    cost_column: str = "EffectiveCost",
    window_days: float = DEFAULT_WINDOW_DAYS,
    expect: str | None = None,
    since: str = "",
) -> BillingPrices:
    """Read a FOCUS export and price its compute resources. Raises BillingError for an export
    that cannot be used at all (unreadable, missing columns, another currency); rows of the
    window with missing or malformed fields are skipped and counted by reason in `skipped`.

    One read where the window can be guessed (`expect`, a UTC day; None: from when the export
    was delivered, no later than `since`, the day a reload's previous window began; "": no
    guess): the file is surveyed and the pieces that reach the guessed day parsed in the same
    pass. A guess that proves early costs only the extra days parsed; one that proves late
    (the window begins before it) costs the second read below. CSV exports only.

    Otherwise two reads (billing_chunks): a survey finds each piece's latest ChargePeriodStart day, and
    so the window; the second read parses only the pieces that reach into it. Should the
    window turn out to start elsewhere — the survey's latest day has no compute row (only
    storage, say), or some pieces could not be dated and were parsed whole — the second read is
    done again from the window's first day: no row before the window decides a price, a
    resource's facts or an error, so the result is always the one a full parse of every row
    gives, however well the survey did. Files in billing-period folders are surveyed newest
    period first, and a period that ends before the window is not opened (`period_end`).

    The cyclic garbage collector waits until the load ends: it keeps a record per resource
    and day, and the collector would scan them all again each time enough of them pile up
    (an export of 840,000 short-lived instances loads a fifth faster so); reference counting
    frees everything else as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(path, currency, cost_column, window_days, expect, since)
    finally:
        if enabled:
            gc.enable()


def _load(path: str | Path, currency: str, cost_column: str, window_days: float, expect: str | None,
          since: str) -> BillingPrices:
    """load_billing, the collector paused."""
    if cost_column not in COST_COLUMNS:
        raise BillingError(f"{path}: cost column must be one of {', '.join(COST_COLUMNS)}, got {cost_column!r}")
    selection = current_files(path)
    files = selection.files
    ends = {f: period_end(f) for f in files}
    surveys: dict[Path, Survey | None] = {}  # the files read; the others hold no window rows
    known: dict[Path, Survey | None] = {}  # surveys from a read with an expected window

    def survey(wanted: Callable[[str | None], bool]) -> None:
        """Survey the files not surveyed yet whose period's end (None: no period) is wanted."""
        for f in files:
            if f not in surveys and wanted(ends[f]):
                surveys[f] = known[f] if f in known else _survey(f, cost_column)

    def start(day: str) -> str | None:
        return _window_start(day, window_days) if day else None

    def latest() -> str:
        return max((day for s in surveys.values() if s is not None for _, _, day in s if day), default="")

    # CSV only: a Parquet file's survey reads its footer's statistics, not its rows, so one
    # read would save nothing there.
    parquet = [billing_parquet.is_parquet(f) for f in files]
    if any(parquet):
        expect = ""
    elif expect is None:
        expect = min(filter(None, (_expected_start(files, window_days), since)), default="")
        expect = max(expect, _earliest_start(ends, window_days)) if expect else ""
    if expect:
        rows = _read_once(files, ends, known, Rows(currency, cost_column, expect), window_days)
        if rows is not None:
            return replace(_priced(path, currency, cost_column, window_days, rows, selection), reads=1)
    survey(lambda end: end is None)  # every file outside a billing period's folder
    for period in sorted({e for e in ends.values() if e}, reverse=True):  # the newest periods
        bound = start(latest())
        if bound is not None and period <= bound:
            break  # this period, and every older one, ends before the window
        survey(partial(eq, period))
    floor = start(latest())
    rows = _read(files, surveys, Rows(currency, cost_column, floor))
    first = start(rows.last_day)
    if first != floor:
        # An older period the window reaches after all (its latest day had no compute row).
        survey(lambda end: first is None or end is None or end > first)
        rows = _read(files, surveys, Rows(currency, cost_column, first))
    prices = _priced(path, currency, cost_column, window_days, rows, selection)
    return replace(prices, reads=0) if all(parquet) else prices


def _priced(path: str | Path, currency: str, cost_column: str, window_days: float, rows: Rows,
            selection: billing_deliveries.Selection) -> BillingPrices:
    prices = _price(str(path), currency, cost_column, window_days, rows)
    return replace(prices, files=len(selection.files), files_passed_over=len(selection.passed_over),
                   manifests_unreadable=selection.manifests_unreadable, files_missing=selection.missing)


#: How long after its latest charges an export is expected to be delivered (its files' latest
#: modification time: `aws s3 sync` sets a downloaded file's to the object's LastModified, in
#: awscli/customizations/s3/subscribers.py): AWS refreshes a Data Export up to three times a
#: day, Azure's exports run daily. Two days, not one: a guess a day early costs
#: parsing that day, about a twentieth of a month's load; one a day late costs a second read,
#: about half as long again (docs/performance.md).
DELIVERY_LAG = 2 * 86400.0


def _expected_start(files: list[Path], window_days: float) -> str:
    """Where the window is expected to start, from when the export was delivered: it ends on
    the UTC day of its latest charges, at most DELIVERY_LAG before the newest file's
    modification time ("" when no file can be looked at)."""
    try:
        newest = max(f.stat().st_mtime for f in files)
        last = datetime.fromtimestamp(newest - DELIVERY_LAG, timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):  # no file to look at, or a time out of range
        return ""
    return _window_start(last, window_days) or ""


def _earliest_start(ends: dict[Path, str | None], window_days: float) -> str:
    """The earliest the window can start if the newest billing period holds a compute row: its
    last day less the window, the period a month at most (AWS and Azure deliver a month a
    folder). A guess from files whose modification times are far older than their rows (a tar
    extracted as it was made) would otherwise open every older period; where the newest one
    has no compute row the guess proves late, and the second read finds the window. "" when no
    file is in a period's folder."""
    newest = max(filter(None, ends.values()), default=None)
    if newest is None:
        return ""
    last = datetime.strptime(newest, "%Y-%m-%d").replace(tzinfo=timezone.utc) - timedelta(days=32)
    return _window_start(last.strftime("%Y-%m-%d"), window_days) or ""


def _read_once(files: list[Path], ends: dict[Path, str | None], surveys: dict[Path, Survey | None],
               rows: Rows, window_days: float) -> Rows | None:
    """Every file whose period reaches `rows.floor` (the expected start of the window),
    surveyed and parsed in one read; None when the window starts before it after all (or a
    resource's keys would depend on where reading began): then `surveys` holds the files read,
    for load_billing's second read. A window that starts later than expected is exact as it
    is: the rows before it are left out when priced, their days kept apart."""
    counts: dict[Path, int] = {}
    for f in files:
        end = ends[f]
        if end is not None and end <= rows.floor:
            continue  # the period ends before the expected window
        before = rows.count
        try:
            with open_binary(f) as raw:
                surveys[f] = rows.read_once(f, raw)
        except _NOT_AT_ONCE:
            # A file read as one stream, or one that cannot be read: as load_billing reads them
            # without a guess (which may never open it: its period may end before the window).
            surveys.pop(f, None)
            return None
        counts[f] = rows.count - before
    first = _window_start(rows.last_day, window_days) if rows.last_day else None
    if first is None or first < rows.floor:
        return None
    if any(r.keys_depend_on_floor(first) for r in rows.resources.values()):
        return None
    # Rows read as load_billing reads them without a guess: the files of periods that reach the window.
    rows.count = sum(n for f, n in counts.items() if (end := ends[f]) is None or end > first)
    return rows


_PERIOD = re.compile(r"(?:^|/)BILLING_PERIOD=(\d{4})-(\d{2})(?=/|$)", re.IGNORECASE)
_MONTH_FOLDER = re.compile(r"(?:^|/)(\d{8})-(\d{8})/")


def period_end(f: Path) -> str | None:
    """The first day after the billing period whose folder holds the file; None outside one.
    AWS Data Exports deliver a period's charges, and only those, into its partition
    (`.../data/BILLING_PERIOD=2026-10/x.csv.gz` -> "2026-11-01"; docs.aws.amazon.com/cur/latest/
    userguide/dataexports-export-delivery.html); Azure Cost Management exports keep "the cost file
    for a particular month" in that month's folder (`.../20261001-20261031/<run>/x.csv.gz` ->
    "2026-11-01", the day after the range's last; learn.microsoft.com/azure/cost-management-
    billing/costs/tutorial-export-acm-data). A period that ends before the window need not be
    read at all: a year of exports costs no more to load than its last month."""
    path = f.as_posix()
    m = _PERIOD.search(path)
    if m is not None and 1 <= int(m[2]) <= 12:
        year, month = int(m[1]), int(m[2])
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return f"{year:04d}-{month:02d}-01"
    r = _MONTH_FOLDER.search(path)
    if r is None:
        return None
    try:
        first, last = (datetime.strptime(d, "%Y%m%d") for d in (r[1], r[2]))
    except ValueError:
        return None
    return (last + timedelta(days=1)).strftime("%Y-%m-%d") if first <= last else None


def _survey(f: Path, cost_column: str) -> Survey | None:
    """Each piece's (or Parquet row group's) latest start day; None for a file read as one
    stream (UTF-16, say)."""
    if billing_parquet.is_parquet(f):
        return billing_parquet.survey(f, cost_column)
    try:
        with open_binary(f) as raw:
            it = pieces(raw)
            first = next(it, None)
            if first is None:
                return []
            header, data = split_header(first)
            columns = Columns(f, header, cost_column)
            survey = DaySurvey(columns.start, columns.width, columnar())
            return [survey.measure(p) for p in chain((data,), it)]
    except Unchunkable:
        return None
    except READ_ERRORS as exc:
        raise unreadable(f, exc) from None


def _read(files: list[Path], surveys: dict[Path, Survey | None], rows: Rows) -> Rows:
    """Read the surveyed files, in the export's order."""
    for f in files:
        if f not in surveys:
            continue
        survey = surveys[f]
        try:
            if billing_parquet.is_parquet(f):
                billing_parquet.add(f, rows, survey or [])
            elif survey is None:
                with _open(f) as stream:
                    reader = csv.reader(stream)
                    header = next(reader, None)
                    if header is not None:
                        rows.add(f, Columns(f, header, rows.cost_column), reader, 1)
            else:
                with open_binary(f) as raw:
                    rows.add_pieces(f, raw, survey)
        except _STREAM_ERRORS as exc:
            raise unreadable(f, exc) from None
    return rows


def _price(source: str, currency: str, cost_column: str, window_days: float, rows: Rows) -> BillingPrices:
    resources = rows.resources
    last = rows.last_day
    first = (_window_start(last, window_days) or "") if last else ""
    rows.refuse_foreign(first)
    # Problems are counted for the window's rows (and rows without a ChargePeriodStart at all).
    skipped: dict[str, int] = {}
    for (reason, day), n in rows.skipped.items():
        if not day or day >= first:
            skipped[reason] = skipped.get(reason, 0) + n
    prices: dict[str, ResourcePrice] = {}
    sku_cost: dict[tuple[str, str, str], list[float]] = {}
    last_end = 0.0
    day_cost, day_qty, day_metered, day_start, day_end = rows.sums.lists()
    for r in resources.values():
        slots = [d.slot for k, d in r.days.items() if k >= first]
        if not slots:
            continue
        end = max(map(day_end.__getitem__, slots))
        last_end = max(last_end, end)
        cost = sum(map(day_cost.__getitem__, slots))
        span = (end - min(map(day_start.__getitem__, slots))) / 3600
        metered = [s for s in slots if day_metered[s]]
        hours = min(span, sum(map(day_qty.__getitem__, metered))) if len(metered) == len(slots) else span
        if hours <= 0:
            skipped["no_billed_hours"] = skipped.get("no_billed_hours", 0) + 1
            continue
        if cost < 0 or not math.isfinite(cost):
            # Credits larger than the usage they offset: no price, rather than a negative one.
            skipped["negative_cost"] = skipped.get("negative_cost", 0) + 1
            continue
        region, capacity_type, instance_type = r.facts(first)
        price = ResourcePrice(cost / hours, hours, region, instance_type, capacity_type)
        for key in r.keys:
            prices[key] = price
        if instance_type:
            acc = sku_cost.setdefault((instance_type, region, capacity_type), [0.0, 0.0])
            acc[0] += cost
            acc[1] += hours
    skus = {k: c / h for k, (c, h) in sku_cost.items() if h > 0}
    if skipped:
        log.warning("%s: %s billing rows skipped (%s)", source, sum(skipped.values()),
                    ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())))
    return BillingPrices(source, currency, cost_column, first, last, prices, skus, rows.count, skipped,
                         last_charge_end=last_end)


def iter_reasons(prices: BillingPrices | None) -> Iterator[tuple[str, int]]:
    """(reason, rows skipped) of the last export read, sorted."""
    if prices is not None:
        yield from sorted(prices.skipped.items())

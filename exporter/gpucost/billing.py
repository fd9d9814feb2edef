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
small record per (resource, day) of the window, never the file or its rows. CSV and gzip'd CSV;
a directory is read recursively. Parquet is not read (pyarrow would triple the image): export
CSV.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from .billing_chunks import DaySurvey, Unchunkable, open_binary, pieces, records, split_header
from .configfile import ConfigError
from .guard import brief, encoding_of

log = logging.getLogger("gpucost.billing")

COST_COLUMNS = ("EffectiveCost", "BilledCost", "ListCost", "ContractedCost")
DEFAULT_WINDOW_DAYS = 7
_REQUIRED = ("ResourceId", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd", "BillingCurrency")
#: ConsumedUnit spellings that mean hours: AWS "Hrs", Azure "1 Hour" / "Hours", GCP "hour".
_HOUR_UNITS = frozenset({"hrs", "hr", "hours", "hour", "h", "1 hour"})
#: AWS usage types naming an instance's running hours: `BoxUsage:p5.48xlarge`,
#: `USE2-SpotUsage:g5.xlarge` (FOCUS 1.0 `x_UsageType`; FOCUS 1.2 `SkuMeter`).
_AWS_USAGE = re.compile(r"(?:^|-)(?:Box|Spot|Dedicated|HostBox|Reservation)Usage:(?P<type>[\w.-]+)$")
#: FOCUS PricingCategory -> capacity type (1.0+: Standard, Dynamic, Committed; pre-1.0 spellings too).
_CAPACITY = {"dynamic": "spot", "standard": "on-demand", "on-demand": "on-demand",
             "committed": "on-demand", "commitment-based": "on-demand"}


class BillingError(ConfigError):
    """An unusable billing export; the message names the file, line and column."""


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
    VMName Azure's cost details give a scale-set instance). Lower case: Azure ids are
    case-insensitive."""
    pid = provider_id.strip().lower()
    if not pid:
        return ""
    parts = [p for p in pid.split("/") if p]
    if "virtualmachinescalesets" in parts:
        i = parts.index("virtualmachinescalesets")
        if len(parts) >= i + 4 and parts[i + 2] == "virtualmachines":
            return f"{parts[i + 1]}_{parts[i + 3]}"
    return parts[-1] if parts else ""


def _row_keys(resource_id: str, resource_name: str, sku_details: dict[str, object]) -> list[str]:
    vm = sku_details.get("VMName")
    if isinstance(vm, str) and vm:
        return [vm.lower()]
    keys = [resource_id.rstrip("/").rsplit("/", 1)[-1].lower()]
    if resource_name and resource_name.lower() not in keys:
        keys.append(resource_name.lower())
    return keys


class _Day:
    """One resource's compute rows on one UTC day."""

    __slots__ = ("cost", "end", "hourly_qty", "metered", "start")

    def __init__(self, start: float, end: float) -> None:
        self.cost = 0.0
        self.hourly_qty = 0.0
        self.metered = False
        self.start = start
        self.end = end


class _Resource:
    __slots__ = ("capacity_type", "days", "instance_type", "keys", "region")

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.days: dict[str, _Day] = {}
        self.region = ""
        self.instance_type = ""
        self.capacity_type = "on-demand"


_times: dict[str, float] = {}


def _epoch(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 timestamp (a naive one is UTC). Cached: an
    export holds a few hundred distinct period bounds across millions of rows."""
    t = _times.get(text)
    if t is None:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        t = _times[text] = dt.timestamp()
    return t


def export_files(path: str | Path) -> list[Path]:
    """The CSV and gzip'd CSV files of an export: the file itself, or a directory's, sorted."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith((".csv", ".csv.gz")))
        if not files:
            raise BillingError(f"{p}: no .csv or .csv.gz files in the billing export directory")
        return files
    if not p.is_file():
        raise BillingError(f"{p}: cannot read billing export: no such file or directory")
    return [p]


def _open(path: Path) -> io.TextIOBase:
    """A text stream of the CSV: UTF-8, or UTF-16/32 when a byte-order mark says so."""
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    encoding = encoding_of(raw.peek(4)[:4])
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _window_start(last_day: str, window_days: float) -> str | None:
    """The window's first UTC day (YYYY-MM-DD) when it ends on `last_day`; None if that is no date."""
    try:
        last_epoch = _epoch(last_day + "T00:00:00+00:00")
    except ValueError:
        return None
    return datetime.fromtimestamp(last_epoch - (window_days - 1) * 86400, timezone.utc).strftime("%Y-%m-%d")


def load_billing(
    path: str | Path,
    currency: str,
    *,
    cost_column: str = "EffectiveCost",
    window_days: float = DEFAULT_WINDOW_DAYS,
) -> BillingPrices:
    """Read a FOCUS export and price its compute resources. Raises BillingError for an export
    that cannot be used at all (unreadable, missing columns, another currency); rows of the
    window with missing or malformed fields are skipped and counted by reason in `skipped`.

    Two reads (billing_chunks): a survey finds each piece's latest ChargePeriodStart day, and
    so the window; the second read parses only the pieces that reach into it. Should the
    survey's latest day have no compute row (only storage, say), the window ends earlier and
    the second read is done again from that window's start, so the result is always the one a
    full parse of every row gives."""
    if cost_column not in COST_COLUMNS:
        raise BillingError(f"{path}: cost column must be one of {', '.join(COST_COLUMNS)}, got {cost_column!r}")
    files = export_files(path)
    surveys = [_survey(f, cost_column) for f in files]
    latest = max((day for s in surveys if s is not None for _, _, day in s if day), default="")
    floor = _window_start(latest, window_days) if latest else None
    rows = _read(files, surveys, _Rows(currency, cost_column, floor))
    if floor is not None:
        first = _window_start(rows.last_day, window_days) if rows.last_day else None
        if first is None or first < floor:
            rows = _read(files, surveys, _Rows(currency, cost_column, first))
    return _price(str(path), currency, cost_column, window_days, rows)


#: Per piece of a file: (bytes, records, latest ChargePeriodStart day or None when not known).
_Survey = list[tuple[int, int, "str | None"]]


def _survey(f: Path, cost_column: str) -> _Survey | None:
    """Each piece's latest start day; None for a file read as one stream (UTF-16, say)."""
    try:
        with open_binary(f) as raw:
            it = pieces(raw)
            first = next(it, None)
            if first is None:
                return []
            header, data = split_header(first)
            survey = DaySurvey(_Columns(f, header, cost_column).start)
            out: _Survey = [(len(data), *survey.last_day(data))]
            out.extend((len(p), *survey.last_day(p)) for p in it)
            return out
    except Unchunkable:
        return None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise BillingError(f"{f}: cannot read billing export: {brief(str(exc))[1:-1]}") from None


def _read(files: list[Path], surveys: list[_Survey | None], rows: _Rows) -> _Rows:
    for f, survey in zip(files, surveys, strict=True):
        try:
            if survey is None:
                with _open(f) as stream:
                    reader = csv.reader(stream)
                    header = next(reader, None)
                    if header is not None:
                        rows.add(f, _Columns(f, header, rows.cost_column), reader, 1)
            else:
                with open_binary(f) as raw:
                    rows.add_pieces(f, raw, survey)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error, zlib.error) as exc:
            raise BillingError(f"{f}: cannot read billing export: {brief(str(exc))[1:-1]}") from None
    return rows


class _Columns:
    """Where the columns the loader reads are in one file's header."""

    def __init__(self, f: Path, header: list[str], cost_column: str) -> None:
        col = {name.strip(): i for i, name in enumerate(header)}
        for name in (*_REQUIRED, cost_column):
            if name not in col:
                raise BillingError(f"{f}:1: missing column {name!r} (is this a FOCUS export?)")
        self.id, self.category, self.start, self.end, self.currency = (col[n] for n in _REQUIRED)
        self.cost = col[cost_column]
        self.width = len(header)
        self.name, self.charge_class, self.service, self.quantity, self.unit, self.region, self.pricing, \
            self.usage, self.meter, self.details = (
                col.get(n) for n in ("ResourceName", "ChargeClass", "ServiceCategory", "ConsumedQuantity",
                                     "ConsumedUnit", "RegionId", "PricingCategory", "x_UsageType", "SkuMeter",
                                     "x_SkuDetails"))


def _details(text: str) -> dict[str, object]:
    """x_SkuDetails (Azure: a JSON object) as a dict; {} when it is empty or not an object."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):  # [[[[...]]]] deeper than the JSON decoder goes
        return {}
    return parsed if isinstance(parsed, dict) else {}


class _Rows:
    """The compute rows of an export, kept as one record per (resource, UTC day), for the rows
    whose ChargePeriodStart day (its first ten characters) is not before `floor`."""

    def __init__(self, currency: str, cost_column: str, floor: str | None) -> None:
        self.currency = currency
        self.cost_column = cost_column
        self.floor = floor or ""
        self.resources: dict[str, _Resource] = {}
        #: (ResourceId, ResourceName, x_SkuDetails) as written -> its resource: the keys are
        #: worked out once per resource, not once per row.
        self._by_text: dict[tuple[str, str, str], _Resource] = {}
        self.skipped: dict[tuple[str, str], int] = {}  # (reason, day) -> rows
        self.count = 0
        self.last_day = ""

    def add_pieces(self, f: Path, raw: BinaryIO, survey: _Survey) -> None:
        """Parse the file's pieces that reach into the window; count the others' rows."""
        line = 1
        columns: _Columns | None = None
        for i, piece in enumerate(pieces(raw)):
            if columns is None:
                header, piece = split_header(piece)
                columns = _Columns(f, header, self.cost_column)
            if i >= len(survey) or len(piece) != survey[i][0]:
                raise BillingError(f"{f}: the billing export changed while it was read")
            _, lines, day = survey[i]
            if day is not None and day < self.floor:
                line += lines
                self.count += lines
                continue
            line = self.add(f, columns, records(piece), line)

    def add(self, f: Path, c: _Columns, reader: Iterable[list[str]], line: int) -> int:
        """Take in the rows of `reader`, the first of which is on `line` - 1; returns the last
        line read."""
        floor, currency, skipped, resources, by_text = self.floor, self.currency, self.skipped, self.resources, \
            self._by_text
        i_id, i_cat, i_start, i_end, i_cur, i_cost, width = c.id, c.category, c.start, c.end, c.currency, c.cost, \
            c.width
        i_class, i_service, i_qty, i_unit, i_name, i_details = c.charge_class, c.service, c.quantity, c.unit, \
            c.name, c.details
        last_day = self.last_day
        times = _times
        n = 0
        for row in reader:
            n += 1
            line += 1
            cols = len(row)
            day = row[i_start][:10] if cols > i_start else ""
            if day < floor and cols > i_start:
                continue  # before the window: passed over unread
            if cols != width:
                skipped["wrong_column_count", day] = skipped.get(("wrong_column_count", day), 0) + 1
                continue
            if row[i_cat] != "Usage" or (i_class is not None and row[i_class] == "Correction"):
                continue
            if i_service is not None and row[i_service] not in ("Compute", ""):
                continue
            resource_id = row[i_id]
            if not resource_id:
                continue  # usage no resource carries (support, some managed services)
            if row[i_cur] != currency:
                if not row[i_cur]:
                    skipped["missing_currency", day] = skipped.get(("missing_currency", day), 0) + 1
                    continue
                billed = brief(row[i_cur])[1:-1]
                raise BillingError(
                    f"{f}:{line}: BillingCurrency: the export is billed in {billed} but the pricing file's "
                    f"currency is {currency}; set `currency: {billed}` in the pricing file or export in {currency}"
                )
            try:
                cost = float(row[i_cost])
                start = times.get(row[i_start]) or _epoch(row[i_start])
                end = times.get(row[i_end]) or _epoch(row[i_end])
            except (ValueError, OverflowError):
                skipped["malformed_value", day] = skipped.get(("malformed_value", day), 0) + 1
                continue
            if end <= start or not math.isfinite(cost):  # NaN, inf, 1e999
                skipped["malformed_value", day] = skipped.get(("malformed_value", day), 0) + 1
                continue
            text = (resource_id, row[i_name] if i_name is not None else "",
                    row[i_details] if i_details is not None else "")
            r = by_text.get(text)
            if r is None:
                keys = _row_keys(resource_id, text[1], _details(text[2]))
                r = resources.get(keys[0])
                if r is None:
                    r = resources[keys[0]] = _Resource(keys)
                    if c.region is not None:
                        r.region = row[c.region]
                    if c.pricing is not None:
                        r.capacity_type = _CAPACITY.get(row[c.pricing].lower(), "on-demand")
                by_text[text] = r
            if not r.instance_type:
                r.instance_type = _instance_type(row, c.usage, c.meter, _details(text[2]))
            d = r.days.get(day)
            if d is None:
                d = r.days[day] = _Day(start, end)
                if day > last_day:
                    last_day = day
            else:
                if start < d.start:
                    d.start = start
                if end > d.end:
                    d.end = end
            d.cost += cost
            if i_unit is not None and i_qty is not None and row[i_unit].lower() in _HOUR_UNITS:
                try:
                    qty = float(row[i_qty])
                except ValueError:
                    qty = math.nan
                if math.isfinite(qty) and qty >= 0:
                    d.hourly_qty += qty
                    d.metered = True
                # else: the cost still counts; the span measures the hours
        self.count += n
        self.last_day = last_day
        return line


def _instance_type(row: list[str], i_usage: int | None, i_meter: int | None, details: dict[str, object]) -> str:
    for i in (i_usage, i_meter):
        if i is not None and row[i]:
            m = _AWS_USAGE.search(row[i])
            if m:
                return m.group("type")
    service_type = details.get("ServiceType")  # Azure: the VM size, e.g. Standard_ND96isr_H100_v5
    return service_type if isinstance(service_type, str) else ""


def _price(source: str, currency: str, cost_column: str, window_days: float, rows: _Rows) -> BillingPrices:
    resources = rows.resources
    last = rows.last_day
    first = (_window_start(last, window_days) or "") if last else ""
    # Problems are counted for the window's rows (and rows without a ChargePeriodStart at all).
    skipped: dict[str, int] = {}
    for (reason, day), n in rows.skipped.items():
        if not day or day >= first:
            skipped[reason] = skipped.get(reason, 0) + n
    prices: dict[str, ResourcePrice] = {}
    sku_cost: dict[tuple[str, str, str], list[float]] = {}
    for r in resources.values():
        days = [d for k, d in r.days.items() if k >= first]
        if not days:
            continue
        cost = sum(d.cost for d in days)
        span = (max(d.end for d in days) - min(d.start for d in days)) / 3600
        metered = [d for d in days if d.metered]
        hours = min(span, sum(d.hourly_qty for d in metered)) if len(metered) == len(days) else span
        if hours <= 0:
            skipped["no_billed_hours"] = skipped.get("no_billed_hours", 0) + 1
            continue
        if cost < 0 or not math.isfinite(cost):
            # Credits larger than the usage they offset: no price, rather than a negative one.
            skipped["negative_cost"] = skipped.get("negative_cost", 0) + 1
            continue
        price = ResourcePrice(cost / hours, hours, r.region, r.instance_type, r.capacity_type)
        for key in r.keys:
            prices[key] = price
        if r.instance_type:
            acc = sku_cost.setdefault((r.instance_type, r.region, r.capacity_type), [0.0, 0.0])
            acc[0] += cost
            acc[1] += hours
    skus = {k: c / h for k, (c, h) in sku_cost.items() if h > 0}
    if skipped:
        log.warning("%s: %s billing rows skipped (%s)", source, sum(skipped.values()),
                    ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())))
    return BillingPrices(source, currency, cost_column, first, last, prices, skus, rows.count, skipped)


def iter_reasons(prices: BillingPrices | None) -> Iterator[tuple[str, int]]:
    """(reason, rows skipped) of the last export read, sorted."""
    if prices is not None:
        yield from sorted(prices.skipped.items())

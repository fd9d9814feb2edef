"""The compute rows of a FOCUS export, kept as one record per (resource, UTC day).

`Rows` takes an export's rows as billing.load_billing hands them over: a piece at a time from
billing_chunks (the survey having said which pieces reach into the window, or surveying them
as they are read: `read_once`), or as one csv stream. A piece that billing_columns can read
column by column is taken there, with numpy, and its rows added to their days' sums
(billing_days) with ufuncs; any other piece, and any piece with a row this reader would skip
with a reason or refuse, is read here row by row (`Rows.add`), which is the definition of what
a row means.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO

from .billing_chunks import UNLOCATED, DaySurvey, columnar, pieces, records, replayed, split_header
from .configfile import ConfigError
from .guard import brief

if TYPE_CHECKING:
    from numpy import int64
    from numpy.typing import NDArray

    from . import billing_columns
    from .billing_days import Day, Resource


#: Per piece of a file: (bytes, records, latest ChargePeriodStart day or None when not known).
Survey = list[tuple[int, int, "str | None"]]

REQUIRED = ("ResourceId", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd", "BillingCurrency")
#: The other columns read where the export has them (Region: FOCUS 1.0-preview's RegionId).
OPTIONAL = ("ResourceName", "ChargeClass", "ServiceCategory", "ConsumedQuantity", "ConsumedUnit", "RegionId",
            "PricingCategory", "x_UsageType", "SkuMeter", "x_SkuDetails")
READ = (*REQUIRED, *OPTIONAL, "Region")
#: The FOCUS cost columns a price may be taken from (`--billing.cost-column`), the default first.
COST_COLUMNS = ("EffectiveCost", "BilledCost", "ListCost", "ContractedCost")
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


def unreadable(f: Path, exc: BaseException) -> BillingError:
    """The error for an export file that cannot be read (damaged gzip or Parquet, I/O)."""
    return BillingError(f"{f}: cannot read billing export: {brief(str(exc))[1:-1]}")


def _row_keys(resource_id: str, resource_name: str, sku_details: dict[str, object]) -> list[str]:
    vm = sku_details.get("VMName")
    if isinstance(vm, str) and vm:
        return [vm.lower()]
    keys = [resource_id.rstrip("/").rsplit("/", 1)[-1].lower()]
    if resource_name and resource_name.lower() not in keys:
        keys.append(resource_name.lower())
    return keys


_times: dict[str, float] = {}


def epoch(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 timestamp (a naive one is UTC). Cached: an
    export holds a few hundred distinct period bounds across millions of rows."""
    t = _times.get(text)
    if t is None:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        t = _times[text] = dt.timestamp()
    return t


class Columns:
    """Where the columns the loader reads are in one file's header."""

    def __init__(self, f: Path, header: list[str], cost_column: str) -> None:
        col = {name.strip(): i for i, name in enumerate(header)}
        for name in (*REQUIRED, cost_column):
            if name not in col:
                raise BillingError(f"{f}:1: missing column {name!r} (is this a FOCUS export?)")
        self.id, self.category, self.start, self.end, self.currency = (col[n] for n in REQUIRED)
        self.cost = col[cost_column]
        self.width = len(header)
        self.name, self.charge_class, self.service, self.quantity, self.unit, self.region, self.pricing, \
            self.usage, self.meter, self.details = (col.get(n) for n in OPTIONAL)
        if self.region is None:  # FOCUS 1.0-preview's name, which OCI's FOCUS reports keep
            self.region = col.get("Region")
        #: Whether rows can name an instance type at all (GCP's export has none of these
        #: columns): without them no row is asked for one.
        self.names_types = any(i is not None for i in (self.usage, self.meter, self.details))
        self._offsets: billing_columns.Columns | None = None

    def columnar(self, module: ModuleType) -> billing_columns.Columns:
        """The same offsets for billing_columns.take (made once a file)."""
        if self._offsets is None:
            self._offsets = module.Columns(
                self.id, self.category, self.start, self.end, self.currency, self.cost, self.charge_class,
                self.service, self.quantity, self.unit, self.name, self.details, _hour_unit)
        return self._offsets


def _hour_unit(unit: str) -> bool:
    return unit.lower() in _HOUR_UNITS


def _details(text: str) -> dict[str, object]:
    """x_SkuDetails (Azure: a JSON object) as a dict; {} when it is empty or not an object."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):  # [[[[...]]]] deeper than the JSON decoder goes
        return {}
    return parsed if isinstance(parsed, dict) else {}


class Rows:
    """The compute rows of an export, kept as one record per (resource, UTC day), for the rows
    whose ChargePeriodStart day (its first ten characters) is not before `floor`."""

    def __init__(self, currency: str, cost_column: str, floor: str | None) -> None:
        #: billing_columns where numpy can be imported: pieces are then read column by column.
        self._columnar = columnar()
        self.currency = currency
        self.cost_column = cost_column
        self.floor = floor or ""
        self.resources: dict[str, Resource] = {}
        #: (ResourceId, ResourceName, x_SkuDetails) as written -> its resource: the keys are
        #: worked out once per resource, not once per row.
        self._by_text: dict[tuple[str, str, str], Resource] = {}
        # numpy, like billing_columns, only once an export is read.
        from . import billing_days

        self._day_type = billing_days.Day
        self._resource_type = billing_days.Resource
        #: The days' sums, and each day by its slot there.
        self.sums = billing_days.Sums()
        self._days: list[Day] = []
        #: Regions and instance types, one string each however many days name them.
        self._strings: dict[str, str] = {}
        #: The same fields as pieces read by columns hold them (quotes and all), by digest; by
        #: how many of the three fields the file has, as digests of two layouts never mix.
        self._texts = {n: billing_days.Texts() for n in (1, 2, 3)}
        self.skipped: dict[tuple[str, str], int] = {}  # (reason, day) -> rows
        #: Compute rows billed in another currency: the first of each day, (file:line, currency).
        #: Refused only when they are in the window (`refuse_foreign`), which is known at the end.
        self.foreign: dict[str, tuple[str, str]] = {}
        self.count = 0
        self.last_day = ""

    def refuse_foreign(self, first: str) -> None:
        """Raise for the first row (in the order read) of the window billed in another currency."""
        for day, (where, billed) in self.foreign.items():
            if day >= first:
                currency = self.currency
                raise BillingError(
                    f"{where}: BillingCurrency: the export is billed in {billed} but the pricing file's "
                    f"currency is {currency}; set `currency: {billed}` in the pricing file or export in {currency}"
                )

    def _new_day(self, r: Resource, day: str, start: float, end: float, region: str, pricing: str) -> Day:
        """The resource's record of `day`, made from its first row that day (its RegionId and
        PricingCategory: region and capacity type), with the period [start, end)."""
        d = r.days[day] = self._day_type(self.sums, start, end, self._strings.setdefault(region, region),
                                         _CAPACITY.get(pricing.lower(), "on-demand"))
        self._days.append(d)  # at its slot
        return d

    def _named(self, value: str) -> str:
        return self._strings.setdefault(value, value)

    def _resource(self, text: tuple[str, str, str], day: str) -> Resource:
        """The resource of a text not met before (its first row is dated `day`): found by its
        first key, or made."""
        keys = _row_keys(text[0], text[1], _details(text[2]))
        r = self.resources.get(keys[0])
        if r is None:
            r = self.resources[keys[0]] = self._resource_type(keys, day)
        elif keys != r.keys:
            r.varied = True
        self._by_text[text] = r
        return r

    def add_pieces(self, f: Path, raw: BinaryIO, survey: Survey) -> None:
        """Parse the file's pieces that reach into the window; count the others' rows. The
        pieces are the survey's, cut again at its lengths (billing_chunks.replayed)."""
        if not survey:
            return
        it = replayed(raw, [n for n, _, _ in survey])
        header, _ = split_header(next(it))
        columns = Columns(f, header, self.cost_column)
        floor, line = self.floor, 1
        for i, piece in enumerate(it):
            if i >= len(survey) or len(piece) != survey[i][0] or (piece and not piece.endswith(b"\n")):
                raise BillingError(f"{f}: the billing export changed while it was read")
            _, lines, day = survey[i]
            if day is not None and day < floor:
                line += lines
                self.count += lines
            else:
                line = self.add_piece(f, columns, piece, line)

    def read_once(self, f: Path, raw: BinaryIO) -> Survey:
        """Survey the file and parse the pieces that reach into the window in the same read,
        the window taken to start at `floor` (billing.load_billing's guess, which it checks
        when every file is read); returns the survey, as billing._survey gives it, for a second
        read should the guess prove wrong. Raises Unchunkable as `pieces` does."""
        it = pieces(raw)
        first = next(it, None)
        if first is None:
            return []
        header, data = split_header(first)
        columns = Columns(f, header, self.cost_column)
        fast = self._columnar
        days = DaySurvey(columns.start, columns.width, fast)
        survey: Survey = []
        floor, line = self.floor, 1
        for piece in chain((data,), it):
            table = fast.Table.of(piece, columns.width) if fast is not None else None
            lines, day = days.last_day(piece, table)
            survey.append((len(piece), lines, day))
            if day is not None and day < floor:
                line += lines
                self.count += lines
            else:
                line = self.add_piece(f, columns, piece, line, table)
        return survey

    def add_piece(self, f: Path, columns: Columns, piece: bytes, line: int, table: object = UNLOCATED) -> int:
        """Take in a piece of CSV records (whole records, no header), the first on `line` + 1,
        column by column where billing_columns can read it, else row by row; the last line.
        `table`: the piece's billing_columns.Table (or None) where the caller located it."""
        fast = self._columnar
        if fast is not None and table is UNLOCATED:
            table = fast.Table.of(piece, columns.width)
        if fast is not None and table is not None:
            assert isinstance(table, fast.Table)
            if not piece.isascii():
                piece.decode("utf-8")  # as the row-by-row reader would: not UTF-8 is an error
            offsets = columns.columnar(fast)
            taken = fast.take(table, offsets, self.floor, self.currency, epoch)
            if taken is not None and self._merge(columns, offsets, table, taken, fast):
                self.count += table.n
                return line + table.n
        return self.add(f, columns, records(piece), line)

    def _merge(self, c: Columns, offsets: billing_columns.Columns, table: billing_columns.Table,
               t: billing_columns.Taken, fast: ModuleType) -> bool:
        """Take in a piece's rows read by columns (billing_columns.take) as `add` takes them in,
        in order: each row's text found by its digest, its day's slot by text and day, and the
        sums added with ufuncs (ufunc.at adds in row order, as `add` does). Python works only
        for a text or a (text, day) not met before, and for days still without an instance
        type. False, with nothing taken in, when a digest stands for two texts: the caller then
        reads the piece row by row."""
        import numpy as np

        n = len(t.rows)
        if not n:
            return True
        texts = self._texts[len(t.texts)]
        which = texts.find(t.digest, t.texts)
        if which is None:
            return False
        fresh = np.flatnonzero(which < 0)
        if len(fresh) and not self._new_texts(c, offsets, t, which, fresh, fast):
            return False
        slot = np.empty(n, np.int64)
        for k, day in enumerate(t.days):
            on = t.day_of == k
            slot[on] = texts.day_slots(day)[which[on]]
        missing = np.flatnonzero(slot < 0)
        if len(missing):
            # A (text, day) not met before: its day found, or made from its first row.
            key = which[missing] * len(t.days) + t.day_of[missing]
            _, first = np.unique(key, return_index=True)
            firsts = np.sort(missing[first])
            regions, pricings = fast.fields(table, t.rows[firsts], [c.region, c.pricing])
            for x, k, start, end, region, pricing in zip(
                    which[firsts].tolist(), t.day_of[firsts].tolist(), t.start[firsts].tolist(),
                    t.end[firsts].tolist(), regions, pricings, strict=True):
                day = t.days[k]
                r = texts.resources[x]
                d = r.days.get(day) or self._new_day(r, day, start, end, region, pricing)
                texts.day_slots(day)[x] = d.slot
            for k, day in enumerate(t.days):
                on = t.day_of[missing] == k
                slot[missing[on]] = texts.day_slots(day)[which[missing[on]]]
        s = self.sums
        np.add.at(s.cost, slot, t.cost)
        np.minimum.at(s.start, slot, t.start)
        np.maximum.at(s.end, slot, t.end)
        if bool(t.metered.any()):
            np.add.at(s.qty, slot[t.metered], t.qty[t.metered])
            s.metered[slot[t.metered]] = True
        last = max(t.days)
        if last > self.last_day:
            self.last_day = last
        if c.names_types:
            untyped = np.flatnonzero(~s.typed[slot])
            if len(untyped):
                self._type(c, offsets, table, t, slot, untyped, fast)
        return True

    def _new_texts(self, c: Columns, offsets: billing_columns.Columns, t: billing_columns.Taken,
                   which: NDArray[int64], fresh: NDArray[int64], fast: ModuleType) -> bool:
        """Index the texts of rows `fresh` (not met before), each with its resource (found, or
        made from its first row), in the order of their first rows; False when two of them share
        a digest."""
        import numpy as np

        digests, first, inverse = np.unique(t.digest[fresh], return_index=True, return_inverse=True)
        firsts = fresh[first]
        inverse = inverse.ravel()
        for f in t.texts:
            if not bool((f[fresh] == f[firsts[inverse]]).all()):
                return False
        order = np.argsort(firsts, kind="stable")
        resources = []
        by_text = self._by_text
        ordered = firsts[order]
        for k, *raw in zip(t.day_of[ordered].tolist(), *(f[ordered].tolist() for f in t.texts), strict=True):
            text = fast.text(offsets, raw)
            resources.append(by_text.get(text) or self._resource(text, t.days[k]))
        index = np.empty(len(order), np.int64)
        index[order] = self._texts[len(t.texts)].add(digests[order], [f[firsts[order]] for f in t.texts], resources)
        which[fresh] = index[inverse]
        return True

    def _type(self, c: Columns, offsets: billing_columns.Columns, table: billing_columns.Table,
              t: billing_columns.Taken, slot: NDArray[int64], untyped: NDArray[int64],
              fast: ModuleType) -> None:
        """Instance types as `add` finds them: a day takes the type its first row naming one
        names, rows taken in order (whichever of the resource's texts they are written with).
        `untyped`: the rows (in order) of days without a type; each day's first row here
        decides most days alone, and only the days it leaves untyped are scanned further."""
        import numpy as np

        days, typed = self._days, self.sums.typed
        _, first = np.unique(slot[untyped], return_index=True)
        tried = np.zeros(len(untyped), np.bool_)
        tried[first] = True
        rows = untyped[tried]
        while len(rows):
            usages, meters = fast.fields(table, t.rows[rows], [c.usage, c.meter])
            details = fast.fields(table, t.rows[rows], [c.details])[0]
            for s, usage, meter, detail in zip(slot[rows].tolist(), usages, meters, details, strict=True):
                d = days[s]
                if not d.instance_type:
                    d.name(self._named(_instance_type(usage, meter, _details(detail))))
            # Then the other rows, in order, of the days their first row left untyped.
            rows = untyped[~tried & ~typed[slot[untyped]]]
            tried[:] = True

    def add(self, f: Path, c: Columns, reader: Iterable[Sequence[str]], line: int) -> int:
        """Take in the rows of `reader`, the first of which is on `line` - 1; returns the last
        line read."""
        floor, currency, skipped, by_text, foreign = self.floor, self.currency, self.skipped, self._by_text, \
            self.foreign
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
                if day not in foreign:
                    foreign[day] = (f"{f}:{line}", brief(row[i_cur])[1:-1])
                continue
            try:
                cost = float(row[i_cost])
                start = times.get(row[i_start]) or epoch(row[i_start])
                end = times.get(row[i_end]) or epoch(row[i_end])
            except (ValueError, OverflowError):
                skipped["malformed_value", day] = skipped.get(("malformed_value", day), 0) + 1
                continue
            if end <= start or not math.isfinite(cost):  # NaN, inf, 1e999
                skipped["malformed_value", day] = skipped.get(("malformed_value", day), 0) + 1
                continue
            text = (resource_id, row[i_name] if i_name is not None else "",
                    row[i_details] if i_details is not None else "")
            r = by_text.get(text) or self._resource(text, day)
            d = r.days.get(day) or self._new_day(r, day, start, end, row[c.region] if c.region is not None else "",
                                                 row[c.pricing] if c.pricing is not None else "")
            if day > last_day:
                last_day = day
            if not d.instance_type and c.names_types:
                d.name(self._named(_instance_type(row[c.usage] if c.usage is not None else "",
                                                  row[c.meter] if c.meter is not None else "", _details(text[2]))))
            d.add(cost, start, end)
            if i_unit is not None and i_qty is not None and row[i_unit].lower() in _HOUR_UNITS:
                try:
                    qty = float(row[i_qty])
                except ValueError:
                    qty = math.nan
                if math.isfinite(qty) and qty >= 0:
                    d.meter(qty)
                # else: the cost still counts; the span measures the hours
        self.count += n
        self.last_day = last_day
        return line


def _instance_type(usage: str, meter: str, details: dict[str, object]) -> str:
    """The instance type a row names: in its usage type or SKU meter (AWS), else in its SKU
    details (Azure's ServiceType); "" where it names none."""
    for field in (usage, meter):
        if field:
            m = _AWS_USAGE.search(field)
            if m:
                return m.group("type")
    service_type = details.get("ServiceType")  # Azure: the VM size, e.g. Standard_ND96isr_H100_v5
    return service_type if isinstance(service_type, str) else ""

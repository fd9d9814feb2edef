"""What the loader keeps of an export's compute rows: one record per (resource, UTC day).

A day's sums (cost, metered hours, first start, last end) live in arrays (`Sums`), one slot a
day, so that the rows of a piece read by columns (billing_columns.take) are added to their
days with a few ufunc calls rather than a Python step a row or a group; the row-by-row reader
adds to the same slots. What a day's first rows say of the resource (region, capacity type,
instance type) stays on its `Day`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_GROW = 4096


class Sums:
    """The days' sums, a slot a day: cost, hours metered, whether any row was metered in hours,
    first ChargePeriodStart, last ChargePeriodEnd, and whether the day has an instance type."""

    def __init__(self) -> None:
        self.n = 0
        self.cost = np.zeros(_GROW)
        self.qty = np.zeros(_GROW)
        self.metered = np.zeros(_GROW, np.bool_)
        self.start = np.full(_GROW, np.inf)
        self.end = np.full(_GROW, -np.inf)
        self.typed = np.zeros(_GROW, np.bool_)

    def lists(self) -> tuple[list[float], list[float], list[bool], list[float], list[float]]:
        """(cost, hours metered, metered, first start, last end) by slot, as Python lists: for
        pricing every resource, faster than reading the arrays a value at a time."""
        n = self.n
        return (self.cost[:n].tolist(), self.qty[:n].tolist(), self.metered[:n].tolist(), self.start[:n].tolist(),
                self.end[:n].tolist())

    def slot(self, start: float, end: float) -> int:
        """A new day's slot, its period [start, end)."""
        if self.n == len(self.cost):
            more = len(self.cost)
            self.cost = np.append(self.cost, np.zeros(more))
            self.qty = np.append(self.qty, np.zeros(more))
            self.metered = np.append(self.metered, np.zeros(more, np.bool_))
            self.start = np.append(self.start, np.full(more, np.inf))
            self.end = np.append(self.end, np.full(more, -np.inf))
            self.typed = np.append(self.typed, np.zeros(more, np.bool_))
        i = self.n
        self.n += 1
        self.start[i] = start
        self.end[i] = end
        return i


class Day:
    """One resource's compute rows on one UTC day: its sums (a slot of `Sums`), and what its
    first rows that day say of it (region, capacity type; the first row naming an instance
    type names it): the loader takes these from the window's latest day, so rows before the
    window never decide them, and a resized instance is priced as what it is now."""

    __slots__ = ("capacity_type", "instance_type", "region", "slot", "sums")

    def __init__(self, sums: Sums, start: float, end: float, region: str, capacity_type: str) -> None:
        self.sums = sums
        self.slot = sums.slot(start, end)
        self.region = region
        self.capacity_type = capacity_type
        #: Set by `name`, which marks the day typed in `sums`.
        self.instance_type = ""

    @property
    def cost(self) -> float:
        """The day's cost so far (its other sums: `sums` at `slot`)."""
        return float(self.sums.cost[self.slot])

    def name(self, instance_type: str) -> None:
        """The instance type a row of the day names ("": none)."""
        if instance_type:
            self.instance_type = instance_type
            self.sums.typed[self.slot] = True

    def add(self, cost: float, start: float, end: float) -> None:
        """One row's cost and period (the row-by-row reader)."""
        s, i = self.sums, self.slot
        s.cost[i] += cost
        if start < s.start[i]:
            s.start[i] = start
        if end > s.end[i]:
            s.end[i] = end

    def meter(self, qty: float) -> None:
        """One row's hours (metered in hours, finite, not negative)."""
        self.sums.qty[self.slot] += qty
        self.sums.metered[self.slot] = True


class Resource:
    """A billed resource: the keys a node's provider id may match, and its days."""

    __slots__ = ("born", "days", "keys", "varied")

    def __init__(self, keys: list[str], born: str) -> None:
        self.keys = keys
        self.days: dict[str, Day] = {}
        #: The day of the row it was made from (whose texts gave its keys), and whether a later
        #: row of it gave other keys: then which keys it has depends on where reading began.
        self.born = born
        self.varied = False

    def keys_depend_on_floor(self, first: str) -> bool:
        """Whether a read from `first` on could have given it other keys (billing.load_billing
        then reads again from there)."""
        return self.varied and self.born < first and any(k >= first for k in self.days)

    def facts(self, first: str) -> tuple[str, str, str]:
        """(region, capacity type, instance type) as the latest of its days from `first` on
        says them; the type from the latest day that names one."""
        days = [self.days[k] for k in sorted(self.days) if k >= first]
        latest = days[-1]
        itype = next((d.instance_type for d in reversed(days) if d.instance_type), "")
        return latest.region, latest.capacity_type, itype


class Texts:
    """The texts (ResourceId, and ResourceName and x_SkuDetails where the export has them, as
    written) met in pieces read by columns, by their 64-bit digest (billing_columns.take), each
    with its resource and, per day, its day's slot: so a piece's rows find their days with
    array lookups. A digest is trusted only once the texts it stands for are compared."""

    def __init__(self) -> None:
        self.digests = np.zeros(0, np.uint64)  # sorted
        self.index = np.zeros(0, np.int64)  # the text of each digest
        self.fields: list[NDArray[np.bytes_]] = []  # per field, the text's value as written
        self.resources: list[Resource] = []
        #: day -> the slot of each text's Day that day (-1: none yet)
        self.slots: dict[str, NDArray[np.int64]] = {}

    def find(self, digest: NDArray[np.uint64], fields: list[NDArray[np.bytes_]]) -> NDArray[np.int64] | None:
        """Each row's text (-1: not met yet); None when a digest stands for another text too."""
        if not len(self.digests):
            return np.full(len(digest), -1, np.int64)
        at = np.searchsorted(self.digests, digest)
        at[at == len(self.digests)] = 0
        hit = self.digests[at] == digest
        found = np.where(hit, self.index[at], -1)
        known = found[hit]
        for mine, theirs in zip(self.fields, fields, strict=True):
            if not bool((mine[known] == theirs[hit]).all()):
                return None
        return found

    def add(self, digest: NDArray[np.uint64], fields: list[NDArray[np.bytes_]],
            resources: list[Resource]) -> NDArray[np.int64]:
        """New texts (their digests distinct and not met yet) and their resources; their indices."""
        first = len(self.resources)
        new = np.arange(first, first + len(digest))
        self.resources.extend(resources)
        if not self.fields:
            self.fields = [f.copy() for f in fields]
        else:
            self.fields = [np.concatenate([mine, theirs]) for mine, theirs in zip(self.fields, fields, strict=True)]
        digests = np.concatenate([self.digests, digest])
        index = np.concatenate([self.index, new])
        order = np.argsort(digests, kind="stable")
        self.digests, self.index = digests[order], index[order]
        return new

    def day_slots(self, day: str) -> NDArray[np.int64]:
        """The slots of `day` by text, grown to every text met."""
        slots = self.slots.get(day)
        n = len(self.resources)
        if slots is None or len(slots) < n:
            grown = np.full(max(n, 2 * len(slots) if slots is not None else n), -1, np.int64)
            if slots is not None:
                grown[:len(slots)] = slots
            slots = self.slots[day] = grown
        return slots

"""Dynamic Resource Allocation: which devices a node publishes in its ResourceSlices, what each
is worth in physical GPUs, and what share of them a ResourceClaim holds.

Rules (docs/costs.md, "GPUs allocated through DRA"):
- A claim's `status.allocation.devices.results[]` name devices by (driver, pool, device); the
  ResourceSlice device with the same driver, pool name and device name says what it is. Only
  slices of a pool's newest generation count.
- A device of a GPU driver (a driver named `gpu.*`, or any device whose `type` attribute is gpu
  or mig) is worth 1 physical GPU whole; a MIG device g / compute slices of its parent; with
  consumable capacity (DRAConsumableCapacity) an allocation is worth the largest fraction it
  consumes of any of the device's capacities. Other devices (NICs, channels) cost nothing here.
- An admin-access allocation costs nothing. A claim's devices are shared equally by the counted
  pods in its `status.reservedFor`; allocated but reserved by none, they stay idle.
- The physical GPUs a node publishes are its distinct GPUs: whole devices by UUID (or name),
  MIG devices by their parent's UUID, so partitionable layouts that list a GPU and its
  placements side by side are not counted twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from . import gpumodels
from .gpu import DeviceInventory
from .objects import DeviceAttribute, ResourceClaim, ResourceSlice, SliceDevice
from .quantity import QuantityError, parse_quantity

DeviceKey = tuple[str, str, str]  # (driver, pool, device)
_PROFILE_IN_NAME = re.compile(r"(?:\d+c\.)?\d+g\.\d+gb(?:[.+]me)?")


@dataclass(frozen=True)
class Device:
    """One published device, reduced to what costing needs."""

    node: str
    driver: str
    kind: str  # gpu | mig | other
    model: str
    uuid: str
    parent: str  # the parent GPU's UUID, for a MIG device
    weight: Fraction  # physical-GPU equivalents of the whole device
    capacity: Mapping[str, Fraction]


@dataclass(frozen=True)
class Allocation:
    device: DeviceKey
    admin: bool
    consumed: Mapping[str, Fraction]


@dataclass(frozen=True)
class Claim:
    allocations: tuple[Allocation, ...]
    reserved_for: frozenset[str]  # pod UIDs


def _attr(attrs: Mapping[str, DeviceAttribute], driver: str, name: str) -> str:
    value = attrs.get(name) or attrs.get(f"{driver}/{name}")
    if value is None:
        return ""
    for v in (value.string, value.version, value.integer, value.boolean):
        if v is not None:
            return str(v)
    return ""


_ZERO = Fraction(0)
_ONE = Fraction(1)


@lru_cache(maxsize=1024)
def _quantity(text: str) -> Fraction:
    """A capacity quantity as a Fraction of units. A cluster publishes a few texts ("80Gi",
    "40Gi") on thousands of devices: each is parsed once (Fractions are immutable)."""
    return Fraction(parse_quantity(text))


def _quantities(raw: Mapping[str, object] | None) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}
    for name, q in (raw or {}).items():
        try:
            out[name] = _quantity(q) if isinstance(q, str) else Fraction(parse_quantity(q))  # type: ignore[arg-type]
        except (QuantityError, TypeError):
            continue
    return out


@lru_cache(maxsize=256)
def _mig_weight(profile: str, total: int) -> Fraction:
    """Physical GPUs of a MIG device of this profile on a GPU of `total` compute slices."""
    try:
        return Fraction(min(gpumodels.mig_profile_slices(profile), total), total)
    except ValueError:
        return Fraction(1, total)


def _is_gpu_driver(driver: str) -> bool:
    return driver.startswith("gpu.")


def describe_device(driver: str, node: str, device: SliceDevice) -> Device:
    basic = device.basic
    attrs = device.attributes or (basic.attributes if basic else None) or {}
    capacity = device.capacity or (basic.capacity if basic else None) or {}
    kind = _attr(attrs, driver, "type").lower()
    model = _attr(attrs, driver, "productName") or _attr(attrs, driver, "model")
    profile = _attr(attrs, driver, "profile")
    if not profile and kind == "mig":
        m = _PROFILE_IN_NAME.search(device.name)
        profile = m.group(0) if m else ""
    if kind not in ("gpu", "mig"):
        kind = "gpu" if _is_gpu_driver(driver) and kind in ("", "device") else "other"
    weight = _ONE if kind == "gpu" else _ZERO
    if kind == "mig":
        weight = _mig_weight(profile, gpumodels.mig_compute_slices(gpumodels.canonical(model) if model else ""))
    return Device(
        node=node, driver=driver, kind=kind, model=model, uuid=_attr(attrs, driver, "uuid"),
        parent=_attr(attrs, driver, "parentUUID"), weight=weight,
        capacity=_quantities({k: c.value for k, c in capacity.items()}),
    )


def describe_claim(claim: ResourceClaim) -> Claim:
    allocation = claim.status.allocation
    devices = allocation.devices if allocation is not None else None
    allocations = tuple(
        Allocation((r.driver, r.pool, r.device), bool(r.admin_access), _quantities(r.consumed_capacity))
        for r in ((devices.results if devices is not None else None) or ())
    )
    reserved = frozenset(c.uid for c in (claim.status.reserved_for or ()) if c.resource in ("pods", "") and c.uid)
    return Claim(allocations, reserved)


def consumed_share(weight: Fraction, consumed: Mapping[str, Fraction], capacity: Mapping[str, Fraction]) -> Fraction:
    """`weight` x the largest fraction consumed of any of the device's capacities, at most 1.
    Every shared GPU's claim of a sync passes here: for the usual amounts (non-negative, of
    positive capacities) the largest fraction is found by comparing integer cross products
    and one Fraction is built, not one per capacity and per comparison."""
    best_n, best_d = -1, 1  # the largest consumed / capacity so far, as a pair of integers
    for name, used in consumed.items():
        total = capacity.get(name)
        if not total:
            continue
        if total < 0 or used < 0:  # hostile amounts: the general arithmetic, signs and all
            fractions = [v / capacity[k] for k, v in consumed.items() if capacity.get(k)]
            return weight * min(max(fractions), _ONE)
        n, d = used.numerator * total.denominator, used.denominator * total.numerator
        if n * best_d > best_n * d:
            best_n, best_d = n, d
    if best_n < 0 or best_n >= best_d:  # nothing consumed of a known capacity, or all of one
        return weight
    return Fraction(weight.numerator * best_n, weight.denominator * best_d)


class DraIndex:
    """ResourceSlices and ResourceClaims as last seen, indexed for the cost model."""

    def __init__(self) -> None:
        self._slices: dict[str, tuple[str, tuple[str, str], int, tuple[DeviceKey, ...]]] = {}
        self._by_node: dict[str, dict[str, None]] = {}  # node -> its slices, so a node's lookup is O(its slices)
        self._devices: dict[DeviceKey, tuple[str, Device]] = {}  # -> (slice key, device)
        self._generations: dict[tuple[str, str], dict[str, int]] = {}  # pool -> slice -> generation
        self.claims: dict[str, Claim] = {}

    # --- slices ----------------------------------------------------------------------------

    def upsert_slice(self, key: str, obj: ResourceSlice) -> set[str]:
        """Record a slice; the nodes whose published devices may have changed."""
        touched = self.delete_slice(key)
        spec = obj.spec
        node = spec.node_name or ""
        pool = (spec.driver, spec.pool.name)
        keys = []
        for device in spec.devices or ():
            dkey = (spec.driver, spec.pool.name, device.name)
            self._devices[dkey] = (key, describe_device(spec.driver, node, device))
            keys.append(dkey)
        self._slices[key] = (node, pool, spec.pool.generation, tuple(keys))
        self._by_node.setdefault(node, {})[key] = None
        self._generations.setdefault(pool, {})[key] = spec.pool.generation
        touched.add(node)
        return touched

    def slice_keys(self) -> set[str]:
        return set(self._slices)

    def delete_slice(self, key: str) -> set[str]:
        old = self._slices.pop(key, None)
        if old is None:
            return set()
        node, pool, _, keys = old
        on_node = self._by_node.get(node, {})
        on_node.pop(key, None)
        if not on_node:
            self._by_node.pop(node, None)
        for dkey in keys:
            if self._devices.get(dkey, ("",))[0] == key:
                del self._devices[dkey]
        gens = self._generations.get(pool, {})
        gens.pop(key, None)
        if not gens:
            self._generations.pop(pool, None)
        return {node}

    def device(self, key: DeviceKey) -> Device | None:
        """A device of a pool's newest generation; None when no current slice lists it."""
        found = self._devices.get(key)
        if found is None:
            return None
        slice_key, device = found
        gens = self._generations.get((key[0], key[1]), {})
        return device if gens.get(slice_key, 0) >= max(gens.values(), default=0) else None

    def node_inventory(self, node: str) -> DeviceInventory | None:
        """The distinct physical GPUs a node publishes; None when it publishes none."""
        whole: set[str] = set()
        parents: set[str] = set()
        loose = Fraction(0)
        model = vendor = ""
        for slice_key in self._by_node.get(node, {}):
            for dkey in self._slices[slice_key][3]:
                device = self.device(dkey)
                if device is None or device.kind == "other" or self._devices[dkey][0] != slice_key:
                    continue
                model = model or device.model
                if not vendor and device.driver.count(".") >= 2:
                    vendor = device.driver.split(".")[1]  # gpu.nvidia.com -> nvidia
                if device.kind == "gpu":
                    whole.add(device.uuid or f"{dkey}")
                elif device.parent:
                    parents.add(device.parent)
                else:
                    loose += device.weight
        count = len(whole | parents) + (-(-loose.numerator // loose.denominator) if loose else 0)
        return DeviceInventory(count=count, model=model, vendor=vendor) if count else None

    # --- claims ----------------------------------------------------------------------------

    def upsert_claim(self, key: str, obj: ResourceClaim) -> bool:
        """Record a claim; whether what it allocates or who reserves it changed."""
        claim = describe_claim(obj)
        if self.claims.get(key) == claim:
            return False
        self.claims[key] = claim
        return True

    def delete_claim(self, key: str) -> bool:
        return self.claims.pop(key, None) is not None

    def claim_shares(self, key: str) -> dict[str, Fraction]:
        """Physical-GPU equivalents a claim holds, by driver, before splitting among pods."""
        claim = self.claims.get(key)
        out: dict[str, Fraction] = {}
        for alloc in claim.allocations if claim else ():
            if alloc.admin:
                continue
            driver = alloc.device[0]
            device = self.device(alloc.device)
            if device is None:
                # Not (yet) published: a GPU driver's device counts as one GPU until its slice arrives.
                share = Fraction(1) if _is_gpu_driver(driver) else Fraction(0)
            elif device.kind == "other":
                continue
            else:
                share = device.weight
                if alloc.consumed:
                    share = consumed_share(share, alloc.consumed, device.capacity)
            if share:
                before = out.get(driver)
                out[driver] = share if before is None else before + share
        return out

"""The cost rules: pure functions from a node's price, what it offers and what pods reserve,
to hourly costs. No I/O, no state (see docs/costs.md).

CPU and memory are shared over allocatable: a pod pays request x node cost / allocatable.
GPUs are shared over the node's physical GPUs: a pod pays its physical-GPU equivalents x the
node's GPU cost / physical GPUs. Where reservations exceed what the node offers (a transient
state), the denominator becomes the sum of reservations, so the pods' costs plus the idle cost
always equal the node's cost and idle is never negative.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from .gpu import NodeGpus
from .pricing import NodePrice

RESOURCES = ("cpu", "memory", "gpu")


@dataclass(frozen=True)
class Rates:
    """A node's hourly cost per reserved millicore, byte and physical-GPU equivalent."""

    cpu: float
    memory: float
    gpu: float
    gpus: NodeGpus  # how the node's GPU resources map onto physical GPUs


@dataclass(frozen=True)
class PodCost:
    """Hourly costs of one pod, and the physical-GPU equivalents it reserves by resource."""

    cpu: float
    memory: float
    gpu: float
    gpus: Mapping[str, float]


@dataclass(frozen=True)
class NodeCost:
    """Hourly cost of a node by resource, the part nobody reserved, and the resources whose
    reservations exceed what the node offers."""

    cost: Mapping[str, float]
    idle: Mapping[str, float]
    overcommitted: frozenset[str]


def gpu_equivalents(gpus: NodeGpus, units: Mapping[str, int]) -> Fraction:
    """Physical GPUs that `units` of each GPU resource stand for on this node (exact)."""
    return sum((n * gpus.weight(name) for name, n in units.items()), Fraction(0))


def _reserved_gpus(gpus: NodeGpus, units: Mapping[str, int], shares: int | Fraction) -> int | Fraction:
    """Physical-GPU equivalents reserved on a node: device-plugin units plus allocator shares.
    Most nodes (no GPUs, or GPUs only through DRA) have no units: no Fraction arithmetic then."""
    if not units:
        return shares
    return gpu_equivalents(gpus, units) + shares


def _per_unit(cost: float, offered: int, reserved: int) -> float:
    denominator = max(offered, reserved)
    if not denominator:
        return 0.0
    return cost / denominator


def _idle(cost: float, offered: int, reserved: int) -> float:
    denominator = max(offered, reserved)
    if not denominator:
        return cost
    return cost * (denominator - reserved) / denominator


# GPUs are counted in exact physical-GPU equivalents, so their rate and idle cost are
# float(Fraction(cost) * ...): written here with integers (a float cost is p / q exactly, by
# as_integer_ratio; an int or a Fraction is numerator / denominator), because int true
# division rounds correctly, as Fraction.__float__ (an int division too) does. The same float,
# without building Fractions (about a microsecond each) for every node of a sync.


def _gpu_per_unit(cost: float, physical: int, reserved: int | Fraction) -> float:
    """float(Fraction(cost) / max(physical, reserved)); 0.0 when both are 0."""
    denominator = max(physical, reserved)
    if not denominator:
        return 0.0
    p, q = cost.as_integer_ratio()
    return (p * denominator.denominator) / (q * denominator.numerator)


def _gpu_idle(cost: float, physical: int, reserved: int | Fraction) -> float:
    """float(Fraction(cost) * (d - reserved) / d) with d = max(physical, reserved); the whole
    cost when d is 0."""
    if not reserved:  # nothing reserved (or nothing offered): the whole cost, exactly
        return cost
    denominator = max(physical, reserved)
    # With d = a/b and reserved = c/e: (a/b - c/e) / (a/b) = (a*e - c*b) / (a*e)
    p, q = cost.as_integer_ratio()
    a, b = denominator.numerator, denominator.denominator
    c, e = reserved.numerator, reserved.denominator
    return (p * (a * e - c * b)) / (q * a * e)


def node_rates(
    price: NodePrice, gpus: NodeGpus, alloc_cpu_m: int, alloc_memory_b: int,
    cpu_m: int, memory_b: int, gpu_units: Mapping[str, int], gpu_shares: int | Fraction = 0,
) -> Rates:
    """Hourly cost per unit reserved, given allocatable and the node's total reservations:
    device-plugin units by resource name, and physical-GPU equivalents reserved otherwise
    (DRA devices, HAMi vGPUs, KAI fractions)."""
    return Rates(
        cpu=_per_unit(price.cpu, alloc_cpu_m, cpu_m),
        memory=_per_unit(price.memory, alloc_memory_b, memory_b),
        gpu=_gpu_per_unit(price.gpu, gpus.physical, _reserved_gpus(gpus, gpu_units, gpu_shares)),
        gpus=gpus,
    )


def node_cost(
    price: NodePrice, gpus: NodeGpus, alloc_cpu_m: int, alloc_memory_b: int,
    cpu_m: int, memory_b: int, gpu_units: Mapping[str, int], gpu_shares: int | Fraction = 0,
) -> NodeCost:
    """A node's hourly cost, idle cost and overcommitted resources, given its reservations."""
    cost = {"cpu": price.cpu, "memory": price.memory}
    idle = {"cpu": _idle(price.cpu, alloc_cpu_m, cpu_m), "memory": _idle(price.memory, alloc_memory_b, memory_b)}
    over = set()
    if cpu_m > alloc_cpu_m:
        over.add("cpu")
    if memory_b > alloc_memory_b:
        over.add("memory")
    physical = gpus.physical
    equivalents = _reserved_gpus(gpus, gpu_units, gpu_shares)
    if physical or price.gpu:
        cost["gpu"] = price.gpu
        idle["gpu"] = _gpu_idle(price.gpu, physical, equivalents)
    if equivalents > physical:
        over.add("gpu")
    return NodeCost(cost=cost, idle=idle, overcommitted=frozenset(over))


_NO_SHARES: Mapping[str, float] = {}
_NO_FRACTIONS: Mapping[str, Fraction] = {}


def pod_cost(
    rates: Rates, cpu_m: int, memory_b: int, gpu_units: Mapping[str, int],
    gpu_shares: Mapping[str, Fraction] = _NO_FRACTIONS,
) -> PodCost:
    """A pod's hourly costs from its reservations and its node's rates. `gpu_shares` are the
    physical-GPU equivalents it holds other than by device-plugin units, by resource label."""
    if not gpu_units and not gpu_shares:
        return PodCost(cpu_m * rates.cpu, memory_b * rates.memory, 0.0, _NO_SHARES)
    if not gpu_units and len(gpu_shares) == 1:  # one DRA driver, one KAI fraction: no sums
        ((name, share),) = gpu_shares.items()
        equivalents = float(share)
        return PodCost(cpu_m * rates.cpu, memory_b * rates.memory, equivalents * rates.gpu, {name: equivalents})
    weights = {name: n * rates.gpus.weight(name) for name, n in gpu_units.items()}
    for name, share in gpu_shares.items():
        weights[name] = weights.get(name, Fraction(0)) + share
    return PodCost(
        cpu=cpu_m * rates.cpu,
        memory=memory_b * rates.memory,
        gpu=float(sum(weights.values(), Fraction(0))) * rates.gpu,
        gpus={name: float(w) for name, w in weights.items()},
    )

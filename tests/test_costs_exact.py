"""The GPU rate and idle cost are exact (issue 16): computed with integers instead of Fractions,
they must still be the float nearest the exact rational, float(Fraction(...)), which is what the
exposition showed before. Hand-worked cases first, then a property against Fraction itself."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpucost.costs import node_cost, node_rates, pod_cost
from gpucost.gpu import NodeGpus
from gpucost.pricing import NodePrice


def price(gpu: float, cpu: float = 0.64, memory: float = 0.32) -> NodePrice:
    return NodePrice(cpu=cpu, memory=memory, gpu=gpu, gpu_unit=0.0, source="default", gpu_price_defaulted=False)


GIB = 2**30

# (what, node GPU price $/h, physical GPUs, equivalents reserved, GPU rate $/GPU-h, GPU idle $/h)
CASES = [
    # 7.00 $/h over 2 GPUs: 3.50 a GPU; a third of one reserved leaves 7 x (2 - 1/3) / 2 = 35/6.
    ("a DRA share of a third", 7.0, 2, Fraction(1, 3), 3.5, 35 / 6),
    # Nothing reserved: the whole cost idle, exactly.
    ("nothing reserved", 7.0, 2, Fraction(0), 3.5, 7.0),
    # Every GPU reserved: nothing idle.
    ("all reserved", 7.0, 2, Fraction(2), 3.5, 0.0),
    # 5/2 reserved on 2 GPUs (a transient overcommit): the rate is 7 / (5/2) = 2.8, idle 0.
    ("overcommitted", 7.0, 2, Fraction(5, 2), 14 / 5, 0.0),
    # 0.10 $/h over 6 GPUs, 3 reserved: 0.1 x 3/6 is the float 0.1 halved, 0.05 exactly. The
    # naive float expression 0.1 * (6 - 3) / 6 gives 0.05000000000000001.
    ("exact where floats are not", 0.1, 6, Fraction(3), 0.1 / 6, 0.05),
    # A MIG 3g slice of a 7-slice GPU on a 1-GPU node at 2.00 $/h: idle 2 x 4/7 = 8/7.
    ("a MIG slice", 2.0, 1, Fraction(3, 7), 2.0, 8 / 7),
    # No GPUs and no GPU price: rate 0, no GPU cost at all (see test_cpu_node_has_no_gpu_cost).
    ("no GPUs", 0.0, 0, Fraction(0), 0.0, None),
]


@pytest.mark.parametrize(("what", "gpu_price", "physical", "reserved", "rate", "idle"), CASES, ids=[c[0] for c in CASES])
def test_gpu_rate_and_idle(
    what: str, gpu_price: float, physical: int, reserved: Fraction, rate: float, idle: float | None
) -> None:
    gpus = NodeGpus(physical=physical)
    rates = node_rates(price(gpu_price), gpus, 15_000, 60 * GIB, 0, 0, {}, reserved)
    cost = node_cost(price(gpu_price), gpus, 15_000, 60 * GIB, 0, 0, {}, reserved)
    assert rates.gpu == rate
    assert cost.idle.get("gpu") == idle
    assert ("gpu" in cost.overcommitted) == (reserved > physical)


def test_device_plugin_units_and_shares_add_up() -> None:
    # 4 time-sliced GPUs at 8.00 $/h, replicas 4: 2 units are 2/4 GPU; a DRA share of 1/3 more:
    # 5/6 reserved of 4, idle = 8 x (4 - 5/6) / 4 = 8 x 19/24 = 19/3; rate 8 / 4 = 2.
    gpus = NodeGpus(physical=4, replicas=4, sharing="time-slicing")
    cost = node_cost(price(8.0), gpus, 15_000, 60 * GIB, 0, 0, {"nvidia.com/gpu": 2}, Fraction(1, 3))
    assert cost.idle["gpu"] == 19 / 3
    assert node_rates(price(8.0), gpus, 15_000, 60 * GIB, 0, 0, {"nvidia.com/gpu": 2}, Fraction(1, 3)).gpu == 2.0


def test_cpu_node_has_no_gpu_cost() -> None:
    # A CPU node: cpu 0.64 over 15 cores, 3 reserved: idle 0.64 x 12/15 = 0.512 (float path).
    cost = node_cost(price(0.0), NodeGpus(), 15_000, 60 * GIB, 3_000, 0, {}, Fraction(0))
    assert cost.cost == {"cpu": 0.64, "memory": 0.32}
    assert cost.idle == {"cpu": 0.64 * 12_000 / 15_000, "memory": 0.32}
    assert cost.overcommitted == frozenset()


def test_one_share_pod_cost() -> None:
    # A pod holding 3/7 of a GPU through DRA on a node whose GPU rate is 2.00 $/GPU-h:
    # 3/7 x 2 = 6/7 $/h; the reported share is 3/7 as a float.
    rates = node_rates(price(2.0), NodeGpus(physical=1), 15_000, 60 * GIB, 0, 0, {}, Fraction(3, 7))
    cost = pod_cost(rates, 1_000, GIB, {}, {"gpu.nvidia.com": Fraction(3, 7)})
    assert cost.gpus == {"gpu.nvidia.com": 3 / 7}
    assert cost.gpu == (3 / 7) * 2.0
    assert cost.cpu == 1_000 * (0.64 / 15_000)


prices = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
shares = st.builds(Fraction, st.integers(0, 500), st.integers(1, 64))


@given(prices, st.integers(0, 16), shares)
def test_gpu_figures_are_the_exact_rational_rounded(gpu_price: float, physical: int, reserved: Fraction) -> None:
    # The reference is Fraction arithmetic itself, as the engine did it before issue 16.
    denominator = max(Fraction(physical), reserved)
    gpus = NodeGpus(physical=physical)
    rate = node_rates(price(gpu_price), gpus, 1, 1, 0, 0, {}, reserved).gpu
    cost = node_cost(price(gpu_price), gpus, 1, 1, 0, 0, {}, reserved)
    assert rate == (float(Fraction(gpu_price) / denominator) if denominator else 0.0)
    if physical or gpu_price:
        expected = float(Fraction(gpu_price) * (denominator - reserved) / denominator) if denominator else gpu_price
        assert cost.idle["gpu"] == expected

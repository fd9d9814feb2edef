"""The pure cost rules (gpucost.costs), table-driven: a node's price, what it offers and what
is reserved in; rates, pod costs and idle out."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gpucost.costs import node_cost, node_rates, pod_cost
from gpucost.gpu import NodeGpus
from gpucost.pricing import NodePrice

PRICE = NodePrice(cpu=0.64, memory=0.32, gpu=8.0, gpu_unit=2.0, source="default", gpu_price_defaulted=False)
FOUR_GPUS = NodeGpus(physical=4, model="X", vendor="nvidia")
NO_GPUS = NodeGpus()


@pytest.mark.parametrize(
    ("alloc", "reserved", "idle", "over"),
    [
        # (allocatable millicores, bytes), (reserved millicores, bytes, GPUs) -> idle by resource
        ((16000, 64 * 2**30), (4000, 16 * 2**30, 1), {"cpu": 0.48, "memory": 0.24, "gpu": 6.0}, set()),
        ((16000, 64 * 2**30), (16000, 64 * 2**30, 4), {"cpu": 0.0, "memory": 0.0, "gpu": 0.0}, set()),
        # reservations above allocatable: scaled, idle 0, flagged
        ((8000, 32 * 2**30), (12000, 40 * 2**30, 6), {"cpu": 0.0, "memory": 0.0, "gpu": 0.0}, {"cpu", "memory", "gpu"}),
        # nothing allocatable and nothing reserved: all idle
        ((0, 0), (0, 0, 0), {"cpu": 0.64, "memory": 0.32, "gpu": 8.0}, set()),
    ],
)
def test_idle(alloc: tuple[int, int], reserved: tuple[int, int, int], idle: dict[str, float], over: set[str]) -> None:
    cost = node_cost(PRICE, FOUR_GPUS, *alloc, reserved[0], reserved[1], {"nvidia.com/gpu": reserved[2]})
    assert cost.cost == {"cpu": 0.64, "memory": 0.32, "gpu": 8.0}
    assert cost.idle == pytest.approx(idle)
    assert cost.overcommitted == over


def test_rates_and_pod_cost() -> None:
    # 16 cores allocatable at 0.64 $/h: 0.00004 $/h per millicore; 4 GPUs at 8.0: 2.0 per GPU.
    rates = node_rates(PRICE, FOUR_GPUS, 16000, 64 * 2**30, 4000, 16 * 2**30, {"nvidia.com/gpu": 1})
    cost = pod_cost(rates, 1500, 2**30, {"nvidia.com/gpu": 1})
    assert cost.cpu == pytest.approx(0.06)  # 1.5 cores x 0.04
    assert cost.memory == pytest.approx(0.005)  # 1 GiB x 0.32 / 64
    assert (cost.gpu, cost.gpus) == (pytest.approx(2.0), {"nvidia.com/gpu": 1.0})


def test_overcommitted_rates_share_the_whole_cost() -> None:
    # 6 GPU-equivalents reserved on 4 GPUs: each pays 8.0 / 6 per GPU.
    rates = node_rates(PRICE, FOUR_GPUS, 16000, 0, 0, 0, {"nvidia.com/gpu": 6})
    assert rates.gpu == float(Fraction(8) / 6)
    assert pod_cost(rates, 0, 0, {"nvidia.com/gpu": 3}).gpu == pytest.approx(4.0)


def test_node_without_gpus_has_no_gpu_cost() -> None:
    price = NodePrice(cpu=0.1, memory=0.1, gpu=0.0, gpu_unit=0.0, source="default", gpu_price_defaulted=False)
    assert "gpu" not in node_cost(price, NO_GPUS, 1000, 1000, 0, 0, {}).cost

"""A DRA allocation of consumable capacity (DRAConsumableCapacity) pays the device's weight
times the largest fraction it consumes of any capacity, at most the whole device (docs/costs.md,
"GPUs allocated through DRA"). Issue 16 computes the fraction with integers; these cases are
worked by hand."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from gpucost.dra import consumed_share

GI = 2**30 * 10**9  # nano-units of 1Gi, as the DRA index keeps quantities

# (what, device weight in GPUs, consumed, capacity, share in GPUs)
CASES = [
    ("half the memory of a whole GPU", F(1), {"memory": F(40 * GI)}, {"memory": F(80 * GI)}, F(1, 2)),
    ("the larger of memory and cores", F(1), {"memory": F(20 * GI), "cores": F(50)},
     {"memory": F(80 * GI), "cores": F(100)}, F(1, 2)),  # 1/4 of memory, 1/2 of cores
    ("more than the device is capped", F(1), {"memory": F(120 * GI)}, {"memory": F(80 * GI)}, F(1)),
    ("a capacity the device does not publish", F(1), {"bandwidth": F(5)}, {"memory": F(80 * GI)}, F(1)),
    ("a zero capacity is ignored", F(1), {"memory": F(10 * GI), "cores": F(5)},
     {"memory": F(80 * GI), "cores": F(0)}, F(1, 8)),
    ("a MIG 3g slice, a third of its memory", F(3, 7), {"memory": F(10 * GI)}, {"memory": F(30 * GI)}, F(1, 7)),
    ("nothing consumed", F(1), {"memory": F(0)}, {"memory": F(80 * GI)}, F(0)),
    # Hostile amounts keep the plain Fraction arithmetic: max(-1/4) = -1/4, below 1, times 1.
    ("a negative amount", F(1), {"memory": F(-20 * GI)}, {"memory": F(80 * GI)}, F(-1, 4)),
]


@pytest.mark.parametrize(("what", "weight", "consumed", "capacity", "share"), CASES, ids=[c[0] for c in CASES])
def testconsumed_share(what: str, weight: F, consumed: dict[str, F], capacity: dict[str, F], share: F) -> None:
    assert consumed_share(weight, consumed, capacity) == share

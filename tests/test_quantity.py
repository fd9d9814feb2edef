"""Quantities parse exactly as Kubernetes' resource.Quantity (values from
shared/reference/kubernetes-facts.md and apimachinery's quantity tests)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpucost.quantity import MAX_UNITS, QuantityError, milli_value, parse_quantity, value

NANO = 10**9


@pytest.mark.parametrize(
    ("text", "nano"),
    [
        ("0", 0),
        ("1", NANO),
        ("0.5", NANO // 2),
        ("500m", NANO // 2),
        (".5", NANO // 2),
        ("1.", NANO),
        ("+1", NANO),
        ("-1", -NANO),
        ("1n", 1),
        ("1u", 1000),
        ("1k", 1000 * NANO),
        ("1M", 10**6 * NANO),
        ("1G", 10**9 * NANO),
        ("1T", 10**12 * NANO),
        ("1P", 10**15 * NANO),
        ("1E", 10**18 * NANO),
        ("1Ki", 1024 * NANO),
        ("1Mi", 2**20 * NANO),
        ("1.5Gi", 1610612736 * NANO),
        ("123Mi", 128974848 * NANO),
        ("1e3", 1000 * NANO),
        ("1E3", 1000 * NANO),
        ("129e6", 129000000 * NANO),
        ("129M", 129000000 * NANO),
        ("5e-1", NANO // 2),
        ("100.035k", 100035 * NANO),
        ("0.1n", 1),  # below nano precision rounds up to one nano-unit
        ("1e-30", 1),
        ("-0.1n", -1),  # magnitude rounds up, sign restored
        ("9Ei", MAX_UNITS * NANO),  # capped at int64 max, like Kubernetes
        ("1e999999999", MAX_UNITS * NANO),
        ("0e999999999", 0),
    ],
)
def test_valid(text: str, nano: int) -> None:
    assert parse_quantity(text) == nano


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "1K",
        "1ki",
        "1KB",
        "1Gb",
        "1e",
        "e3",
        "1.2.3",
        " 1",
        "1 ",
        "1i",
        "Mi",
        "1m5",
        "--1",
        "0x10",
        "1e+",
        "∞",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(("raw", "nano"), [(2, 2 * NANO), (0.25, NANO // 4), (1e-05, 10000)])
def test_json_numbers(raw: float, nano: int) -> None:
    assert parse_quantity(raw) == nano


@pytest.mark.parametrize("raw", [True, None, float("nan"), float("inf"), [1]])
def test_non_quantities(raw: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "millis", "units"),
    [
        ("0.5", 500, 1),
        ("1m", 1, 1),  # memory "1m" is one byte after rounding up
        ("0.1m", 1, 1),
        ("1.5Gi", 1610612736000, 1610612736),
        ("250m", 250, 1),
        ("2", 2000, 2),
    ],
)
def test_rounding_up(text: str, millis: int, units: int) -> None:
    nano = parse_quantity(text)
    assert milli_value(nano) == millis
    assert value(nano) == units


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["", "k", "M", "Ki", "Mi", "m"]))
def test_integers_with_suffix(n: int, suffix: str) -> None:
    factor = {
        "": NANO,
        "k": 10**3 * NANO,
        "M": 10**6 * NANO,
        "Ki": 1024 * NANO,
        "Mi": 2**20 * NANO,
        "m": 10**6,
    }[suffix]
    assert parse_quantity(f"{n}{suffix}") == min(n * factor, MAX_UNITS * NANO)


@pytest.mark.parametrize(
    ("text", "nano"),
    [
        ("9" * 5000, MAX_UNITS * 10**9),  # past the cap: clamped, not a ValueError from int()
        ("-" + "9" * 5000, -MAX_UNITS * 10**9),
        ("0." + "0" * 5000 + "1", 1),  # a non-zero amount rounds up to one nano-unit
        ("1." + "0" * 5000, 10**9),
        ("1e" + "9" * 30, MAX_UNITS * 10**9),
        ("1e-" + "9" * 30, 1),
        ("0" * 5000 + "2", 2 * 10**9),
    ],
)
def test_quantities_with_thousands_of_digits(text: str, nano: int) -> None:
    assert parse_quantity(text) == nano

"""Kubernetes resource quantities (resource.Quantity), parsed exactly.

A quantity is held as an integer number of nano-units: Kubernetes itself rounds every parsed
quantity up to nano precision and caps it at 2^63-1 units, so an int of nano-units represents
every value the API can hold, sums exactly, and rounds exactly the way `Value()` and
`MilliValue()` do (up, towards +infinity).
"""

from __future__ import annotations

import re
from functools import lru_cache

NANO = 10**9
#: Kubernetes caps quantities at the largest int64 (in units, not nano-units).
MAX_UNITS = 2**63 - 1
_MAX_NANO = MAX_UNITS * NANO
#: Digits kept from the integer or fractional part. Anything longer is past the cap (integer
#: part) or only decides rounding up (fraction); Python's int() refuses over 4,300 digits.
_MAX_DIGITS = 1000

_DECIMAL_SUFFIX = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

_GRAMMAR = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?P<suffix>[numkMGTPE]|[KMGTPE]i|[eE][+-]?[0-9]+)?"
)


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity."""


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@lru_cache(maxsize=8192)
def _parse_text(text: str) -> int:
    m = _GRAMMAR.fullmatch(text)
    if m is None:
        raise QuantityError(f"invalid quantity {text!r}")
    digits_int, frac = m.group("int"), m.group("frac") or ""
    if not digits_int and not frac:
        raise QuantityError(f"invalid quantity {text[:40]!r}: no digits")
    digits_int = digits_int.lstrip("0")
    if len(digits_int) > _MAX_DIGITS:  # beyond any exponent that could shrink it: the maximum
        return -_MAX_NANO if m.group("sign") == "-" else _MAX_NANO
    if len(frac) > _MAX_DIGITS:
        # Digits that far below the unit only decide whether to round up: keep one non-zero.
        frac = frac[:_MAX_DIGITS] + ("1" if frac[_MAX_DIGITS:].strip("0") else "")
    mantissa = int(digits_int + frac or "0")
    scale = len(frac)  # value = mantissa * 10**-scale * multiplier
    suffix = m.group("suffix") or ""
    if mantissa == 0:
        return 0
    if suffix in _BINARY_SUFFIX:
        power10, power2 = 0, _BINARY_SUFFIX[suffix]
    elif suffix in _DECIMAL_SUFFIX:
        power10, power2 = _DECIMAL_SUFFIX[suffix], 0
    else:  # exponent form, e.g. "1e3", "5E-2"
        exponent = suffix[1:].lstrip("+-").lstrip("0")
        if len(exponent) > 12:  # clamps either way below; int() of it need not be computed
            exponent = "9" * 12
        power10, power2 = (-1 if suffix[1:2] == "-" else 1) * int(exponent or "0"), 0
    exp10 = 9 + power10 - scale  # nano-units = mantissa * 2**power2 * 10**exp10
    # Guard before computing: an exponent like 1e999999999 must clamp, not allocate.
    if exp10 + len(str(mantissa)) + (power2 * 3 + 9) // 10 > 40:
        nano = _MAX_NANO
    elif exp10 >= 0:
        nano = min(mantissa * (2**power2) * 10**exp10, _MAX_NANO)
    elif -exp10 > 60 + len(str(mantissa)):
        nano = 1  # any non-zero amount rounds up to one nano-unit
    else:
        nano = min(_ceil_div(mantissa * (2**power2), 10**-exp10), _MAX_NANO)
    # Kubernetes rounds the magnitude up (away from zero), then restores the sign.
    return -nano if m.group("sign") == "-" else nano


def parse_quantity(value: object) -> int:
    """Parse a quantity (text or bare JSON number) into nano-units, exactly as Kubernetes does.

    Raises QuantityError for anything Kubernetes would reject, and for anything else a broken
    object may hold there (null, a list, a map): callers pass the decoded JSON value as it is,
    so the parameter is `object`, not the types a valid quantity has.
    """
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, bool):
        raise QuantityError(f"invalid quantity {value!r}: not a number")
    if isinstance(value, int):
        return _parse_text(str(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"invalid quantity {value!r}")
        return _parse_text(repr(value))
    raise QuantityError(f"invalid quantity {value!r}: not a string or number")


def milli_value(nano: int) -> int:
    """MilliValue(): the amount in thousandths, rounded up (e.g. CPU millicores)."""
    return _ceil_div(nano, 10**6)


def value(nano: int) -> int:
    """Value(): the amount in whole units, rounded up (e.g. memory bytes, GPU devices)."""
    return _ceil_div(nano, NANO)

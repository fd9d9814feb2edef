"""The pricing file (YAML) read into a `PricingConfig` (pricing.py), validated strictly:
unknown keys, wrong types and negative prices are `PricingError`s naming the file, line and
key. docs/pricing.md is the reference of the keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import gpumodels
from .configfile import MAX_NUMBER, Located, Reader, describe, load_document, read_file
from .guard import brief
from .pricing import (
    BUDGET_RESOURCES,
    DEFAULT_LABELS,
    FIXED_POD_LABELS,
    Amortization,
    Budget,
    NodeRule,
    PricingConfig,
    PricingError,
    UnitPrices,
    normalize_model,
)

_RESERVED_LABELS = frozenset(
    FIXED_POD_LABELS + ("resource", "budget", "dimension", "cluster", "instance", "job", "le")
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_CURRENCY = re.compile(r"[A-Z]{3}")
_TOP_KEYS = (
    "currency", "usd_rate", "default", "gpu_models", "instance_types", "builtin_catalog", "nodes", "labels",
    "budgets", "gpu_weights",
)
_UNIT_KEYS = ("cpu_core_hour", "memory_gib_hour", "gpu_hour")
_PRICE_KEYS = ("hourly", "discount", "amortize")
_AMORTIZE_KEYS = ("purchase", "years", "power_hour", "hosting_hour")


def parse_pricing(text: str, filename: str = "<pricing>") -> PricingConfig:
    """Parse and validate a pricing document. Raises PricingError naming file, line and key."""
    doc = load_document(text, filename, PricingError)
    if doc is None:
        return PricingConfig(source=filename)
    r = Reader(filename, PricingError)
    top = r.mapping(doc, 1, "", _TOP_KEYS)
    kwargs: dict[str, Any] = {"source": filename}
    if "currency" in top:
        cur = r.string(top, "currency", "")
        if not _CURRENCY.fullmatch(cur):
            raise r.fail(top.key_lines["currency"], "currency", f"expected an ISO 4217 code like USD, got {brief(cur)}")
        kwargs["currency"] = cur
    if "builtin_catalog" in top:
        kwargs["builtin_catalog"] = r.boolean(top, "builtin_catalog", "")
    rate = _usd_rate(r, top, kwargs.get("currency", "USD"), kwargs.get("builtin_catalog", True))
    builtin = PricingConfig().default  # in USD
    values: dict[str, float] = {}
    if "default" in top:
        d = r.mapping(top["default"], top.key_lines["default"], "default", _UNIT_KEYS)
        values = {k: r.number(d, k, "default.") for k in d}
    if values or rate != 1.0:
        kwargs["default"] = UnitPrices(
            values.get("cpu_core_hour", builtin.cpu_core_hour * rate),
            values.get("memory_gib_hour", builtin.memory_gib_hour * rate),
            values.get("gpu_hour", builtin.gpu_hour * rate),
        )
    kwargs["usd_rate"] = rate
    if "gpu_models" in top:
        kwargs["gpu_models"] = _parse_gpu_models(r, top)
    if "instance_types" in top:
        kwargs["instance_types"] = r.number_table(top, "instance_types")
    if "nodes" in top:
        kwargs["nodes"] = _parse_node_rules(r, top)
    labels = dict(DEFAULT_LABELS)
    if "labels" in top:
        labels = _parse_labels(r, top)
        kwargs["labels"] = labels
    if "budgets" in top:
        kwargs["budgets"] = _parse_budgets(r, top, labels)
    if "gpu_weights" in top:
        kwargs["gpu_weights"] = _parse_gpu_weights(r, top)
    return PricingConfig(**kwargs)


def _usd_rate(r: Reader, top: Located, currency: str, builtin_on: bool) -> float:
    """`usd_rate`: units of `currency` per US dollar, to convert the built-in prices, which are
    in USD. Required when another currency would otherwise be shown on USD figures: the
    built-in catalog is on (the default), or `default` leaves a unit price to the built-in one."""
    if "usd_rate" in top:
        rate = r.number(top, "usd_rate", "")
        line = top.key_lines["usd_rate"]
        if rate <= 0:
            raise r.fail(line, "usd_rate", f"units of currency per US dollar, must be > 0, got {rate!r}")
        if currency == "USD" and rate != 1:
            raise r.fail(line, "usd_rate", f"converts the built-in USD prices into `currency`; with currency USD it is 1, got {rate!r}")
        return rate
    if currency == "USD":
        return 1.0
    default = top.get("default")
    complete = isinstance(default, dict) and all(k in default for k in _UNIT_KEYS)
    if builtin_on or not complete:
        uses = "the built-in catalog and GPU model prices" if builtin_on else "the built-in default unit prices"
        raise r.fail(
            top.key_lines["currency"], "currency",
            f"{currency}, but {uses} are in USD: set usd_rate ({currency} per US dollar) to convert them, "
            f"or builtin_catalog: false and default.cpu_core_hour, memory_gib_hour and gpu_hour in {currency}",
        )
    return 1.0


def _parse_gpu_models(r: Reader, top: Located) -> dict[str, float]:
    """Prices by canonical model; two keys naming one model (aliases) are an error."""
    out: dict[str, float] = {}
    named: dict[str, str] = {}
    table = top["gpu_models"]
    for name, price in r.number_table(top, "gpu_models").items():
        key = normalize_model(name)
        if key in named:
            raise r.fail(
                table.key_lines[name], f"gpu_models.{name}",
                f"names the same GPU model as {brief(named[key])} ({gpumodels.canonical(name)[:80]})",
            )
        named[key] = name
        out[key] = price
    return out


def _parse_node_rules(r: Reader, top: Located) -> tuple[NodeRule, ...]:
    rules = top["nodes"]
    if not isinstance(rules, list):
        raise r.fail(top.key_lines["nodes"], "nodes", f"expected a list, got {describe(rules)}")
    out = []
    line = top.key_lines["nodes"]
    for i, entry in enumerate(rules):
        prefix = f"nodes[{i}]"
        e = r.mapping(entry, line, prefix, ("match",) + _UNIT_KEYS + _PRICE_KEYS)
        line = e.line
        if "match" not in e:
            raise r.fail(e.line, prefix, "missing key 'match'")
        m = r.mapping(e["match"], e.key_lines["match"], f"{prefix}.match", ("name", "labels"))
        if not m:
            raise r.fail(m.line, f"{prefix}.match", "needs 'name' and/or 'labels'")
        name = r.string(m, "name", f"{prefix}.match.") if "name" in m else None
        labels: tuple[tuple[str, str], ...] = ()
        if "labels" in m:
            lm = r.mapping(m["labels"], m.key_lines["labels"], f"{prefix}.match.labels", None)
            labels = tuple((str(k), r.string(lm, k, f"{prefix}.match.labels.")) for k in lm)
        kinds = [k for k in _PRICE_KEYS if k in e] + (["unit prices"] if any(k in e for k in _UNIT_KEYS) else [])
        if not kinds:
            raise r.fail(e.line, prefix, "needs one of hourly, discount, amortize or unit prices ("
                         + ", ".join(_UNIT_KEYS) + ")")
        if len(kinds) > 1:
            keys = [k for k in e if k in _PRICE_KEYS + _UNIT_KEYS]
            kind = {k: k if k in _PRICE_KEYS else "unit prices" for k in keys}
            second = next(k for k in keys if kind[k] != kind[keys[0]])
            raise r.fail(e.key_lines[second], f"{prefix}.{second}",
                         f"a rule prices one way: {kind[keys[0]]} and {kind[second]} exclude each other")
        prices: dict[str, Any] = {k: r.number(e, k, f"{prefix}.") for k in e if k in _UNIT_KEYS + ("hourly",)}
        if "discount" in e:
            d = r.number(e, "discount", f"{prefix}.")
            if d >= 1:
                raise r.fail(e.key_lines["discount"], f"{prefix}.discount",
                             f"a fraction off the price, 0 <= discount < 1 (0.28 = 28% off), got {d!r}")
            prices["discount"] = d
        if "amortize" in e:
            prices["amortize"] = _parse_amortize(r, e, f"{prefix}.amortize")
        out.append(NodeRule(index=i, name=name, labels=labels, **prices))
    return tuple(out)


def _parse_amortize(r: Reader, e: Located, where: str) -> Amortization:
    a = r.mapping(e["amortize"], e.key_lines["amortize"], where, _AMORTIZE_KEYS)
    for required in ("purchase", "years"):
        if required not in a:
            raise r.fail(a.line, where, f"missing key {required!r}")
    values = {k: r.number(a, k, f"{where}.") for k in a}
    if values["years"] <= 0:
        raise r.fail(a.key_lines["years"], f"{where}.years", "must be > 0")
    amortization = Amortization(**values)
    if amortization.hourly > MAX_NUMBER:  # a purchase spread over a few seconds
        raise r.fail(a.key_lines["years"], f"{where}.years",
                     f"purchase / years is {amortization.hourly:g} per hour, over the {MAX_NUMBER:g} limit")
    return amortization


def _parse_labels(r: Reader, top: Located) -> dict[str, tuple[str, ...]]:
    m = r.mapping(top["labels"], top.key_lines["labels"], "labels", None)
    out: dict[str, tuple[str, ...]] = {}
    for label, keys in m.items():
        where = f"labels.{label}"
        if not isinstance(label, str) or not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
            raise r.fail(m.key_lines[label], where, "not a valid Prometheus label name")
        if label in _RESERVED_LABELS:
            raise r.fail(m.key_lines[label], where, "clashes with a label gpucost or Prometheus sets")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise r.fail(m.key_lines[label], where, "expected a list of Kubernetes label keys")
        out[label] = tuple(keys)
    return out


def _parse_budgets(r: Reader, top: Located, labels: Mapping[str, tuple[str, ...]]) -> tuple[Budget, ...]:
    entries = top["budgets"]
    if not isinstance(entries, list):
        raise r.fail(top.key_lines["budgets"], "budgets", f"expected a list, got {describe(entries)}")
    out: list[Budget] = []
    seen: set[str] = set()
    dimensions = ("namespace",) + tuple(labels)
    for i, entry in enumerate(entries):
        prefix = f"budgets[{i}]"
        b = r.mapping(entry, top.key_lines["budgets"], prefix, ("name", "dimension", "value", "resource", "monthly"))
        for required in ("dimension", "value", "monthly"):
            if required not in b:
                raise r.fail(b.line, prefix, f"missing key {required!r}")
        dimension = r.string(b, "dimension", f"{prefix}.")
        if dimension not in dimensions:
            raise r.fail(b.key_lines["dimension"], f"{prefix}.dimension", f"must be one of {', '.join(dimensions)}")
        value = r.string(b, "value", f"{prefix}.")
        resource = r.string(b, "resource", f"{prefix}.") if "resource" in b else "total"
        if resource not in BUDGET_RESOURCES:
            raise r.fail(b.key_lines["resource"], f"{prefix}.resource", f"must be one of {', '.join(BUDGET_RESOURCES)}")
        name = r.string(b, "name", f"{prefix}.") if "name" in b else f"{dimension}-{value}-{resource}"
        if name in seen:
            raise r.fail(b.line, f"{prefix}.name", f"duplicate budget name {brief(name)}")
        seen.add(name)
        out.append(Budget(name, dimension, value, resource, r.number(b, "monthly", f"{prefix}.")))
    return tuple(out)


def _parse_gpu_weights(r: Reader, top: Located) -> dict[str, Fraction]:
    m = r.mapping(top["gpu_weights"], top.key_lines["gpu_weights"], "gpu_weights", None)
    out = {}
    for key in m:
        weight = r.number(m, key, "gpu_weights.")
        if weight > 1:
            raise r.fail(m.key_lines[key], f"gpu_weights.{key}", "a unit cannot be worth more than 1 GPU")
        out[str(key)] = Fraction(weight).limit_denominator(10**6)
    return out


def load_pricing(path: str | Path) -> PricingConfig:
    """Read and validate a pricing file. Raises PricingError naming the file."""
    return parse_pricing(read_file(path, "pricing file", PricingError), str(path))

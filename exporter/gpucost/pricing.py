"""The pricing config (YAML) and the node price resolver.

Precedence for a node's price (`price_source`):

1. `billing`      the node's own rows in the billing export (effective hourly cost);
2. `billing_sku`  the export's rows of other resources of its instance type, region, capacity;
3. `node_rule`    the first matching `nodes[]` rule: a whole-node `hourly`, unit prices, an
                  on-premises `amortize`ment, or a `discount` on the price found below;
4. `instance_type` the pricing file's `instance_types`;
5. `catalog`      the built-in regional catalog (type, region, spot or on-demand);
6. `default`      the `default` unit prices times the node's capacity.

A whole-node price is split
over cpu, memory and gpu in proportion to the default unit prices times the node's capacity
(cores, GiB, physical GPUs times that GPU model's price). Validation is strict: unknown keys,
wrong types and negative prices are errors naming the file, line and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import catalog, gpumodels, regional
from .billing import BillingPrices
from .configfile import MAX_NUMBER, ConfigError, Located, Reader, describe, load_document, read_file
from .guard import brief

#: Labels every pod series carries; dimension labels may not reuse them.
FIXED_POD_LABELS = ("namespace", "pod", "node", "owner_kind", "owner_name")
_RESERVED_LABELS = frozenset(
    FIXED_POD_LABELS + ("resource", "budget", "dimension", "cluster", "instance", "job", "le")
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_CURRENCY = re.compile(r"[A-Z]{3}")
BUDGET_RESOURCES = ("cpu", "memory", "gpu", "total")
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "team": ("team",),
    "product": ("product",),
    "customer": ("customer",),
}


class PricingError(ConfigError):
    """Invalid pricing config; the message names the file, line and key."""


def normalize_model(model: str) -> str:
    """GPU model key: the model's canonical name (any alias: GFD, NVML, GKE, AMD, Intel names),
    case-insensitive, spaces and underscores read as dashes."""
    return gpumodels.price_key(model)


@dataclass(frozen=True)
class UnitPrices:
    """Hourly prices per unit: CPU core, GiB of memory, physical GPU."""

    cpu_core_hour: float
    memory_gib_hour: float
    gpu_hour: float


#: Hours in the year an on-premises server is amortised over (365 days).
HOURS_PER_YEAR = 8760


@dataclass(frozen=True)
class Amortization:
    """An owned server's hourly cost: purchase price spread over `years`, plus power and
    hosting (rack, cooling, network, staff) per hour."""

    purchase: float
    years: float
    power_hour: float = 0.0
    hosting_hour: float = 0.0

    @property
    def hourly(self) -> float:
        return self.purchase / (self.years * HOURS_PER_YEAR) + self.power_hour + self.hosting_hour


@dataclass(frozen=True)
class NodeRule:
    """A `nodes[]` entry: match by name (glob) and/or labels; then one of a whole-node price,
    unit prices, an amortised purchase, or a discount on the price the node would otherwise get."""

    index: int
    name: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    hourly: float | None = None
    cpu_core_hour: float | None = None
    memory_gib_hour: float | None = None
    gpu_hour: float | None = None
    discount: float | None = None  # fraction off, 0 <= d < 1 (0.28 = 28% off)
    amortize: Amortization | None = None

    @property
    def unit_prices(self) -> bool:
        return self.hourly is None and self.discount is None and self.amortize is None

    def matches(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        if self.name is not None and not fnmatchcase(node_name, self.name):
            return False
        return all(node_labels.get(k) == v for k, v in self.labels)


@dataclass(frozen=True)
class Budget:
    """A monthly budget on one value of one dimension (namespace or a dimension label)."""

    name: str
    dimension: str
    value: str
    resource: str
    monthly: float


@dataclass(frozen=True)
class PricingConfig:
    currency: str = "USD"
    default: UnitPrices = UnitPrices(
        catalog.DEFAULT_CPU_CORE_HOUR, catalog.DEFAULT_MEMORY_GIB_HOUR, catalog.DEFAULT_GPU_HOUR
    )
    gpu_models: Mapping[str, float] = field(default_factory=dict)
    instance_types: Mapping[str, float] = field(default_factory=dict)
    builtin_catalog: bool = True
    nodes: tuple[NodeRule, ...] = ()
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    budgets: tuple[Budget, ...] = ()
    #: Physical-GPU equivalents per unit, by resource name or MIG profile (e.g. "1g.10gb").
    gpu_weights: Mapping[str, Fraction] = field(default_factory=dict)
    source: str = "built-in"
    #: Effective prices from a billing export (--billing-export); None without one.
    billing: BillingPrices | None = None

    def gpu_model_price(self, model: str) -> tuple[float, bool]:
        """($ per GPU-hour, defaulted?) for a GPU model; defaulted when no table knows it."""
        key = normalize_model(model)
        if key in self.gpu_models:
            return self.gpu_models[key], False
        if self.builtin_catalog and key in _BUILTIN_MODELS:
            return _BUILTIN_MODELS[key], False
        return self.default.gpu_hour, True

    def instance_price(
        self, instance_type: str, region: str = "", capacity_type: str = "", gpu_model: str = "", gpus: int = 0
    ) -> tuple[float | None, str, regional.CatalogPrice | None]:
        """(whole-node $/h or None, source, the catalog row used): the file's
        `instance_types`, then the built-in regional catalog (with GPUs attached to GCP N1
        machines: `gpus` of `gpu_model`)."""
        if instance_type in self.instance_types:
            return self.instance_types[instance_type], "instance_type", None
        if self.builtin_catalog:
            hit = regional.builtin().lookup(instance_type, region, capacity_type, gpu_model, gpus)
            if hit is not None:
                return hit.hourly, "catalog", hit
        return None, "default", None

    def info_labels(self) -> tuple[tuple[str, str], ...]:
        """Labels of gpucost_pricing_info: what a user needs to audit the prices."""
        b = self.billing
        return (
            ("currency", self.currency),
            ("source", self.source),
            ("catalog_date", regional.builtin().date if self.builtin_catalog else ""),
            ("billing_export", b.source if b else ""),
            ("billing_cost_column", b.cost_column if b else ""),
            ("billing_window_start", b.window_start if b else ""),
            ("billing_window_end", b.window_end if b else ""),
        )


_BUILTIN_MODELS = {normalize_model(k): v for k, v in catalog.GPU_MODELS.items()}


@dataclass(frozen=True)
class NodeFacts:
    """What pricing needs to know of a node. Capacity, not allocatable, sets its price."""

    name: str
    labels: Mapping[str, str]
    cpu_cores: float
    memory_gib: float
    gpus: int | Fraction
    gpu_model: str
    instance_type: str
    region: str = ""  # topology.kubernetes.io/region
    capacity_type: str = ""  # spot | on-demand | reserved | "" (unknown: on-demand prices)
    provider_id: str = ""  # spec.providerID, to find the node in a billing export


@dataclass(frozen=True)
class NodePrice:
    """A node's hourly cost split by resource, and the hourly price of one physical GPU."""

    cpu: float
    memory: float
    gpu: float
    gpu_unit: float
    source: str
    gpu_price_defaulted: bool
    #: The catalog had no row for the node's region: priced from the cheapest listed region.
    region_fallback: bool = False
    #: A spot node the catalog has no spot price for: priced on demand.
    spot_fallback: bool = False

    @property
    def total(self) -> float:
        return self.cpu + self.memory + self.gpu


def resolve_node_price(config: PricingConfig, node: NodeFacts) -> NodePrice:
    """Price a node: billing > billing_sku > nodes[] rule > instance type > catalog > default."""
    model_price, defaulted = config.gpu_model_price(node.gpu_model) if node.gpus else (0.0, False)
    billing = config.billing
    if billing is not None:
        hourly = billing.node_price(node.provider_id) if node.provider_id else None
        if hourly is not None:
            return _split(config, node, hourly, model_price, "billing", defaulted)
        hourly = billing.sku_price(node.instance_type, node.region, node.capacity_type) if node.instance_type else None
        if hourly is not None:
            return _split(config, node, hourly, model_price, "billing_sku", defaulted)
    rule = next((r for r in config.nodes if r.matches(node.name, node.labels)), None)
    if rule is not None and rule.unit_prices:
        d = config.default
        gpu_unit = rule.gpu_hour if rule.gpu_hour is not None else model_price
        return NodePrice(
            cpu=node.cpu_cores * (rule.cpu_core_hour if rule.cpu_core_hour is not None else d.cpu_core_hour),
            memory=node.memory_gib
            * (rule.memory_gib_hour if rule.memory_gib_hour is not None else d.memory_gib_hour),
            gpu=float(node.gpus * Fraction(gpu_unit)),
            gpu_unit=gpu_unit,
            source="node_rule",
            gpu_price_defaulted=defaulted and rule.gpu_hour is None and bool(node.gpus),
        )
    if rule is not None and rule.hourly is not None:
        return _split(config, node, rule.hourly, model_price, "node_rule", defaulted)
    if rule is not None and rule.amortize is not None:
        return _split(config, node, rule.amortize.hourly, model_price, "node_rule", defaulted)
    price = _list_price(config, node, model_price, defaulted)
    if rule is not None and rule.discount is not None:
        keep = 1.0 - rule.discount
        return NodePrice(price.cpu * keep, price.memory * keep, price.gpu * keep, price.gpu_unit * keep,
                         "node_rule", price.gpu_price_defaulted, price.region_fallback, price.spot_fallback)
    return price


def _list_price(config: PricingConfig, node: NodeFacts, model_price: float, defaulted: bool) -> NodePrice:
    """The price from the file's instance types, the catalog, or the default unit prices.
    Nodes of one shape get one answer: it is worked out once per configuration and shape."""
    key = (node.instance_type, node.region, node.capacity_type, node.gpu_model, node.gpus, node.cpu_cores,
           node.memory_gib, model_price, defaulted)
    memo = _list_prices
    if memo.config is not config:
        memo.config, memo.by_shape = config, {}
    price = memo.by_shape.get(key)
    if price is None:
        if len(memo.by_shape) >= _ListPrices.KEPT:
            memo.by_shape.clear()
        price = memo.by_shape[key] = _work_out_list_price(config, node, model_price, defaulted)
    return price


class _ListPrices:
    """The configuration the remembered list prices belong to, and those prices by node shape
    (the facts `_work_out_list_price` reads). A new configuration (a reload) starts afresh."""

    KEPT = 4096  # shapes; past this (hostile or very mixed clusters) the memo starts over

    def __init__(self) -> None:
        self.config: PricingConfig | None = None
        self.by_shape: dict[tuple[object, ...], NodePrice] = {}


_list_prices = _ListPrices()


def _work_out_list_price(config: PricingConfig, node: NodeFacts, model_price: float, defaulted: bool) -> NodePrice:
    hourly, source, hit = (
        config.instance_price(node.instance_type, node.region, node.capacity_type, node.gpu_model, int(node.gpus))
        if node.instance_type else (None, "default", None)
    )
    if hourly is not None:
        price = _split(config, node, hourly, model_price, source, defaulted)
        if hit is not None and (hit.region_fallback or hit.spot_missing):
            price = replace(price, region_fallback=hit.region_fallback, spot_fallback=hit.spot_missing)
        return price
    d = config.default
    return NodePrice(
        cpu=node.cpu_cores * d.cpu_core_hour,
        memory=node.memory_gib * d.memory_gib_hour,
        gpu=float(node.gpus * Fraction(model_price)),
        gpu_unit=model_price,
        source="default",
        gpu_price_defaulted=defaulted and bool(node.gpus),
    )


def _split(
    config: PricingConfig, node: NodeFacts, hourly: float, model_price: float, source: str,
    defaulted: bool,
) -> NodePrice:
    d = config.default
    w_cpu = node.cpu_cores * d.cpu_core_hour
    w_mem = node.memory_gib * d.memory_gib_hour
    w_gpu = float(node.gpus) * model_price
    weight = w_cpu + w_mem + w_gpu
    if weight <= 0:  # nothing to weigh by: charge the whole price as CPU
        w_cpu, weight = 1.0, 1.0
    gpu = hourly * w_gpu / weight
    return NodePrice(
        cpu=hourly * w_cpu / weight,
        memory=hourly * w_mem / weight,
        gpu=gpu,
        gpu_unit=gpu / float(node.gpus) if node.gpus else 0.0,
        source=source,
        gpu_price_defaulted=defaulted and bool(node.gpus),
    )


_TOP_KEYS = (
    "currency", "default", "gpu_models", "instance_types", "builtin_catalog", "nodes", "labels",
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
    default = PricingConfig().default
    if "default" in top:
        d = r.mapping(top["default"], top.key_lines["default"], "default", _UNIT_KEYS)
        values = {k: r.number(d, k, "default.") for k in d}
        default = UnitPrices(
            values.get("cpu_core_hour", default.cpu_core_hour),
            values.get("memory_gib_hour", default.memory_gib_hour),
            values.get("gpu_hour", default.gpu_hour),
        )
        kwargs["default"] = default
    if "gpu_models" in top:
        kwargs["gpu_models"] = _parse_gpu_models(r, top)
    if "instance_types" in top:
        kwargs["instance_types"] = r.number_table(top, "instance_types")
    if "builtin_catalog" in top:
        kwargs["builtin_catalog"] = r.boolean(top, "builtin_catalog", "")
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

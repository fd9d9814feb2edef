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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from fractions import Fraction

from . import catalog, gpumodels, regional
from .billing import BillingPrices
from .configfile import ConfigError

#: Labels every pod series carries; dimension labels may not reuse them.
FIXED_POD_LABELS = ("namespace", "pod", "node", "owner_kind", "owner_name")
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
    #: Units of `currency` per US dollar: the built-in prices (regional catalog, GPU models,
    #: default unit prices) are in USD and are multiplied by it; 1 when `currency` is USD.
    usd_rate: float = 1.0

    def gpu_model_price(self, model: str) -> tuple[float, bool]:
        """(price per GPU-hour in `currency`, defaulted?) for a GPU model; defaulted when no
        table knows it."""
        key = normalize_model(model)
        if key in self.gpu_models:
            return self.gpu_models[key], False
        if self.builtin_catalog and key in _BUILTIN_MODELS:
            return _BUILTIN_MODELS[key] * self.usd_rate, False
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
                return hit.hourly * self.usd_rate, "catalog", hit
        return None, "default", None

    def info_labels(self) -> tuple[tuple[str, str], ...]:
        """Labels of gpucost_pricing_info: what a user needs to audit the prices."""
        b = self.billing
        return (
            ("currency", self.currency),
            ("usd_rate", f"{self.usd_rate:.10g}"),
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
    #: A Windows node priced at the catalog's list price, which is Linux's (no source of the
    #: catalog publishes Windows prices; AWS and Azure charge the licence on top).
    os_fallback: bool = False

    @property
    def total(self) -> float:
        return self.cpu + self.memory + self.gpu

    @property
    def fallback_reasons(self) -> tuple[str, ...]:
        """The `reason` labels of gpucost_node_price_fallback this price sets, in order."""
        return tuple(reason for reason, on in (("region", self.region_fallback), ("spot", self.spot_fallback),
                                               ("os", self.os_fallback)) if on)


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
    if price.source == "catalog" and _is_windows(node.labels):
        price = replace(price, os_fallback=True)
    if rule is not None and rule.discount is not None:
        keep = 1.0 - rule.discount
        return replace(price, cpu=price.cpu * keep, memory=price.memory * keep, gpu=price.gpu * keep,
                       gpu_unit=price.gpu_unit * keep, source="node_rule")
    return price


def _is_windows(labels: Mapping[str, str]) -> bool:
    """kubernetes.io/os (beta.kubernetes.io/os on old nodes) says windows."""
    return (labels.get("kubernetes.io/os") or labels.get("beta.kubernetes.io/os")) == "windows"


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

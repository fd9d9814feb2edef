"""The engine's exposition: the per-object metric families (declared once here), each object's
lines rendered when it changes and cached per family, and the per-deployment families."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from . import __version__
from .costs import RESOURCES, NodeCost, Rates, pod_cost
from .exposition import (
    BlockedFamily,
    MetricFamily,
    Sample,
    block_of,
    escape_label_value,
    format_value,
    header,
    render_family,
)
from .pricing import PricingConfig
from .records import NodeEntry, PodEntry
from .workloads import Workloads

# Families rendered per object, in exposition order. (name, help)
POD_FAMILIES = (
    ("gpucost_pod_cpu_cost_per_hour",
     "Hourly cost of the CPU a pod reserves (effective request x node CPU cost / allocatable), in {currency} per hour."),
    ("gpucost_pod_memory_cost_per_hour",
     "Hourly cost of the memory a pod reserves (effective request x node memory cost / allocatable), in {currency} per hour."),
    ("gpucost_pod_gpu_reserved_cost_per_hour",
     "Hourly cost of the physical-GPU share a pod reserves (whole, time-sliced, MPS, MIG, DRA, HAMi or KAI) x the node's per-GPU price, in {currency} per hour."),
    ("gpucost_pod_gpu_reserved",
     "Physical-GPU equivalents a pod reserves, by resource: a device-plugin resource name, a DRA driver, or gpu-fraction (KAI)."),
)
NODE_FAMILIES = (
    ("gpucost_node_cost_per_hour", "gauge",
     "Hourly cost of a node by resource (cpu, memory, gpu), in {currency} per hour."),
    ("gpucost_node_idle_cost_per_hour", "gauge",
     "Hourly cost of a node's resources that no pod reserves (node cost minus the pods' costs), in {currency} per hour."),
    ("gpucost_node_info", "gauge",
     "Node metadata used for pricing; value 1. price_source is billing, billing_sku, node_rule, instance_type, catalog or default."),
    ("gpucost_node_gpus", "gauge", "Physical GPUs on a node."),
    ("gpucost_node_gpu_info", "gauge",
     "How a node's GPUs are shared and where the inventory came from; value 1."),
    ("gpucost_gpu_price_defaulted", "gauge",
     "1 when a node's GPU model has no configured price and default.gpu_hour was used."),
    ("gpucost_node_gpu_unit_weight", "gauge",
     "Physical-GPU equivalents one unit of a GPU resource a node advertises is worth (1 whole, 1/R time-sliced or MPS, g/7 MIG, 1/N AMD partition, inferred or configured)."),
    ("gpucost_node_allocator_gpus", "gauge",
     "Physical GPUs a node's allocators know: published in DRA ResourceSlices (allocator=dra) or registered with HAMi (allocator=hami)."),
    ("gpucost_node_price_fallback", "gauge",
     "1 when the catalog priced a node from another region (reason=region), a spot node at the on-demand price (reason=spot), or a Windows node at the Linux price (reason=os)."),
)
_IDLE = 1  # index of gpucost_node_idle_cost_per_hour in NODE_FAMILIES


class Renderer:
    """Per-object families with each object's lines cached; a scrape joins them."""

    def __init__(self, pricing: PricingConfig, workloads: Workloads) -> None:
        cur = pricing.currency
        self.workloads = workloads
        self.pod_families = tuple(BlockedFamily(header(n, "gauge", h.format(currency=cur))) for n, h in POD_FAMILIES)
        self.node_families = tuple(BlockedFamily(header(n, t, h.format(currency=cur))) for n, t, h in NODE_FAMILIES)

    def families(self) -> tuple[BlockedFamily, ...]:
        return self.pod_families + self.node_families

    def drop_pod(self, key: str, block: int) -> None:
        for family in self.pod_families:
            family.pop(block, key)

    def render_pods(
        self, keys: Iterable[str], pods: Mapping[str, PodEntry], nodes: Mapping[str, NodeEntry],
        owns: Callable[[str], bool] | None,
    ) -> None:
        """Render the lines of these pods, or drop them where the pod is gone, its node is not
        priced or another shard serves it. Every pod of a sync passes here once, so the loop
        keeps its lookups in locals and sets the two lines every pod has in place."""
        cpu, mem, gpu_cost, _ = self.pod_families
        cpu_blocks, cpu_sizes, cpu_versions, cpu_gzips = cpu.blocks, cpu.sizes, cpu.versions, cpu.gzips
        mem_blocks, mem_sizes, mem_versions, mem_gzips = mem.blocks, mem.sizes, mem.versions, mem.gzips
        gpu_blocks = gpu_cost.blocks
        # Cost texts of this pass: pods of one size on nodes of one shape cost the same. Kept
        # for the pass only (at 150,000 pods some 40,000 texts, 5 MB the state need not hold).
        values: dict[float, str] = {}
        labels_text = self.workloads.labels_text
        for key in keys:
            entry = pods.get(key)
            if entry is None:
                self.drop_pod(key, block_of(key))
                continue
            block = entry.block
            node = nodes.get(entry.node)
            rates = node.rates if node is not None else None
            if rates is None or (owns is not None and not owns(key)):
                self.drop_pod(key, block)
                continue
            group = entry.group
            rest = group.text  # owner and dimension labels, rendered once per group
            if rest is None:
                rest = labels_text(group)
            namespace, node_name = group.namespace, entry.node
            name = key[len(namespace) + 1:]
            if _needs_escape(key) or _needs_escape(node_name):
                namespace, name, node_name = map(escape_label_value, (namespace, name, node_name))
            labels = f'{{namespace="{namespace}",pod="{name}",node="{node_name}"{rest}'
            # Costs are finite and non-negative: repr() is the shortest round-trip text.
            value = entry.cpu_m * rates.cpu
            text = values.get(value)
            if text is None:
                text = values[value] = repr(value)
            line = f"gpucost_pod_cpu_cost_per_hour{labels}}} {text}\n"
            # BlockedFamily.set, inline; a new key (every pod of a sync) in one dict operation
            old = cpu_blocks[block].setdefault(key, line)
            if old is line:
                cpu_sizes[block] += len(line)
                cpu_versions[block] += 1
                cpu_gzips[block] = None
            elif old != line:
                cpu_blocks[block][key] = line
                cpu_sizes[block] += len(line) - len(old)
                cpu_versions[block] += 1
                cpu_gzips[block] = None
            value = entry.memory_b * rates.memory
            text = values.get(value)
            if text is None:
                text = values[value] = repr(value)
            line = f"gpucost_pod_memory_cost_per_hour{labels}}} {text}\n"
            old = mem_blocks[block].setdefault(key, line)
            if old is line:
                mem_sizes[block] += len(line)
                mem_versions[block] += 1
                mem_gzips[block] = None
            elif old != line:
                mem_blocks[block][key] = line
                mem_sizes[block] += len(line) - len(old)
                mem_versions[block] += 1
                mem_gzips[block] = None
            if entry.held_units or entry.gpu_shares:
                self._render_gpus(entry, rates, labels)
            elif key in gpu_blocks[block]:
                gpu_cost.pop(block, key)
                self.pod_families[3].pop(block, key)

    def _render_gpus(self, entry: PodEntry, rates: Rates, labels: str) -> None:
        key, block = entry.key, entry.block
        _, _, gpu_cost, gpu = self.pod_families
        cost = pod_cost(rates, entry.cpu_m, entry.memory_b, entry.held_units, entry.gpu_shares)
        gpu_cost.set(block, key, f"gpucost_pod_gpu_reserved_cost_per_hour{labels}}} {format_value(cost.gpu)}\n")
        gpu.set(block, key, "".join(
            f'gpucost_pod_gpu_reserved{labels},resource="{escape_label_value(res)}"}} {format_value(share)}\n'
            for res, share in sorted(cost.gpus.items())
        ))

    def drop_node(self, name: str) -> None:
        block = block_of(name)
        for family in self.node_families:
            family.pop(block, name)

    def render_node(self, entry: NodeEntry, cost: NodeCost, idle_only: bool = False) -> None:
        """Render the node's families; after a pod change only its idle cost can differ."""
        block = block_of(entry.name)
        if idle_only:
            node = escape_label_value(entry.name)
            self.node_families[_IDLE].set(block, entry.name, _resource_lines(_IDLE_NAME, node, cost.idle))
            return
        for family, text in zip(self.node_families, node_lines(entry, cost), strict=True):
            if text:
                family.set(block, entry.name, text)
            else:
                family.pop(block, entry.name)


#: Whether any of these characters occurs (then label values need escaping).
_needs_escape = re.compile(r'["\\\n]').search


def node_series(entry: NodeEntry, cost: NodeCost) -> list[list[Sample]]:
    """Per node family (NODE_FAMILIES order), the node's samples."""
    node = ("node", entry.name)
    gpus = entry.gpus
    out: list[list[Sample]] = [
        [((node, ("resource", res)), v) for res, v in cost.cost.items()],
        [((node, ("resource", res)), v) for res, v in cost.idle.items()],
        [((node, ("instance_type", entry.instance_type), ("region", entry.region),
           ("zone", entry.zone), ("capacity_type", entry.capacity_type),
           ("gpu_model", gpus.model if gpus.physical else ""),
           ("price_source", entry.price.source)), 1)],
        [], [], [], [], [], [],
    ]
    if gpus.physical:
        out[3].append(((node,), gpus.physical))
        out[4].append(((node, ("gpu_model", gpus.model), ("vendor", gpus.vendor),
                        ("sharing", gpus.sharing), ("mig_strategy", gpus.mig_strategy),
                        ("source", gpus.source)), 1))
    if entry.price.gpu_price_defaulted:
        out[5].append(((node, ("gpu_model", gpus.model)), 1))
    out[6].extend(((node, ("resource", r)), float(gpus.weight(r))) for r in entry.gpu_resources)
    if entry.dra_gpus:
        out[7].append(((node, ("allocator", "dra")), entry.dra_gpus))
    if entry.allocators.hami:
        out[7].append(((node, ("allocator", "hami")), len(entry.allocators.hami)))
    out[8].extend(((node, ("reason", reason)), 1) for reason in entry.price.fallback_reasons)
    return out


_COST_NAME, _IDLE_NAME, _INFO_NAME, _GPUS_NAME, _GPU_INFO_NAME, _DEFAULTED_NAME, _WEIGHT_NAME, \
    _ALLOCATOR_NAME, _FALLBACK_NAME = (name for name, _, _ in NODE_FAMILIES)


def _resource_lines(family: str, node: str, values: Mapping[str, float]) -> str:
    return "".join([f'{family}{{node="{node}",resource="{res}"}} {format_value(v)}\n' for res, v in values.items()])


def node_lines(entry: NodeEntry, cost: NodeCost) -> tuple[str, ...]:
    """Per node family (NODE_FAMILIES order), the node's lines ("" for none): the samples of
    `node_series` as `sample_line` writes them, formatted directly (every node of a sync
    passes here; the generic path builds and walks the label tuples first)."""
    e = escape_label_value
    node = e(entry.name)
    gpus, price = entry.gpus, entry.price
    model = e(gpus.model)
    physical = gpus.physical
    info = (f'{_INFO_NAME}{{node="{node}",instance_type="{e(entry.instance_type)}",region="{e(entry.region)}",'
            f'zone="{e(entry.zone)}",capacity_type="{e(entry.capacity_type)}",'
            f'gpu_model="{model if physical else ""}",price_source="{e(price.source)}"}} 1\n')
    if physical:
        count = f'{_GPUS_NAME}{{node="{node}"}} {format_value(physical)}\n'
        gpu_info = (f'{_GPU_INFO_NAME}{{node="{node}",gpu_model="{model}",vendor="{e(gpus.vendor)}",'
                    f'sharing="{e(gpus.sharing)}",mig_strategy="{e(gpus.mig_strategy)}",source="{e(gpus.source)}"}} 1\n')
    else:
        count = gpu_info = ""
    defaulted = f'{_DEFAULTED_NAME}{{node="{node}",gpu_model="{model}"}} 1\n' if price.gpu_price_defaulted else ""
    weights = "".join([
        f'{_WEIGHT_NAME}{{node="{node}",resource="{e(r)}"}} {format_value(float(gpus.weight(r)))}\n'
        for r in entry.gpu_resources
    ])
    allocators = ""
    if entry.dra_gpus:
        allocators = f'{_ALLOCATOR_NAME}{{node="{node}",allocator="dra"}} {format_value(entry.dra_gpus)}\n'
    if entry.allocators.hami:
        allocators += f'{_ALLOCATOR_NAME}{{node="{node}",allocator="hami"}} {format_value(len(entry.allocators.hami))}\n'
    fallback = "".join([f'{_FALLBACK_NAME}{{node="{node}",reason="{reason}"}} 1\n' for reason in price.fallback_reasons])
    return (_resource_lines(_COST_NAME, node, cost.cost), _resource_lines(_IDLE_NAME, node, cost.idle), info,
            count, gpu_info, defaulted, weights, allocators, fallback)


def info_families(
    pricing: PricingConfig,
    skipped: Mapping[tuple[str, str], int],
    skip_events: Mapping[tuple[str, str], int],
    overcommitted: Mapping[str, set[str]],
    last_update: Callable[[], float],
) -> Iterator[MetricFamily]:
    """Per-deployment families: pricing and build info, budgets, the engine's health."""
    yield MetricFamily(
        "gpucost_pricing_info", "gauge",
        "Pricing in effect; value 1. Every cost series is in this currency.",
        [(pricing.info_labels(), 1)],
    )
    yield MetricFamily("gpucost_build_info", "gauge", "gpucost build; value 1.",
                       [((("version", __version__),), 1)])
    if pricing.budgets:
        yield MetricFamily(
            "gpucost_budget_per_month", "gauge",
            f"Monthly budget from the pricing file, in {pricing.currency} per month.",
            [((("budget", b.name), ("dimension", b.dimension), (b.dimension, b.value),
               ("resource", b.resource)), b.monthly) for b in pricing.budgets],
        )
    yield MetricFamily(
        "gpucost_objects_skipped", "gauge",
        "Objects currently left out of the cost model, by kind and reason (see the log).",
        [((("kind", k), ("reason", r)), n) for (k, r), n in sorted(skipped.items())],
    )
    yield MetricFamily(
        "gpucost_objects_skipped_total", "counter",
        "Times an object was left out of the cost model (malformed quantity, undecodable object), by kind and reason.",
        [((("kind", k), ("reason", r)), n) for (k, r), n in sorted(skip_events.items())],
    )
    yield MetricFamily(
        "gpucost_overcommitted_nodes", "gauge",
        "Nodes whose reservations exceed allocatable, so their pods' costs of that resource are scaled down.",
        [((("resource", r),), len(overcommitted[r])) for r in RESOURCES],
    )
    yield MetricFamily(
        "gpucost_last_update_timestamp_seconds", "gauge",
        "Unix time the cost model was last known current: files loaded, or (live) the oldest "
        "of the watched resources' last list, event or bookmark.",
        [((), last_update())],
    )


def scrape_tail(info: Iterable[MetricFamily], extra: Iterable[MetricFamily], started: float | None) -> bytes:
    """The small families rendered per scrape (`info`, then `extra`), and the scrape's duration
    in seconds since `started` (a time.perf_counter() reading; 0 without one)."""
    parts = [render_family(f) for f in info]
    parts.extend(render_family(f) for f in extra)
    elapsed = time.perf_counter() - started if started is not None else 0.0
    parts.append(render_family(MetricFamily(
        "gpucost_scrape_duration_seconds", "gauge", "Seconds spent building this exposition.",
        [((), elapsed)],
    )))
    return "".join(parts).encode()

"""A Node object in, a priced node out: capacity and allocatable, the GPU inventory (labels,
NVML, catalog, HAMi registration, DRA slices), the price, and the metadata its series carry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from fractions import Fraction

from . import catalog
from .allocators import NodeAllocators, hami_devices
from .gpu import CatalogGpus, DeviceInventory, NodeGpus, is_gpu_resource, node_gpus
from .gpumodels import lookup
from .guard import brief
from .objects import Node
from .platforms import gpu_label_items
from .pricing import NodeFacts, PricingConfig, resolve_node_price
from .quantity import QuantityError, milli_value, parse_quantity, value
from .records import NodeEntry
from .workloads import first_label

log = logging.getLogger("gpucost.state")

GIB = 2**30
_INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
_REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
_ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")

NvmlInventory = Callable[[str], tuple[int, str]]


class InvalidNode(QuantityError):
    """A Node no physical machine can be: negative capacity or allocatable, or no name. A
    QuantityError, so the state skips it like a malformed quantity (gpucost_objects_skipped)."""


def _amounts(field: str, raw: Mapping[str, object] | None) -> dict[str, int]:
    """Parsed quantities (nano-units) of status.capacity or status.allocatable; a negative one
    would price the node below zero and make its idle cost negative, so it is refused."""
    out = {}
    for k, v in (raw or {}).items():
        amount = parse_quantity(v)  # type: ignore[arg-type]
        if amount < 0:
            raise InvalidNode(f"{field}[{k}]: negative quantity {brief(v)}; a node cannot hold less than nothing")
        out[k] = amount
    return out


class GpuInventories:
    """Node GPU inventories (`node_gpus`) by the inputs that decide them: the labels the platform
    readers read, the GPU capacity, NVML's answer, the catalog's, HAMi's and DRA's inventory,
    and the pricing file's gpu_weights. A cluster's nodes come in a few shapes, so 5,000 nodes
    cost one inventory per shape (and a ResourceSlice that re-describes its node, one lookup).
    New gpu_weights (a pricing reload) start afresh."""

    #: Shapes kept; past this (hostile or very mixed clusters) the cache starts over.
    KEPT = 4096

    def __init__(self) -> None:
        self._overrides: Mapping[str, Fraction] | None = None
        self._by_inputs: dict[tuple[object, ...], NodeGpus] = {}

    def node_gpus(
        self, labels: Mapping[str, str], capacity: Mapping[str, int], overrides: Mapping[str, Fraction],
        nvml_count: int, nvml_model: str, catalog: CatalogGpus | None, hami: DeviceInventory | None,
        dra: DeviceInventory | None,
    ) -> NodeGpus:
        """`gpu.node_gpus` of these inputs, computed once per distinct inputs."""
        if overrides is not self._overrides:
            self._overrides, self._by_inputs = overrides, {}
        key = (gpu_label_items(labels), tuple(sorted(capacity.items())), nvml_count, nvml_model, catalog, hami, dra)
        gpus = self._by_inputs.get(key)
        if gpus is None:
            if len(self._by_inputs) >= self.KEPT:
                self._by_inputs.clear()
            gpus = self._by_inputs[key] = node_gpus(
                labels, capacity, overrides=overrides, nvml_count=nvml_count, nvml_model=nvml_model,
                catalog=catalog, hami=hami, dra=dra,
            )
        return gpus


def capacity_type(labels: Mapping[str, str]) -> str:
    """spot | on-demand | reserved from the provisioner's or provider's labels; "" if unknown."""
    v = labels.get("karpenter.sh/capacity-type")
    if v:
        return v
    v = labels.get("eks.amazonaws.com/capacityType")
    if v:
        return {"ON_DEMAND": "on-demand", "SPOT": "spot"}.get(v, v.lower())
    if labels.get("cloud.google.com/gke-spot") == "true" or labels.get("cloud.google.com/gke-preemptible") == "true":
        return "spot"
    v = labels.get("kubernetes.azure.com/scalesetpriority")
    if v:
        return "spot" if v == "spot" else "on-demand"
    v = labels.get("node.kubernetes.io/lifecycle")  # kops and self-managed groups: spot | normal
    if v:
        return "spot" if v == "spot" else "on-demand"
    return ""


def describe_node(
    node: Node,
    pricing: PricingConfig,
    *,
    nvml: NvmlInventory | None = None,
    dra: DeviceInventory | None = None,
    previous: NodeEntry | None = None,
    inventories: GpuInventories | None = None,
) -> NodeEntry:
    """Price a node. Raises QuantityError for a malformed or negative capacity or allocatable
    (InvalidNode for the negative ones and a node without a name)."""
    meta = node.metadata
    name = meta.name
    if not name:
        raise InvalidNode("no metadata.name; every node series is named by it")
    capacity = _amounts("capacity", node.status.capacity)
    allocatable = _amounts("allocatable", node.status.allocatable)
    if not allocatable:
        allocatable = capacity  # manifests may omit status.allocatable
    labels = dict(meta.labels or {})
    instance_type = first_label(labels, _INSTANCE_TYPE_LABELS)
    hardware = catalog.INSTANCE_GPUS.get(instance_type)
    nvml_count, nvml_model = nvml(name) if nvml else (0, "")
    hami = hami_devices(meta.annotations)
    hami_inventory = None
    if hami:
        first = next(iter(hami.values()))
        hami_inventory = DeviceInventory(count=len(hami), model=first.type, vendor="nvidia", split=first.split)
    gpu_capacity = {k: value(v) for k, v in capacity.items() if is_gpu_resource(k)}
    catalog_gpus = CatalogGpus(*hardware) if hardware else None
    if inventories is not None:
        gpus = inventories.node_gpus(
            labels, gpu_capacity, pricing.gpu_weights, nvml_count, nvml_model, catalog_gpus, hami_inventory, dra,
        )
    else:
        gpus = node_gpus(
            labels, gpu_capacity, overrides=pricing.gpu_weights, nvml_count=nvml_count, nvml_model=nvml_model,
            catalog=catalog_gpus, hami=hami_inventory, dra=dra,
        )
    if gpus.sharing in ("inferred", "unknown") and (previous is None or previous.gpus.sharing != gpus.sharing):
        _log_sharing(name, gpus, capacity)
    facts = NodeFacts(
        name=name,
        labels=labels,
        cpu_cores=milli_value(capacity.get("cpu", 0)) / 1000,
        memory_gib=value(capacity.get("memory", 0)) / GIB,
        gpus=gpus.physical,
        gpu_model=gpus.model,
        instance_type=instance_type,
        region=first_label(labels, _REGION_LABELS),
        capacity_type=capacity_type(labels),
        provider_id=node.spec.provider_id,
    )
    return NodeEntry(
        obj=node,
        name=name,
        labels=labels,
        facts=facts,
        gpus=gpus,
        gpu_resources=tuple(sorted(k for k, v in gpu_capacity.items() if v > 0)),
        price=resolve_node_price(pricing, facts),
        alloc_cpu_m=milli_value(allocatable.get("cpu", 0)),
        alloc_memory_b=value(allocatable.get("memory", 0)),
        instance_type=instance_type,
        region=facts.region,
        zone=first_label(labels, _ZONE_LABELS),
        capacity_type=facts.capacity_type,
        allocators=NodeAllocators(hami=hami, gpu_memory_mib=_gpu_memory_mib(labels, gpus)),
        dra_gpus=dra.count if dra is not None else 0,
        rates=previous.rates if previous is not None else None,
        rendered=False,
    )


def _gpu_memory_mib(labels: Mapping[str, str], gpus: NodeGpus) -> int:
    """One GPU's memory in MiB: GFD's nvidia.com/gpu.memory, else the model's."""
    raw = labels.get("nvidia.com/gpu.memory", "")
    if raw.isdigit():
        return int(raw)
    info = lookup(gpus.model) if gpus.model else None
    return info.memory_gib * 1024 if info is not None else 0


def _log_sharing(node: str, gpus: NodeGpus, capacity: Mapping[str, object]) -> None:
    """Say once, per change, that a node's GPU units were read by inference or not at all."""
    units = {k: str(v) for k, v in capacity.items() if is_gpu_resource(k)}
    if gpus.sharing == "inferred":
        ratios = ", ".join(f"{k} = 1/{1 / w}" if w.numerator == 1 else f"{k} = {w}" for k, w in gpus.inferred.items())
        log.warning(
            "Node %s: advertises %s on %d physical GPUs (%s) and no label says how they are shared; "
            "costing each unit as %s of a GPU. Set gpu_weights in the pricing file to override.",
            node, units, gpus.physical, gpus.source, ratios,
        )
    else:
        log.warning(
            "Node %s: advertises %s but nothing says how many physical GPUs stand behind the shared "
            "units (no GPU Feature Discovery, Karpenter or catalog entry); they cost nothing until "
            "gpu_weights in the pricing file or a count label says.",
            node, units,
        )

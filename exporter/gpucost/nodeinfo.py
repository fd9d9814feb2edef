"""A Node object in, a priced node out: capacity and allocatable, the GPU inventory (labels,
NVML, catalog, HAMi registration, DRA slices), the price, and the metadata its series carry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from . import catalog
from .allocators import NodeAllocators, hami_devices
from .gpu import CatalogGpus, DeviceInventory, NodeGpus, is_gpu_resource, node_gpus
from .gpumodels import lookup
from .guard import brief
from .objects import Node
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
    gpus = node_gpus(
        labels,
        {k: value(v) for k, v in capacity.items() if is_gpu_resource(k)},
        overrides=pricing.gpu_weights,
        nvml_count=nvml_count,
        nvml_model=nvml_model,
        catalog=CatalogGpus(*hardware) if hardware else None,
        hami=hami_inventory,
        dra=dra,
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
    entry = NodeEntry()
    entry.obj = node
    entry.name = name
    entry.labels = labels
    entry.facts = facts
    entry.gpus = gpus
    entry.gpu_resources = tuple(sorted(k for k, v in capacity.items() if is_gpu_resource(k) and value(v) > 0))
    entry.price = resolve_node_price(pricing, facts)
    entry.alloc_cpu_m = milli_value(allocatable.get("cpu", 0))
    entry.alloc_memory_b = value(allocatable.get("memory", 0))
    entry.instance_type = instance_type
    entry.region = facts.region
    entry.zone = first_label(labels, _ZONE_LABELS)
    entry.capacity_type = facts.capacity_type
    entry.dra_gpus = dra.count if dra is not None else 0
    entry.allocators = NodeAllocators(hami=hami, gpu_memory_mib=_gpu_memory_mib(labels, gpus))
    entry.rates = previous.rates if previous is not None else None
    entry.rendered = False
    return entry


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

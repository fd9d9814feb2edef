"""GPUs as Kubernetes shares them: how many physical GPUs of which model a node has, and what
a unit of each GPU resource it advertises is worth in physical GPUs.

Weighting rule (shared/reference/gpu-sharing.md, this project's choice):
- a whole device (nvidia.com/gpu without sharing, amd.com/gpu, gpu.intel.com/i915|xe) = 1 GPU;
- a time-sliced or MPS unit (R units per GPU: GFD nvidia.com/gpu.replicas, GKE
  max-shared-clients-per-gpu) = 1/R;
- a MIG device <g>g.<mem>gb = g / compute slices of the parent GPU (7; 4 on A30), in the mixed
  strategy (nvidia.com/mig-<profile>) and the single strategy (nvidia.com/gpu on a node whose
  GFD product ends in -MIG-<profile>, or GKE's gke-gpu-partition-size), divided by R when GKE
  time-shares the partitions;
- an AMD compute partition = 1 / partitions per GPU (SPX 1, DPX 2, TPX 3, QPX 4, CPX = XCDs),
  from the resource name (mixed naming) or amd.com/compute-memory-partition (single naming);
- a unit nothing describes, on a node with more units than physical GPUs: physical / units,
  flagged as sharing="inferred";
- the pricing file's `gpu_weights` overrides any of these by resource name or MIG profile.

Physical GPUs come from the most authoritative source that answers: NVML, count labels, the
instance type's catalog entry, then advertised capacity read through the rules above. Units of
a shared resource are never taken as physical GPUs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction

from . import gpumodels
from .platforms import GpuLabels, read_gpu_labels

NVIDIA_GPU = "nvidia.com/gpu"
AMD_GPU = "amd.com/gpu"
WHOLE_DEVICE_RESOURCES = frozenset({NVIDIA_GPU, AMD_GPU, "gpu.intel.com/i915", "gpu.intel.com/xe"})
NVIDIA_SHARED = "nvidia.com/gpu.shared"
AWS_VGPU = "k8s.amazonaws.com/vgpu"
#: AWS's vGPU device plugin advertises 10 vGPU units per physical GPU by default.
AWS_VGPU_PER_GPU = 10

_MIG_RESOURCE = re.compile(r"nvidia\.com/mig-(?P<profile>(?:\d+c\.)?\d+g\.\d+gb(?:\.me|\+me)?)")
_AMD_PARTITION = re.compile(r"amd\.com/(?P<mode>spx|dpx|tpx|qpx|cpx)_nps\d+")

#: Values of gpucost_node_gpu_info{sharing}.
SHARING_VALUES = ("none", "time-slicing", "mps", "mig", "partitioned", "hami", "inferred", "unknown")


def is_gpu_resource(name: str) -> bool:
    """Whether a resource name stands for (a share of) a GPU."""
    known = _gpu_names.get(name)
    if known is None:
        if len(_gpu_names) >= _GPU_NAMES_KEPT:  # bounded: names come from arbitrary objects
            _gpu_names.clear()
        known = _gpu_names[name] = (
            name in WHOLE_DEVICE_RESOURCES
            or name == NVIDIA_SHARED
            or name == AWS_VGPU
            or name.startswith("nvidia.com/mig-")
            or _AMD_PARTITION.fullmatch(name) is not None
        )
    return known


#: Answers of is_gpu_resource: every node and pod of a sync asks about the same few names.
_gpu_names: dict[str, bool] = {}
_GPU_NAMES_KEPT = 4096


def compute_slices(model: str) -> int:
    """Compute slices of a MIG-capable GPU: 4 on A30, 7 on A100/H100/H200/B200."""
    return gpumodels.mig_compute_slices(model)


@dataclass(frozen=True)
class NodeGpus:
    """A node's physical GPUs and how its advertised GPU resources map onto them."""

    physical: int = 0
    model: str = ""  # canonical model, e.g. NVIDIA-A100-SXM4-80GB ("" when unknown)
    vendor: str = ""  # nvidia | amd | intel
    sharing: str = "none"  # one of SHARING_VALUES
    mig_strategy: str = "none"  # none | single | mixed
    source: str = "none"  # nvml | labels | hami | instance_type | capacity | dra | none
    replicas: int = 1  # time-slicing / MPS units per GPU (or per MIG device)
    single_mig_profile: str = ""  # the profile every nvidia.com/gpu stands for (MIG single)
    amd_partition: str = ""  # compute partition mode behind every amd.com/gpu (single naming)
    #: Per-node weights that replace the rules: inferred ratios, and 0 for shared units whose
    #: physical GPUs nothing states.
    inferred: Mapping[str, Fraction] = field(default_factory=dict, compare=False, hash=False)
    overrides: Mapping[str, Fraction] = field(default_factory=dict, compare=False, hash=False)

    def weight(self, resource: str) -> Fraction:
        """Physical-GPU equivalents of one unit of `resource` on this node."""
        if resource in self.overrides:
            return self.overrides[resource]
        if resource in self.inferred:
            return self.inferred[resource]
        return self.rule_weight(resource)

    def rule_weight(self, resource: str) -> Fraction:
        """The weight the documented rules give, before inference (overrides still apply to
        MIG profiles)."""
        if resource == NVIDIA_GPU:
            if self.single_mig_profile:
                return self._mig_weight(self.single_mig_profile) / self.replicas
            return Fraction(1, self.replicas)
        if resource == NVIDIA_SHARED:
            return Fraction(1, self.replicas)
        if resource == AMD_GPU:
            if self.amd_partition:
                return Fraction(1, gpumodels.amd_partitions_per_gpu(self.amd_partition, self.model))
            return Fraction(1)
        if resource in WHOLE_DEVICE_RESOURCES:
            return Fraction(1)
        if resource == AWS_VGPU:
            return Fraction(1, AWS_VGPU_PER_GPU)
        m = _MIG_RESOURCE.fullmatch(resource)
        if m:
            return self._mig_weight(m.group("profile"))
        a = _AMD_PARTITION.fullmatch(resource)
        if a:
            return Fraction(1, gpumodels.amd_partitions_per_gpu(a.group("mode"), self.model))
        return Fraction(0)

    def declared(self, resource: str) -> bool:
        """Whether something says what a unit of `resource` is worth (the rules, a label or the
        pricing file), as opposed to a whole-device default that may hide sharing."""
        if resource in self.overrides:
            return True
        if resource == NVIDIA_GPU:
            return bool(self.single_mig_profile) or self.replicas > 1 or self.sharing in ("time-slicing", "mps", "hami")
        if resource == NVIDIA_SHARED:
            return self.replicas > 1
        if resource == AMD_GPU:
            return bool(self.amd_partition)
        return resource not in WHOLE_DEVICE_RESOURCES

    def _mig_weight(self, profile: str) -> Fraction:
        key = profile.replace("+me", ".me")
        for k in (key, key.removesuffix(".me"), "mig-" + key, "nvidia.com/mig-" + key):
            if k in self.overrides:
                return self.overrides[k]
        total = compute_slices(self.model)
        return Fraction(min(gpumodels.mig_profile_slices(key), total), total)


@dataclass(frozen=True)
class CatalogGpus:
    """What the instance type's catalog entry says: physical GPUs and their model."""

    count: int
    model: str


@dataclass(frozen=True)
class DeviceInventory:
    """Physical GPUs another allocator knows on the node: DRA ResourceSlices, or HAMi's device
    registration (with `split` vGPU slots per GPU)."""

    count: int
    model: str = ""
    vendor: str = ""
    split: int = 1


def node_gpus(
    labels: Mapping[str, str],
    capacity: Mapping[str, int],
    *,
    overrides: Mapping[str, Fraction] | None = None,
    nvml_count: int | None = None,
    nvml_model: str = "",
    catalog: CatalogGpus | None = None,
    hami: DeviceInventory | None = None,
    dra: DeviceInventory | None = None,
) -> NodeGpus:
    """Work out a node's physical GPUs, model and sharing from its labels, its advertised GPU
    capacity (units by resource name, e.g. {"nvidia.com/gpu": 8}), NVML (when gpucost runs on
    the node), the instance type's catalog entry, HAMi's device registration (its
    nvidia.com/gpu capacity counts vGPU slots) and the node's DRA ResourceSlices (GPUs there
    are in addition to those the device plugins advertise)."""
    gpus = _inventory(labels, capacity, overrides, nvml_count, nvml_model, catalog, hami)
    return _with_dra(gpus, capacity, dra) if dra is not None and dra.count else gpus


def _inventory(
    labels: Mapping[str, str], capacity: Mapping[str, int], overrides: Mapping[str, Fraction] | None,
    nvml_count: int | None, nvml_model: str, catalog: CatalogGpus | None, hami: DeviceInventory | None,
) -> NodeGpus:
    declared = read_gpu_labels(labels)
    if hami is not None and hami.count:
        declared = replace(
            declared, count=declared.count or hami.count, count_label=declared.count_label or "hami",
            replicas=max(hami.split, 1), sharing="hami", model=declared.model or gpumodels.canonical(hami.model),
            vendor=declared.vendor or "nvidia",
        )
    advertised = {k: v for k, v in capacity.items() if is_gpu_resource(k) and v > 0}
    model = (gpumodels.canonical(nvml_model) if nvml_model else "") or declared.model or (catalog.model if catalog else "")
    base = NodeGpus(
        model=model,
        vendor=_vendor(declared, advertised, nvml_count, model),
        sharing=_sharing(declared, advertised),
        mig_strategy=_mig_strategy(declared, advertised),
        replicas=declared.replicas,
        single_mig_profile=declared.mig_profile if declared.mig_strategy == "single" else "",
        amd_partition=declared.amd_partition,
        overrides=overrides or {},
    )
    if nvml_count:
        return _infer(replace(base, physical=nvml_count, source="nvml", vendor="nvidia"), advertised)
    if declared.count:
        source = "hami" if declared.count_label == "hami" else "labels"
        return _infer(replace(base, physical=declared.count, source=source), advertised)
    if catalog and catalog.count:
        vendor = base.vendor or _model_vendor(model) or "nvidia"
        return _infer(replace(base, physical=catalog.count, source="instance_type", vendor=vendor), advertised)
    return _from_capacity(base, advertised)


def _model_vendor(model: str) -> str:
    info = gpumodels.lookup(model) if model else None
    return info.vendor if info is not None else ""


def _vendor(declared: GpuLabels, advertised: Mapping[str, int], nvml_count: int | None, model: str) -> str:
    if declared.vendor:
        return declared.vendor
    if nvml_count or any(k.startswith("nvidia.com/") for k in advertised):
        return "nvidia"
    if any(k.startswith("amd.com/") for k in advertised):
        return "amd"
    if any(k.startswith("gpu.intel.com/") for k in advertised):
        return "intel"
    if any(k == AWS_VGPU for k in advertised):
        return "nvidia"
    return _model_vendor(model)


def _mig_strategy(declared: GpuLabels, advertised: Mapping[str, int]) -> str:
    if declared.mig_strategy == "single" and declared.mig_profile:
        return "single"
    if any(k.startswith("nvidia.com/mig-") for k in advertised):
        return "mixed"  # one resource per profile is the mixed strategy, whatever labels say
    return declared.mig_strategy or "none"


def _sharing(declared: GpuLabels, advertised: Mapping[str, int]) -> str:
    if (declared.mig_strategy == "single" and declared.mig_profile) or any(k.startswith("nvidia.com/mig-") for k in advertised):
        return "mig"
    if declared.sharing:
        return declared.sharing
    if declared.replicas > 1:
        return "time-slicing"
    if (declared.amd_partition and declared.amd_partition != "spx") or any(_AMD_PARTITION.fullmatch(k) for k in advertised):
        return "partitioned"
    return "none"


def _infer(gpus: NodeGpus, advertised: Mapping[str, int]) -> NodeGpus:
    """With the physical count known: if the units nothing describes stand for more GPUs than
    remain once the described units are counted, each is worth remaining / units."""
    described = sum((n * gpus.weight(k) for k, n in advertised.items() if gpus.declared(k)), Fraction(0))
    undescribed = {k: n for k, n in advertised.items() if not gpus.declared(k)}
    units = sum(undescribed.values())
    remaining = gpus.physical - described
    if not units or units <= remaining or remaining <= 0:
        return gpus
    ratio = remaining / units
    return replace(gpus, inferred=dict.fromkeys(undescribed, ratio), sharing="inferred")


def _from_capacity(gpus: NodeGpus, advertised: Mapping[str, int]) -> NodeGpus:
    """Nothing states the physical count: read it from what the device plugins advertise.
    Shared units whose ratio nothing states are not GPUs: they cost nothing and the node says
    sharing="unknown"."""
    unknown = {k: Fraction(0) for k in advertised if k == NVIDIA_SHARED and not gpus.declared(k)}
    if unknown:
        gpus = replace(gpus, inferred=unknown, sharing="unknown")
    total = sum((n * gpus.weight(k) for k, n in advertised.items()), Fraction(0))
    physical = -(-total.numerator // total.denominator) if total else 0
    if not physical:
        return gpus
    return replace(gpus, physical=physical, source="capacity")


def _with_dra(gpus: NodeGpus, capacity: Mapping[str, int], dra: DeviceInventory) -> NodeGpus:
    """Add the GPUs a node publishes in DRA ResourceSlices to those its device plugins
    advertise; an authoritative count (NVML, labels, catalog) still bounds nothing below."""
    advertised = sum(
        (n * gpus.weight(k) for k, n in capacity.items() if is_gpu_resource(k) and n > 0), Fraction(0)
    )
    plugin = -(-advertised.numerator // advertised.denominator) if advertised else 0
    physical = plugin + dra.count
    source = gpus.source if plugin or gpus.source in ("nvml", "labels", "instance_type", "hami") else "dra"
    if gpus.source in ("nvml", "labels", "instance_type", "hami"):
        physical = max(physical, gpus.physical)
    return replace(
        gpus, physical=physical, source=source, model=gpus.model or gpumodels.canonical(dra.model),
        vendor=gpus.vendor or dra.vendor,
    )

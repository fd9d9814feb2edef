"""GPUs as Kubernetes shares them: what a unit of each GPU resource is worth in physical GPUs,
and how many physical GPUs of which model a node has.

Weighting rule (shared/reference/gpu-sharing.md, this project's choice):
- a whole device (nvidia.com/gpu without sharing, amd.com/gpu, gpu.intel.com/i915|xe) = 1 GPU;
- a time-sliced or MPS replica (R replicas per GPU) = 1/R;
- a MIG device <g>g.<mem>gb = g / compute slices of the parent GPU (7; 4 on A30), in both the
  mixed strategy (nvidia.com/mig-<profile>) and the single strategy (nvidia.com/gpu on a node
  whose product label ends in -MIG-<profile>);
- an AMD compute partition = 1 / partitions per GPU (SPX 1, DPX 2, TPX 3, QPX 4, CPX 8);
- the pricing file's `gpu_weights` overrides any of these by resource name or MIG profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction

WHOLE_DEVICE_RESOURCES = frozenset(
    {"nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe"}
)
NVIDIA_SHARED = "nvidia.com/gpu.shared"
AWS_VGPU = "k8s.amazonaws.com/vgpu"
#: AWS's vGPU device plugin advertises 10 vGPU units per physical GPU by default.
AWS_VGPU_PER_GPU = 10

_MIG_RESOURCE = re.compile(r"nvidia\.com/mig-(?P<profile>(?:(?P<c>\d+)c\.)?(?P<g>\d+)g\.\d+gb(?:\.me|\+me)?)")
_MIG_PROFILE_SUFFIX = re.compile(r"-MIG-(?P<profile>(?:(?P<c>\d+)c\.)?(?P<g>\d+)g\.\d+gb(?:\+me|\.me)?)$", re.IGNORECASE)
_AMD_PARTITION = re.compile(r"amd\.com/(?P<mode>spx|dpx|tpx|qpx|cpx)_nps\d+")
_AMD_PARTITIONS_PER_GPU = {"spx": 1, "dpx": 2, "tpx": 3, "qpx": 4, "cpx": 8}
#: MIG profiles' maximum instances per GPU (NVIDIA MIG user guide), used to infer the number
#: of physical GPUs behind the single strategy's nvidia.com/gpu.count of MIG devices.
_MIG_MAX_INSTANCES = {1: 7, 2: 3, 3: 2, 4: 1, 7: 1}
_MIG_MAX_INSTANCES_MEM_HEAVY_1G = 4  # 1g profiles with 2 memory slices (1g.10gb on A100 40GB, 1g.20gb on 80GB)

#: Intel data-center GPUs by PCI device id (NFD label gpu.intel.com/device-id.0380-<id>.present).
_INTEL_DEVICE_IDS = {
    "0bd5": "Intel-Data-Center-GPU-Max-1550",
    "0bda": "Intel-Data-Center-GPU-Max-1100",
    "56c0": "Intel-Data-Center-GPU-Flex-170",
    "56c1": "Intel-Data-Center-GPU-Flex-140",
}


def is_gpu_resource(name: str) -> bool:
    """Whether a resource name stands for (a share of) a GPU."""
    return (
        name in WHOLE_DEVICE_RESOURCES
        or name == NVIDIA_SHARED
        or name == AWS_VGPU
        or name.startswith("nvidia.com/mig-")
        or _AMD_PARTITION.fullmatch(name) is not None
    )


def compute_slices(model: str) -> int:
    """Compute slices of a MIG-capable GPU: 4 on A30, 7 on A100/H100/H200/B200."""
    return 4 if "A30" in model.upper() else 7


@dataclass(frozen=True)
class NodeGpus:
    """A node's physical GPUs and how its advertised GPU resources map onto them."""

    physical: int = 0
    model: str = ""  # the model as priced, e.g. NVIDIA-A100-SXM4-80GB ("" when none)
    vendor: str = ""  # nvidia | amd | intel
    sharing: str = "none"  # none | time-slicing | mps | mig | partitioned
    mig_strategy: str = "none"  # none | single | mixed
    source: str = "none"  # nvml | labels | capacity | instance_type | none
    replicas: int = 1
    single_mig_profile: str = ""  # the profile every nvidia.com/gpu stands for (MIG single)
    overrides: Mapping[str, Fraction] = field(default_factory=dict, compare=False, hash=False)

    def weight(self, resource: str) -> Fraction:
        """Physical-GPU equivalents of one unit of `resource` on this node."""
        if resource in self.overrides:
            return self.overrides[resource]
        if resource == "nvidia.com/gpu":
            if self.single_mig_profile:
                return self._mig_weight(self.single_mig_profile)
            return Fraction(1, self.replicas)
        if resource in WHOLE_DEVICE_RESOURCES:
            return Fraction(1)
        if resource == NVIDIA_SHARED:
            return Fraction(1, self.replicas)
        if resource == AWS_VGPU:
            return Fraction(1, AWS_VGPU_PER_GPU)
        m = _MIG_RESOURCE.fullmatch(resource)
        if m:
            return self._mig_weight(m.group("profile"))
        a = _AMD_PARTITION.fullmatch(resource)
        if a:
            return Fraction(1, _AMD_PARTITIONS_PER_GPU[a.group("mode")])
        return Fraction(0)

    def _mig_weight(self, profile: str) -> Fraction:
        key = profile.replace("+me", ".me")
        for k in (key, key.removesuffix(".me"), "mig-" + key):
            if k in self.overrides:
                return self.overrides[k]
        m = re.match(r"(?:(\d+)c\.)?(\d+)g", key)
        assert m is not None
        slices = int(m.group(1) or m.group(2))
        total = compute_slices(self.model)
        return Fraction(min(slices, total), total)


def _int_label(labels: Mapping[str, str], key: str) -> int | None:
    raw = labels.get(key)
    if raw is None:
        return None
    try:
        n = int(raw)
    except ValueError:
        return None
    return n if n >= 0 else None


def _nvidia_model(product: str) -> tuple[str, str]:
    """(model as priced, MIG single profile) from the GFD product label."""
    model = product
    profile = ""
    m = _MIG_PROFILE_SUFFIX.search(model)
    if m:
        profile = m.group("profile")
        model = model[: m.start()]
    if model.upper().endswith("-SHARED"):
        model = model[: -len("-SHARED")]
    return model, profile


def _amd_model(labels: Mapping[str, str]) -> str:
    for key in ("amd.com/gpu.product-name", "beta.amd.com/gpu.product-name", "amd.com/gpu.family"):
        if labels.get(key):
            return labels[key]
    return "AMD-GPU"


def _intel_model(labels: Mapping[str, str]) -> str:
    for key in labels:
        m = re.fullmatch(r"gpu\.intel\.com/device-id\.\d{4}-([0-9a-f]{4})\.present", key)
        if m and m.group(1) in _INTEL_DEVICE_IDS:
            return _INTEL_DEVICE_IDS[m.group(1)]
    return "Intel-GPU"


def node_gpus(
    labels: Mapping[str, str],
    capacity: Mapping[str, int],
    *,
    overrides: Mapping[str, Fraction] | None = None,
    nvml_count: int | None = None,
    nvml_model: str = "",
    catalog_gpus: int | None = None,
) -> NodeGpus:
    """Work out a node's physical GPUs and model. Sources, first that answers wins:
    NVML (when gpucost runs on the node), GPU Feature Discovery / vendor labels, device-plugin
    capacity (in units, e.g. {"nvidia.com/gpu": 8}), then the instance type's catalog entry."""
    overrides = overrides or {}
    product = labels.get("nvidia.com/gpu.product", "")
    model, single_profile = _nvidia_model(product)
    mig_strategy = labels.get("nvidia.com/mig.strategy", "none") or "none"
    if single_profile and mig_strategy == "none":
        mig_strategy = "single"
    if mig_strategy != "single":
        single_profile = ""
    replicas = _int_label(labels, "nvidia.com/gpu.replicas") or 1
    strategy = labels.get("nvidia.com/gpu.sharing-strategy", "")
    if mig_strategy in ("single", "mixed") and (single_profile or _has_mig(capacity)):
        sharing = "mig"
    elif replicas > 1 or strategy in ("time-slicing", "mps"):
        sharing = strategy if strategy in ("time-slicing", "mps") else "time-slicing"
    else:
        sharing = "none"

    vendor = ""
    if product or any(k.startswith("nvidia.com/") for k in capacity) or nvml_count:
        vendor = "nvidia"
    elif any(k.startswith("amd.com/") for k in capacity) or any(k.startswith("amd.com/gpu") for k in labels):
        vendor, model = "amd", _amd_model(labels)
    elif any(k.startswith("gpu.intel.com/") for k in capacity):
        vendor, model = "intel", _intel_model(labels)
    if sharing == "none" and vendor == "amd" and any(_AMD_PARTITION.fullmatch(k) for k in capacity):
        sharing = "partitioned"

    base = NodeGpus(
        model=model, vendor=vendor, sharing=sharing, mig_strategy=mig_strategy,
        replicas=replicas, single_mig_profile=single_profile, overrides=overrides,
    )

    if nvml_count:
        return replace(base, physical=nvml_count, source="nvml", model=nvml_model or model, vendor="nvidia")
    labelled = _labelled_count(labels, single_profile, model)
    if labelled:
        return replace(base, physical=labelled, source="labels", vendor=vendor or "nvidia")
    advertised = _capacity_count(base, capacity)
    if advertised:
        return replace(base, physical=advertised, source="capacity")
    if catalog_gpus:  # the built-in catalog's GPU instances are all NVIDIA
        return replace(base, physical=catalog_gpus, source="instance_type", vendor=vendor or "nvidia")
    return base


def _has_mig(capacity: Mapping[str, int]) -> bool:
    return any(k.startswith("nvidia.com/mig-") for k in capacity)


def _labelled_count(labels: Mapping[str, str], single_profile: str, model: str) -> int:
    count = _int_label(labels, "nvidia.com/gpu.count")
    if count is not None and single_profile:
        # MIG single: the label counts MIG devices; each GPU holds the profile's maximum.
        g = int(re.match(r"(?:\d+c\.)?(\d+)g", single_profile).group(1))  # type: ignore[union-attr]
        per_gpu = _MIG_MAX_INSTANCES.get(g, 1)
        mem = re.search(r"\.(\d+)gb", single_profile)
        if g == 1 and mem and _is_double_memory_1g(model, int(mem.group(1))):
            per_gpu = _MIG_MAX_INSTANCES_MEM_HEAVY_1G
        if compute_slices(model) == 4:  # A30: 1g x4, 2g x2, 4g x1
            per_gpu = 4 // g if g in (1, 2, 4) else 1
        return -(-count // per_gpu)
    if count:
        return count
    amd = _int_label(labels, "amd.com/gpu.count") or _int_label(labels, "beta.amd.com/gpu.count")
    return amd or 0


def _is_double_memory_1g(model: str, mem_gb: int) -> bool:
    """1g profiles with two memory slices: 1g.10gb on 40 GB parts, 1g.20gb on 80 GB parts,
    1g.35gb on H200 141GB."""
    upper = model.upper()
    m = re.search(r"(\d+)GB", upper)
    total = int(m.group(1)) if m else (141 if "H200" in upper else 80)
    return mem_gb * 8 > total * 1.5


def _capacity_count(gpus: NodeGpus, capacity: Mapping[str, int]) -> int:
    """Physical GPUs implied by what the device plugins advertise (rounded up)."""
    total = Fraction(0)
    for name, units in capacity.items():
        if is_gpu_resource(name) and units > 0:
            total += units * gpus.weight(name)
    return -(-total.numerator // total.denominator) if total else 0

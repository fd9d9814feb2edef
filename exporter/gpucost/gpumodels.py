"""GPU models: one canonical name per GPU, every alias platforms and drivers use for it, and the
hardware facts costing needs (MIG compute slices and instances per profile, AMD compute dies).

Canonical names follow GPU Feature Discovery's modern spelling with the vendor first
(`NVIDIA-A100-SXM4-80GB`, `AMD-Instinct-MI300X`, `Intel-Data-Center-GPU-Max-1550`). Aliases
come from (sources in docs/gpu-platforms.md):
- GPU Feature Discovery `nvidia.com/gpu.product`, old and new (`A100-SXM4-40GB`, `Tesla-T4`,
  `NVIDIA-A100-SXM4-40GB`), with `-SHARED` and `-MIG-<profile>` suffixes;
- NVML names (`NVIDIA A100-SXM4-40GB`, `Tesla T4`, `NVIDIA H100 80GB HBM3`);
- GKE `cloud.google.com/gke-accelerator` (`nvidia-tesla-t4`, `nvidia-h100-mega-80gb`, ...);
- Karpenter / EKS Auto Mode `instance-gpu-name` + `instance-gpu-memory` (`a100` + 40960 MiB);
- AMD node labeller `amd.com/gpu.product-name` (`AMD_Instinct_MI300X_OAM`);
- Intel NFD rules `gpu.intel.com/product` (`Max_1550`) and PCI device ids.
A name no table knows is kept as given (suffixes removed) and priced by `default.gpu_hour`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class GpuModel:
    """Facts of one GPU model. `mig_profiles` maps a MIG profile (e.g. "1g.10gb") to the most
    instances of it one GPU holds; `mig_slices` is the GPU's compute slices (0 = no MIG)."""

    name: str
    vendor: str
    memory_gib: int
    aliases: tuple[str, ...] = ()
    mig_slices: int = 0
    mig_profiles: Mapping[str, int] = field(default_factory=dict)
    xcds: int = 0  # AMD accelerator complex dies: partitions per GPU in CPX mode


# MIG profiles and instances per GPU: NVIDIA MIG user guide, "Supported MIG profiles" tables.
_A100_40 = {"1g.5gb": 7, "1g.5gb.me": 1, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1}
_80GB = {"1g.10gb": 7, "1g.10gb.me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1}
_H200 = {"1g.18gb": 7, "1g.18gb.me": 1, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1, "7g.141gb": 1}
_B200 = {"1g.23gb": 7, "1g.23gb.me": 1, "1g.45gb": 4, "2g.45gb": 3, "3g.90gb": 2, "4g.90gb": 1, "7g.180gb": 1}
_A30 = {"1g.6gb": 4, "1g.6gb.me": 1, "2g.12gb": 2, "2g.12gb.me": 1, "4g.24gb": 1}
# RTX PRO 6000 Blackwell Server Edition: 4 compute slices (GKE gpuPartitionSize examples 1g.24gb,
# 2g.48gb, 4g.96gb).
_RTX_PRO_6000 = {"1g.24gb": 4, "2g.48gb": 2, "4g.96gb": 1}

MODELS: tuple[GpuModel, ...] = (
    # NVIDIA. GKE names: cloud.google.com/kubernetes-engine/docs/how-to/gpus (gke-accelerator).
    GpuModel("NVIDIA-B200", "nvidia", 180, ("nvidia-b200",), 7, _B200),
    # GFD labels a B300 node nvidia.com/gpu.product NVIDIA-B300-SXM6-AC (gpu.memory 275040 MiB);
    # up to 7 MIG instances (HGX B300); its MIG profile table is not in the guide used here.
    GpuModel("NVIDIA-B300", "nvidia", 288, ("NVIDIA-B300-SXM6-AC", "NVIDIA B300 SXM6 AC"), 7),
    GpuModel("NVIDIA-GB200", "nvidia", 186, ("nvidia-gb200",)),
    GpuModel("NVIDIA-H200", "nvidia", 141, ("nvidia-h200-141gb",), 7, _H200),
    GpuModel("NVIDIA-H200-NVL", "nvidia", 141, (), 7, _H200),
    GpuModel("NVIDIA-H100-80GB-HBM3", "nvidia", 80, ("nvidia-h100-80gb", "nvidia-h100-mega-80gb", "NVIDIA-H100-SXM5-80GB"), 7, _80GB),
    GpuModel("NVIDIA-H100-PCIe", "nvidia", 80, (), 7, _80GB),
    GpuModel("NVIDIA-H100-NVL", "nvidia", 94, (), 7, {}),
    GpuModel("NVIDIA-A100-SXM4-40GB", "nvidia", 40, ("nvidia-tesla-a100",), 7, _A100_40),
    GpuModel("NVIDIA-A100-SXM4-80GB", "nvidia", 80, ("nvidia-a100-80gb",), 7, _80GB),
    GpuModel("NVIDIA-A100-PCIE-40GB", "nvidia", 40, (), 7, _A100_40),
    GpuModel("NVIDIA-A100-80GB-PCIe", "nvidia", 80, (), 7, _80GB),
    GpuModel("NVIDIA-A30", "nvidia", 24, (), 4, _A30),
    GpuModel("NVIDIA-A10G", "nvidia", 24),
    GpuModel("NVIDIA-A10", "nvidia", 24),
    GpuModel("NVIDIA-L4", "nvidia", 24, ("nvidia-l4",)),
    GpuModel("NVIDIA-L40S", "nvidia", 48),
    GpuModel("NVIDIA-L40", "nvidia", 48),
    GpuModel("NVIDIA-RTX-PRO-6000", "nvidia", 96,
             ("nvidia-rtx-pro-6000", "NVIDIA RTX PRO 6000 Blackwell Server Edition"), 4, _RTX_PRO_6000),
    GpuModel("NVIDIA-T4", "nvidia", 16, ("nvidia-tesla-t4",)),
    GpuModel("NVIDIA-T4G", "nvidia", 16),
    GpuModel("NVIDIA-V100-SXM2-16GB", "nvidia", 16, ("nvidia-tesla-v100",)),
    GpuModel("NVIDIA-V100-SXM2-32GB", "nvidia", 32),
    GpuModel("NVIDIA-V100-PCIE-16GB", "nvidia", 16),
    GpuModel("NVIDIA-V100-PCIE-32GB", "nvidia", 32),
    GpuModel("NVIDIA-P100-PCIE-16GB", "nvidia", 16, ("nvidia-tesla-p100",)),
    GpuModel("NVIDIA-P4", "nvidia", 8, ("nvidia-tesla-p4",)),
    GpuModel("NVIDIA-K80", "nvidia", 12, ("nvidia-tesla-k80",)),
    GpuModel("NVIDIA-M60", "nvidia", 8),
    # AMD. XCDs: AMD SMI "GPU partitioning" guide (MI300X 8, MI300A 6); MI325X and MI350 series
    # keep MI300X's 8 XCDs (AMD Instinct data sheets).
    GpuModel("AMD-Instinct-MI300X", "amd", 192, ("AMD_Instinct_MI300X_OAM", "AMD Instinct MI300X OAM"), xcds=8),
    GpuModel("AMD-Instinct-MI300A", "amd", 128, (), xcds=6),
    GpuModel("AMD-Instinct-MI325X", "amd", 256, ("AMD_Instinct_MI325X_OAM",), xcds=8),
    GpuModel("AMD-Instinct-MI350X", "amd", 288, (), xcds=8),
    GpuModel("AMD-Instinct-MI355X", "amd", 288, (), xcds=8),
    GpuModel("AMD-Instinct-MI250X", "amd", 128),
    GpuModel("AMD-Instinct-MI210", "amd", 64),
    GpuModel("AMD-Radeon-Pro-V520", "amd", 8),
    # Intel: NFD rules' gpu.intel.com/product values (intel-device-plugins-for-kubernetes, labels.md).
    GpuModel("Intel-Data-Center-GPU-Max-1550", "intel", 128, ("Max_1550",)),
    GpuModel("Intel-Data-Center-GPU-Max-1100", "intel", 48, ("Max_1100",)),
    GpuModel("Intel-Data-Center-GPU-Flex-170", "intel", 16, ("Flex_170",)),
    GpuModel("Intel-Data-Center-GPU-Flex-140", "intel", 12, ("Flex_140",)),
)

#: Intel data-center GPUs by PCI device id (NFD label gpu.intel.com/device-id.0380-<id>.present).
INTEL_DEVICE_IDS = {
    "0bd5": "Intel-Data-Center-GPU-Max-1550",
    "0bda": "Intel-Data-Center-GPU-Max-1100",
    "56c0": "Intel-Data-Center-GPU-Flex-170",
    "56c1": "Intel-Data-Center-GPU-Flex-140",
}

# Karpenter / EKS Auto Mode label values: the EC2 GpuInfo name, lower-cased (karpenter.sh docs,
# "Well-Known Labels": instance-gpu-name t4, instance-gpu-memory 16384). Where one name covers
# parts of different memory, the memory (MiB per GPU) decides.
_KARPENTER_NAMES: dict[str, tuple[tuple[int, str], ...]] = {
    "a100": ((40960, "NVIDIA-A100-SXM4-40GB"), (81920, "NVIDIA-A100-SXM4-80GB")),
    "v100": ((16384, "NVIDIA-V100-SXM2-16GB"), (32768, "NVIDIA-V100-SXM2-32GB")),
    "h100": ((0, "NVIDIA-H100-80GB-HBM3"),),
    "h200": ((0, "NVIDIA-H200"),),
    "b200": ((0, "NVIDIA-B200"),),
    "b300": ((0, "NVIDIA-B300"),),
    "a10g": ((0, "NVIDIA-A10G"),),
    "l4": ((0, "NVIDIA-L4"),),
    "l40s": ((0, "NVIDIA-L40S"),),
    "t4": ((0, "NVIDIA-T4"),),
    "t4g": ((0, "NVIDIA-T4G"),),
    "k80": ((0, "NVIDIA-K80"),),
    "m60": ((0, "NVIDIA-M60"),),
    "radeon-pro-v520": ((0, "AMD-Radeon-Pro-V520"),),
}

_AMBIGUOUS = frozenset(name for name, choices in _KARPENTER_NAMES.items() if len(choices) > 1)
_VENDOR_PREFIXES = ("nvidia-", "tesla-", "amd-", "instinct-", "intel-", "data-center-gpu-")
_SUFFIXES = re.compile(r"(?:-mig-(?:\d+c\.)?\d+g\.\d+gb(?:[.+]me)?|-shared|-rev-[0-9a-f]+|-oam)+$")


def normalize(name: str) -> str:
    """Lower case, spaces and underscores as dashes: the form every lookup uses."""
    return re.sub(r"[\s_]+", "-", name.strip()).lower()


def _core(key: str) -> str:
    key = _SUFFIXES.sub("", key)
    changed = True
    while changed:
        changed = False
        for prefix in _VENDOR_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


_EXACT: dict[str, GpuModel] = {}
_CORE: dict[str, GpuModel] = {}
for _m in MODELS:
    for _alias in (_m.name, *_m.aliases):
        _EXACT[normalize(_alias)] = _m
        _CORE.setdefault(_core(normalize(_alias)), _m)
_BY_NAME = {m.name: m for m in MODELS}


#: Names looked up are remembered: every node and DRA device of a sync asks about the same few
#: (bounded, since names come from arbitrary objects).
_REMEMBERED = 4096


@lru_cache(maxsize=_REMEMBERED)
def lookup(name: str) -> GpuModel | None:
    """The model a product name stands for, by any alias; None when no table knows it."""
    key = normalize(name)
    if not key:
        return None
    hit = _EXACT.get(key) or _EXACT.get(_SUFFIXES.sub("", key))
    if hit is not None:
        return hit
    core = _core(key)
    # A bare family name ("a100", "v100") is ambiguous between memory sizes: not a match.
    return _CORE.get(core) if core not in _AMBIGUOUS else None


@lru_cache(maxsize=_REMEMBERED)
def canonical(name: str) -> str:
    """The canonical model name for `name`; unknown names come back without GFD's -SHARED and
    -MIG-<profile> suffixes."""
    model = lookup(name)
    if model is not None:
        return model.name
    m = re.search(r"(?:-MIG-(?:\d+c\.)?\d+g\.\d+gb(?:[.+]me)?|-SHARED)+$", name.strip(), re.IGNORECASE)
    return name.strip()[: m.start()] if m else name.strip()


@lru_cache(maxsize=_REMEMBERED)
def price_key(name: str) -> str:
    """The key a model's price is stored under: the normalised canonical name."""
    return normalize(canonical(name))


def by_name(canonical_name: str) -> GpuModel | None:
    return _BY_NAME.get(canonical_name)


def karpenter_model(gpu_name: str, memory_mib: int | None) -> str:
    """Canonical model from Karpenter's instance-gpu-name and instance-gpu-memory labels."""
    key = normalize(gpu_name)
    choices = _KARPENTER_NAMES.get(key)
    if not choices:
        return canonical(gpu_name) if gpu_name else ""
    if len(choices) == 1 or memory_mib is None:
        return choices[0][1] if len(choices) == 1 else ""
    return min(choices, key=lambda c: abs(c[0] - memory_mib))[1]


def intel_model_from_device_id(device_id: str) -> str:
    return INTEL_DEVICE_IDS.get(device_id.lower(), "")


# ------------------------------------------------------------------ MIG

_PROFILE = re.compile(r"(?:(?P<c>\d+)c\.)?(?P<g>\d+)g\.(?P<mem>\d+)gb(?P<me>[.+]me)?$")


def mig_compute_slices(model: str) -> int:
    """Compute slices of a MIG-capable GPU: 7 on A100/H100/H200/B200, 4 on A30 and RTX PRO 6000."""
    info = lookup(model) if model else None
    if info is not None and info.mig_slices:
        return info.mig_slices
    return 4 if "A30" in model.upper() else 7


def mig_profile_slices(profile: str) -> int:
    """Compute slices one instance of `profile` takes (its `<g>g`; `<c>c.` for compute instances)."""
    m = _PROFILE.match(profile.replace("+me", ".me"))
    if m is None:
        raise ValueError(f"not a MIG profile: {profile!r}")
    return int(m.group("c") or m.group("g"))


def mig_instances_per_gpu(model: str, profile: str) -> int:
    """Most instances of `profile` one GPU of `model` holds (NVIDIA MIG user guide). For a
    profile no table lists, the compute slices decide (7 slices: 1g x7, 2g x3, 3g x2, 4g+ x1)."""
    key = profile.replace("+me", ".me")
    info = lookup(model) if model else None
    if info is not None and key in info.mig_profiles:
        return info.mig_profiles[key]
    m = _PROFILE.match(key)
    if m is None:
        return 1
    g = int(m.group("g"))
    total = mig_compute_slices(model)
    if m.group("me"):
        return 1
    if info is not None and g == 1 and int(m.group("mem")) * 8 > info.memory_gib * 1.5:
        return 4 if total == 7 else 2  # a 1g profile with two memory slices
    per_gpu = {1: 7, 2: 3, 3: 2} if total == 7 else {1: 4, 2: 2}
    return per_gpu.get(g, 1)


# ------------------------------------------------------------------ AMD partitions

_AMD_MODES = {"spx": 1, "dpx": 2, "tpx": 3, "qpx": 4}


def amd_partitions_per_gpu(mode: str, model: str) -> int:
    """Logical GPUs one physical AMD GPU shows in a compute-partition mode: SPX 1, DPX 2, TPX 3,
    QPX 4, CPX one per XCD (8 on MI300X, 6 on MI300A; 8 when the model is unknown)."""
    mode = mode.lower()
    if mode in _AMD_MODES:
        return _AMD_MODES[mode]
    if mode == "cpx":
        info = lookup(model) if model else None
        return info.xcds if info is not None and info.xcds else 8
    raise ValueError(f"not an AMD compute partition mode: {mode!r}")

"""What a node's labels declare about its GPUs, as each platform and GPU stack writes them.

Readers, most specific first (each source cited in docs/gpu-platforms.md):
- NVIDIA GPU Feature Discovery (GPU Operator, OpenShift, self-managed): `nvidia.com/gpu.*`,
  `nvidia.com/mig.strategy`.
- GKE: `cloud.google.com/gke-accelerator`, `-accelerator-count`, `-gpu-sharing-strategy`,
  `-max-shared-clients-per-gpu`, `-gpu-partition-size`.
- Karpenter (`karpenter.k8s.aws/`) and EKS Auto Mode (`eks.amazonaws.com/`):
  `instance-gpu-count`, `-gpu-name`, `-gpu-manufacturer`, `-gpu-memory` (MiB per GPU).
- AKS: `kubernetes.azure.com/accelerator` (vendor only).
- AMD node labeller / AMD GPU Operator: `amd.com/gpu.product-name`, `amd.com/gpu.family`,
  `amd.com/compute-memory-partition` (e.g. `cpx_nps4`); `beta.amd.com/` equivalents.
- Intel NFD rules: `gpu.intel.com/product`, `gpu.intel.com/device.count`, PCI device-id labels.
Nothing here reads capacity or prices: this is the labels' testimony only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import gpumodels

_MIG_SUFFIX = re.compile(r"-MIG-(?P<profile>(?:\d+c\.)?\d+g\.\d+gb(?:\+me|\.me)?)$", re.IGNORECASE)
_AMD_PARTITION_LABEL = re.compile(r"(?P<mode>spx|dpx|tpx|qpx|cpx)_nps\d+", re.IGNORECASE)
_INTEL_DEVICE_ID = re.compile(r"gpu\.intel\.com/device-id\.\d{4}-([0-9a-f]{4})\.present")
_GKE_SHARING = {"time-sharing": "time-slicing", "mps": "mps"}
_GFD_SHARING = {"time-slicing": "time-slicing", "mps": "mps"}

#: Every label the readers below look up by name...
GPU_LABEL_KEYS = frozenset({
    "nvidia.com/gpu.product", "nvidia.com/mig.strategy", "nvidia.com/gpu.count", "nvidia.com/gpu.replicas",
    "nvidia.com/gpu.sharing-strategy",
    "cloud.google.com/gke-accelerator", "cloud.google.com/gke-accelerator-count",
    "cloud.google.com/gke-gpu-sharing-strategy", "cloud.google.com/gke-max-shared-clients-per-gpu",
    "cloud.google.com/gke-gpu-partition-size",
    *(prefix + suffix for prefix in ("karpenter.k8s.aws/", "eks.amazonaws.com/")
      for suffix in ("instance-gpu-count", "instance-gpu-name", "instance-gpu-memory", "instance-gpu-manufacturer")),
    "amd.com/gpu.product-name", "beta.amd.com/gpu.product-name", "amd.com/gpu.family", "beta.amd.com/gpu.family",
    "amd.com/gpu.count", "amd.com/compute-memory-partition",
    "gpu.intel.com/product", "gpu.intel.com/device.count",
    "kubernetes.azure.com/accelerator",
})
#: ...and the prefixes under which any label counts (AMD's and Intel's readers scan for them).
GPU_LABEL_PREFIXES = ("amd.com/gpu", "beta.amd.com/gpu", "gpu.intel.com/")


@dataclass(frozen=True)
class GpuLabels:
    """A node's GPUs as its labels describe them; empty fields mean "the labels do not say"."""

    vendor: str = ""  # nvidia | amd | intel
    model: str = ""  # canonical model name (gpumodels)
    count: int | None = None  # physical GPUs, as a label states them
    count_label: str = ""  # the label the count came from
    sharing: str = ""  # time-slicing | mps
    replicas: int = 1  # units per GPU (or per MIG device) under time-slicing / MPS
    mig_strategy: str = ""  # single | mixed
    mig_profile: str = ""  # the MIG profile every nvidia.com/gpu unit stands for
    amd_partition: str = ""  # AMD compute partition mode of every GPU: spx dpx tpx qpx cpx


def _int(labels: Mapping[str, str], key: str) -> int | None:
    raw = labels.get(key)
    if raw is None:
        return None
    try:
        n = int(raw.strip())
    except ValueError:
        return None
    return n if n >= 0 else None


def _first(labels: Mapping[str, str], *keys: str) -> tuple[str, str]:
    for key in keys:
        value = labels.get(key)
        if value:
            return key, value
    return "", ""


def gpu_label_items(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The labels `read_gpu_labels` reads, sorted: nodes with the same items read the same.
    (Labels no reader reads, such as a hostname or GFD's timestamp, are left out.)"""
    return tuple(sorted(
        item for item in labels.items() if item[0] in GPU_LABEL_KEYS or item[0].startswith(GPU_LABEL_PREFIXES)
    ))


def read_gpu_labels(labels: Mapping[str, str]) -> GpuLabels:
    """Merge every platform's GPU labels; a more specific source wins field by field."""
    fields: dict[str, object] = {}
    for reader in (_gfd, _gke, _karpenter, _amd, _intel, _aks):
        for key, value in reader(labels).items():
            if value not in ("", None) and key not in fields:
                fields[key] = value
    return GpuLabels(**fields)  # type: ignore[arg-type]


def _gfd(labels: Mapping[str, str]) -> dict[str, object]:
    """NVIDIA GPU Feature Discovery. Under the MIG single strategy the product ends in
    -MIG-<profile> and nvidia.com/gpu.count counts MIG devices, not GPUs."""
    product = labels.get("nvidia.com/gpu.product", "").strip()
    out: dict[str, object] = {}
    strategy = labels.get("nvidia.com/mig.strategy", "").strip().lower()
    if product:
        out["vendor"] = "nvidia"
        m = _MIG_SUFFIX.search(product)
        if m:
            out["mig_profile"] = m.group("profile").replace("+me", ".me")
            strategy = strategy if strategy in ("single", "mixed") else "single"
        out["model"] = gpumodels.canonical(product)
    if strategy in ("single", "mixed"):
        out["mig_strategy"] = strategy
    if strategy != "single":
        out.pop("mig_profile", None)
    count = _int(labels, "nvidia.com/gpu.count")
    if count is not None and product:
        if out.get("mig_profile"):
            per_gpu = gpumodels.mig_instances_per_gpu(str(out.get("model", "")), str(out["mig_profile"]))
            count = -(-count // per_gpu)
        out["count"], out["count_label"] = count, "nvidia.com/gpu.count"
    replicas = _int(labels, "nvidia.com/gpu.replicas")
    if replicas and replicas > 1:
        out["replicas"] = replicas
    sharing = _GFD_SHARING.get(labels.get("nvidia.com/gpu.sharing-strategy", "").strip().lower(), "")
    if sharing:
        out["sharing"] = sharing
    elif replicas and replicas > 1 or product.upper().endswith("-SHARED"):
        out["sharing"] = "time-slicing"
    return out


def _gke(labels: Mapping[str, str]) -> dict[str, object]:
    """GKE's own GPU labels: each physical GPU shows as max-shared-clients units under
    time-sharing or MPS, and as its MIG partitions (one profile per node pool) under
    gke-gpu-partition-size; both can combine."""
    accelerator = labels.get("cloud.google.com/gke-accelerator", "").strip()
    out: dict[str, object] = {}
    if accelerator:
        out["vendor"] = "nvidia" if accelerator.lower().startswith("nvidia") else ""
        out["model"] = gpumodels.canonical(accelerator)
    count = _int(labels, "cloud.google.com/gke-accelerator-count")
    if count is not None:
        out["count"], out["count_label"] = count, "cloud.google.com/gke-accelerator-count"
    sharing = _GKE_SHARING.get(labels.get("cloud.google.com/gke-gpu-sharing-strategy", "").strip().lower(), "")
    clients = _int(labels, "cloud.google.com/gke-max-shared-clients-per-gpu")
    if sharing:
        out["sharing"] = sharing
    if clients and clients > 1 and (sharing or "cloud.google.com/gke-gpu-sharing-strategy" not in labels):
        out["replicas"] = clients
        out.setdefault("sharing", "time-slicing")
    partition = labels.get("cloud.google.com/gke-gpu-partition-size", "").strip()
    if partition:
        out["mig_profile"] = partition.replace("+me", ".me")
        out["mig_strategy"] = "single"
    return out


def _karpenter(labels: Mapping[str, str]) -> dict[str, object]:
    """Karpenter's (and EKS Auto Mode's) instance labels: what the instance type has, whatever
    the device plugin advertises."""
    out: dict[str, object] = {}
    for prefix in ("karpenter.k8s.aws/", "eks.amazonaws.com/"):
        count = _int(labels, prefix + "instance-gpu-count")
        name = labels.get(prefix + "instance-gpu-name", "").strip()
        if count is None and not name:
            continue
        if count is not None:
            out["count"], out["count_label"] = count, prefix + "instance-gpu-count"
        if name:
            out["model"] = gpumodels.karpenter_model(name, _int(labels, prefix + "instance-gpu-memory"))
        manufacturer = labels.get(prefix + "instance-gpu-manufacturer", "").strip().lower()
        out["vendor"] = manufacturer if manufacturer in ("nvidia", "amd", "intel") else ""
        break
    return out


def _amd(labels: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    _, product = _first(labels, "amd.com/gpu.product-name", "beta.amd.com/gpu.product-name")
    _, family = _first(labels, "amd.com/gpu.family", "beta.amd.com/gpu.family")
    if product or family or any(k.startswith(("amd.com/gpu", "beta.amd.com/gpu")) for k in labels):
        out["vendor"] = "amd"
        out["model"] = gpumodels.canonical(product) if product else ""
    count = _int(labels, "amd.com/gpu.count")
    if count is not None:
        out["count"], out["count_label"] = count, "amd.com/gpu.count"
    m = _AMD_PARTITION_LABEL.fullmatch(labels.get("amd.com/compute-memory-partition", "").strip())
    if m:
        out["amd_partition"] = m.group("mode").lower()
    return out


def _intel(labels: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    product = labels.get("gpu.intel.com/product", "").strip()
    model = gpumodels.canonical(product) if product else ""
    if not model:
        for key in labels:
            m = _INTEL_DEVICE_ID.fullmatch(key)
            if m and gpumodels.intel_model_from_device_id(m.group(1)):
                model = gpumodels.intel_model_from_device_id(m.group(1))
                break
    if model or any(k.startswith("gpu.intel.com/") for k in labels):
        out["vendor"] = "intel"
        out["model"] = model
    count = _int(labels, "gpu.intel.com/device.count")
    if count is not None:
        out["count"], out["count_label"] = count, "gpu.intel.com/device.count"
    return out


def _aks(labels: Mapping[str, str]) -> dict[str, object]:
    """AKS says only the vendor; model and count come from the VM size (catalog)."""
    accelerator = labels.get("kubernetes.azure.com/accelerator", "").strip().lower()
    return {"vendor": accelerator} if accelerator in ("nvidia", "amd") else {}

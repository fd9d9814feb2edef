"""GPUs a pod gets other than as device-plugin units: DRA claims, HAMi vGPUs, KAI Scheduler
fractions. `read_pod_sources` reads what a pod says; `resolve` turns it, given the pod's node
and the other pods it shares with, into physical-GPU equivalents by `resource` label.

HAMi (Project-HAMi/HAMi docs: develop/protocol.md, config.md):
- the device plugin registers a node's GPUs in `hami.io/node-nvidia-register`:
  `{uuid},{split count},{memory MiB},{core limit},{type},{numa},{healthy}[,{index},{mode}]`
  joined by `:` (a JSON list of {id, count, devmem, devcore, type} in newer releases); the
  node's nvidia.com/gpu capacity counts vGPU slots (GPUs x split count);
- the scheduler writes each container's devices into `hami.io/vgpu-devices-to-allocate`
  (`{uuid},{type},{memory MiB},{cores %}:` per device, `;` per container), and the device
  plugin moves them to `hami.io/vgpu-devices-allocated`;
- requests: nvidia.com/gpu (vGPUs), nvidia.com/gpucores (percent of a GPU), nvidia.com/gpumem
  (MiB) or nvidia.com/gpumem-percentage, each per vGPU; unset memory defaults to the whole
  device (nvidia.defaultMemory 0 = 100%), unset cores to 0 (no core reservation).
A vGPU is worth its dominant share of its GPU: max(cores / 100, memory / device memory), at
most 1.

KAI Scheduler (NVIDIA/KAI-Scheduler docs/gpu-sharing): a pod asks for a fraction with the
annotation `gpu-fraction` ("0.5"; with `gpu-fraction-num-devices` for several GPUs) or for
memory with `gpu-memory` (MiB), requests no nvidia.com/gpu, and is labelled
`runai-gpu-group` with the GPU group it was placed on; a reservation pod in
`kai-resource-reservation` (`runai-reservation` before v0.6) with the same label holds the
whole GPU. The fractional pods pay their fractions; the reservation pod pays what is left.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from .objects import Pod
from .quantity import QuantityError, parse_quantity, value

HAMI_REGISTER = "hami.io/node-nvidia-register"
HAMI_ALLOCATED = ("hami.io/vgpu-devices-allocated", "hami.io/vgpu-devices-to-allocate")
HAMI_RESOURCES = ("nvidia.com/gpucores", "nvidia.com/gpumem", "nvidia.com/gpumem-percentage")
KAI_RESERVATION_NAMESPACES = frozenset({"kai-resource-reservation", "runai-reservation"})
KAI_GROUP_LABEL = "runai-gpu-group"
NVIDIA_GPU = "nvidia.com/gpu"
#: The `resource` label KAI fractions are reported under.
KAI_RESOURCE = "gpu-fraction"


@dataclass(frozen=True)
class DraSource:
    claims: tuple[str, ...]  # namespace/name of each claim the pod uses


@dataclass(frozen=True)
class HamiSource:
    """A pod's HAMi requests: allocated devices (uuid, memory MiB, cores %) when the scheduler
    wrote them, else per container (vGPUs, cores %, memory MiB, memory %), 0 = unset."""

    devices: tuple[tuple[str, int, int], ...] = ()
    containers: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True)
class KaiFraction:
    group: str
    fraction: Fraction | None = None
    memory_mib: int = 0
    devices: int = 1


@dataclass(frozen=True)
class KaiReservation:
    group: str


@dataclass(frozen=True)
class HamiDevice:
    uuid: str
    split: int
    memory_mib: int
    type: str


@dataclass(frozen=True)
class NodeAllocators:
    """What a node says about allocators: HAMi's registered devices (empty: not a HAMi node)
    and the GPU memory used to turn KAI's gpu-memory requests into fractions."""

    hami: Mapping[str, HamiDevice] = field(default_factory=dict)
    gpu_memory_mib: int = 0


# --- reading -----------------------------------------------------------------------------------


def hami_devices(annotations: Mapping[str, str] | None) -> dict[str, HamiDevice]:
    """HAMi's device registration on a node, by UUID ({} when absent or unreadable)."""
    raw = (annotations or {}).get(HAMI_REGISTER, "").strip()
    out: dict[str, HamiDevice] = {}
    if raw.startswith("["):
        try:
            entries = json.loads(raw)
        except ValueError:
            return {}
        for e in entries if isinstance(entries, list) else ():
            if isinstance(e, dict) and e.get("id"):
                out[str(e["id"])] = HamiDevice(str(e["id"]), _int(e.get("count"), 1), _int(e.get("devmem"), 0), str(e.get("type", "")))
        return out
    for part in filter(None, raw.split(":")):
        fields = part.split(",")
        if len(fields) >= 5 and fields[0]:
            out[fields[0]] = HamiDevice(fields[0], _int(fields[1], 1), _int(fields[2], 0), fields[4])
    return out


def _int(raw: object, default: int) -> int:
    try:
        n = int(str(raw).strip())
    except ValueError:
        return default
    return n if n >= 0 else default


def _hami_allocated(annotations: Mapping[str, str]) -> tuple[tuple[str, int, int], ...]:
    for key in HAMI_ALLOCATED:
        raw = annotations.get(key, "")
        if raw:
            devices = []
            for container in raw.split(";"):
                for device in filter(None, container.split(":")):
                    fields = device.split(",")
                    if len(fields) >= 4 and fields[0]:
                        devices.append((fields[0], _int(fields[2], 0), _int(fields[3], 0)))
            return tuple(devices)
    return ()


def _quantity(resources: Mapping[str, object] | None, name: str) -> int:
    raw = (resources or {}).get(name)
    if raw is None:
        return 0
    try:
        return value(parse_quantity(raw))  # type: ignore[arg-type]
    except (QuantityError, TypeError):
        return 0


def read_pod_sources(pod: Pod, namespace: str, gpu_units: Mapping[str, int]) -> tuple[object, ...]:
    """What, besides device-plugin units, says how this pod gets GPUs."""
    meta = pod.metadata
    annotations = meta.annotations or {}
    labels = meta.labels or {}
    sources: list[object] = []
    claims = _claim_names(pod)
    if claims:
        sources.append(DraSource(tuple(f"{namespace}/{c}" for c in claims)))
    group = labels.get(KAI_GROUP_LABEL, "")
    if namespace in KAI_RESERVATION_NAMESPACES and group:
        sources.append(KaiReservation(group))
    elif "gpu-fraction" in annotations or "gpu-memory" in annotations:
        fraction = None
        try:
            fraction = Fraction(annotations["gpu-fraction"].strip()) if "gpu-fraction" in annotations else None
        except (ValueError, ZeroDivisionError):
            fraction = None
        devices = max(1, _int(annotations.get("gpu-fraction-num-devices", "1"), 1))
        sources.append(KaiFraction(group, fraction, _int(annotations.get("gpu-memory", "0"), 0), devices))
    if NVIDIA_GPU in gpu_units:
        allocated = _hami_allocated(annotations)
        containers = tuple(
            (
                _quantity(c.resources.limits, NVIDIA_GPU) or _quantity(c.resources.requests, NVIDIA_GPU),
                *(_quantity(c.resources.limits, r) or _quantity(c.resources.requests, r) for r in HAMI_RESOURCES),
            )
            for c in pod.spec.containers or ()
            if c.resources is not None
        )
        if allocated or any(any(c[1:]) for c in containers):
            sources.append(HamiSource(allocated, containers))  # type: ignore[arg-type]
    return tuple(sources)


def _claim_names(pod: Pod) -> list[str]:
    """The claims a pod uses: named ones, template ones by their generated name, and the
    claim that serves its extended resources (DRAExtendedResource)."""
    generated = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses or ()}
    names = []
    for ref in pod.spec.resource_claims or ():
        name = ref.resource_claim_name or generated.get(ref.name)
        if name:
            names.append(name)
    extended = pod.status.extended_resource_claim_status
    if extended is not None and extended.resource_claim_name:
        names.append(extended.resource_claim_name)
    return names


# --- shares ------------------------------------------------------------------------------------


def hami_share(source: HamiSource | None, node: NodeAllocators, vgpus: int) -> Fraction:
    """Physical-GPU equivalents of a pod's HAMi vGPUs on a HAMi node."""
    if source is not None and source.devices:
        return sum((_dominant(cores, mem, node.hami[u].memory_mib if u in node.hami else 0, 0)
                    for u, mem, cores in source.devices), Fraction(0))
    memory = next((d.memory_mib for d in node.hami.values()), 0)
    if source is None or not source.containers:
        return Fraction(vgpus)  # neither cores nor memory: each vGPU holds a whole device
    return sum((n * _dominant(cores, mem, memory, pct) for n, cores, mem, pct in source.containers), Fraction(0))


def _dominant(cores: int, memory_mib: int, device_mib: int, percent: int) -> Fraction:
    if percent:
        mem = Fraction(percent, 100)
    elif memory_mib and device_mib:
        mem = Fraction(memory_mib, device_mib)
    else:
        mem = Fraction(1)  # unset memory: the whole device (HAMi nvidia.defaultMemory 0)
    return min(max(Fraction(cores, 100), mem), Fraction(1))


def kai_share(source: KaiFraction, node: NodeAllocators) -> Fraction:
    """Physical-GPU equivalents a KAI fractional pod holds."""
    if source.fraction is not None:
        per_device = source.fraction
    elif source.memory_mib and node.gpu_memory_mib:
        per_device = Fraction(source.memory_mib, node.gpu_memory_mib)
    else:
        per_device = Fraction(0)
    return min(max(per_device, Fraction(0)), Fraction(1)) * source.devices

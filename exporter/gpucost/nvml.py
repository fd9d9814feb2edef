"""NVML source: the GPUs and MIG devices a node's NVIDIA driver reports, as typed records.

`read_inventory` does one complete read: nvmlInit, every device and MIG device, nvmlShutdown.
Each read initialises NVML afresh: a session opened before a MIG layout change can go on
enumerating MIG devices that no longer exist (NVIDIA/libcudacxx#224), and a fresh init is also
how a read notices that the driver went away or came back.

Error policy. Optional per-device readings (utilization, power, the GPU instance id of a MIG
device) that fail with NotSupported or FunctionNotFound become None. Anything else is fatal for
the whole read and raises one `NvmlUnavailable`, a lost GPU included: a GPU that fell off the bus
still costs money, so an inventory that silently drops it would move its cost out of the node.
The caller falls back to label-based inventory instead and `NvmlSource` (nvml_source) keeps the
last good read.

MIG profile names. Drivers name a MIG device "<parent name> MIG <profile>" ("NVIDIA
A100-SXM4-40GB MIG 1g.5gb"); that profile is used when the name carries one, since it also
shows suffixes the attributes cannot (+gfx, +me.all on newer cards). Otherwise the profile is
derived from the device's attributes the way NVIDIA names profiles (see `mig_profile_name`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pynvml

MIB = 1024 * 1024
GIB = 1024 * MIB

# NVML return codes (nvml.h) this module tells apart.
NOT_SUPPORTED = 3
NOT_FOUND = 6
DRIVER_NOT_LOADED = 9
LIBRARY_NOT_FOUND = 12
FUNCTION_NOT_FOUND = 13
GPU_IS_LOST = 15
ARGUMENT_VERSION_MISMATCH = 25

#: NVML_DEVICE_MIG_ENABLE, as the first ("current") element of nvmlDeviceGetMigMode's answer.
MIG_ENABLED = 1

#: Every value `NvmlUnavailable.reason` can take, in the order the errors counter lists them.
REASONS = (
    "library_not_found",
    "driver_not_loaded",
    "gpu_lost",
    "function_not_found",
    "not_supported",
    "unknown",
)
_REASON_BY_CODE = {
    LIBRARY_NOT_FOUND: "library_not_found",
    DRIVER_NOT_LOADED: "driver_not_loaded",
    GPU_IS_LOST: "gpu_lost",
    FUNCTION_NOT_FOUND: "function_not_found",
    NOT_SUPPORTED: "not_supported",
}
_OPTIONAL_CODES = (NOT_SUPPORTED, FUNCTION_NOT_FOUND)

#: Compute slices of a MIG-capable GPU when the driver does not say (A100, H100, H200, B200).
DEFAULT_COMPUTE_SLICES = 7
_MEMORY_EIGHTHS = 8  # profile names count memory in eighths of the card

_PROFILE_IN_NAME = re.compile(r"\bMIG\s+((?:\d+c\.)?\d+g\.\d+gb(?:[+-][A-Za-z0-9.]+)*)\s*$")
_LABEL_VALUE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class NvmlUnavailable(Exception):
    """NVML could not give a complete inventory.

    `reason` is a short label for metrics (one of `REASONS`); `code` the NVML return code when
    NVML gave one. The message is one line: reason, the call that failed, NVML's own text.
    """

    def __init__(self, reason: str, code: int | None, detail: str) -> None:
        super().__init__(f"NVML unavailable ({reason}): {detail}")
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class MigDevice:
    """One MIG device (a compute instance inside a GPU instance) on a physical GPU."""

    index: int  # MIG device index under its parent, as nvmlDeviceGetMigDeviceHandleByIndex
    uuid: str  # "MIG-..."
    name: str  # as NVML names it, e.g. "NVIDIA A100-SXM4-80GB MIG 1g.10gb"
    gpu_instance_slices: int  # compute slices the GPU instance holds (the "3" of 3g.40gb)
    compute_instance_slices: int  # slices this compute instance uses (< gi slices for 1c.3g...)
    memory_bytes: int  # memory of the GPU instance, shared by its compute instances
    profile: str  # "1g.10gb", "1g.10gb+me", "1c.3g.40gb"
    gpu_instance_id: int | None = None  # None when the driver cannot say


@dataclass(frozen=True)
class GpuDevice:
    """One physical GPU as NVML enumerates it."""

    index: int  # NVML enumeration index (nvidia-smi's GPU number)
    uuid: str  # "GPU-..."
    name: str  # "NVIDIA A100-SXM4-80GB"
    memory_bytes: int  # total framebuffer memory, bytes
    pci_bus_id: str  # "00000000:07:00.0"
    mig_enabled: bool  # MIG mode currently enabled
    mig_devices: tuple[MigDevice, ...]
    utilization_ratio: float | None  # 0..1 over the driver's last sample; None unsupported
    memory_used_bytes: int | None
    power_watts: float | None  # board power draw; None where unsupported
    max_mig_devices: int = 0  # MIG devices the GPU can hold (its compute slices); 0 MIG off


@dataclass(frozen=True)
class Inventory:
    """Everything one NVML read found on the node."""

    driver_version: str
    devices: tuple[GpuDevice, ...]


@dataclass(frozen=True)
class MigSliceUsage:
    """How many compute slices of one MIG-enabled GPU its GPU instances hold."""

    gpu: int  # parent GPU index
    uuid: str
    total_slices: int  # 7 on A100/H100/H200, 4 on A30
    used_slices: int  # held by GPU instances, each instance counted once

    @property
    def free_slices(self) -> int:
        return max(self.total_slices - self.used_slices, 0)


# --- reading -----------------------------------------------------------------------------------


def read_inventory(nvml: Any = pynvml) -> Inventory:
    """Read every GPU and MIG device through `nvml` (the pynvml module, or a stand-in for it).

    Raises NvmlUnavailable when the read cannot be complete; see the module docstring.
    """
    reader = _Reader(nvml)
    reader.required("nvmlInit")
    try:
        return reader.inventory()
    finally:
        try:
            reader.call("nvmlShutdown")
        except reader.error_type:
            pass  # the read has its answer already; a failed shutdown changes nothing in it


class _Reader:
    """The calls of one read, each turning NVML errors into None or NvmlUnavailable."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.error_type: type[Exception] = getattr(nvml, "NVMLError", pynvml.NVMLError)

    def call(self, function: str, *args: Any) -> Any:
        fn = getattr(self.nvml, function, None)
        if fn is None:  # bindings older than the call: the same as a driver without it
            raise self.error_type(FUNCTION_NOT_FOUND)
        return fn(*args)

    def required(self, function: str, *args: Any, where: str = "") -> Any:
        try:
            return self.call(function, *args)
        except self.error_type as err:
            raise _unavailable(err, function + where) from err

    def optional(self, function: str, *args: Any, where: str = "") -> Any:
        """The call's result, or None when the device or driver does not support it."""
        try:
            return self.call(function, *args)
        except self.error_type as err:
            if _code(err) in _OPTIONAL_CODES:
                return None
            raise _unavailable(err, function + where) from err

    def inventory(self) -> Inventory:
        driver_version = _text(self.required("nvmlSystemGetDriverVersion"))
        count = int(self.required("nvmlDeviceGetCount"))
        devices = tuple(self.device(index) for index in range(count))
        return Inventory(driver_version=driver_version, devices=devices)

    def device(self, index: int) -> GpuDevice:
        where = f" on GPU {index}"
        handle = self.required("nvmlDeviceGetHandleByIndex", index, where=where)
        name = _text(self.required("nvmlDeviceGetName", handle, where=where))
        uuid = _text(self.required("nvmlDeviceGetUUID", handle, where=where))
        memory = self.required("nvmlDeviceGetMemoryInfo", handle, where=where)
        pci = self.required("nvmlDeviceGetPciInfo", handle, where=where)
        # NotSupported: a GPU without MIG; FunctionNotFound: a driver older than MIG.
        mig_mode = self.optional("nvmlDeviceGetMigMode", handle, where=where)
        mig_enabled = bool(mig_mode) and int(mig_mode[0]) == MIG_ENABLED
        max_mig = 0
        mig_devices: tuple[MigDevice, ...] = ()
        if mig_enabled:
            max_mig = int(self.required("nvmlDeviceGetMaxMigDeviceCount", handle, where=where))
            mig_devices = self.mig_devices(handle, index, name, int(memory.total), max_mig)
        # MIG-enabled GPUs report no utilization (nvidia-smi shows N/A): None, not 0.
        used = self.memory_used(handle, int(memory.used), where)
        rates = self.optional("nvmlDeviceGetUtilizationRates", handle, where=where)
        power_mw = self.optional("nvmlDeviceGetPowerUsage", handle, where=where)
        return GpuDevice(
            index=index,
            uuid=uuid,
            name=name,
            memory_bytes=int(memory.total),
            pci_bus_id=_text(pci.busId),
            mig_enabled=mig_enabled,
            mig_devices=mig_devices,
            utilization_ratio=None if rates is None else int(rates.gpu) / 100,
            memory_used_bytes=used,
            power_watts=None if power_mw is None else int(power_mw) / 1000,
            max_mig_devices=max_mig,
        )

    def memory_used(self, handle: Any, v1_used: int, where: str) -> int:
        """Memory in use, as nvidia-smi's "Used": the v2 reading, which keeps the memory the
        driver reserves for itself apart. The v1 reading counts it as used: 615 MiB on an idle
        H200 under R580 whose nvidia-smi says 0 MiB used, 616 MiB reserved (docs/nvml.md).
        Drivers or bindings without the v2 call give the v1 figure."""
        version = getattr(self.nvml, "nvmlMemory_v2", None)
        if version is None:
            return v1_used
        try:
            return int(self.call("nvmlDeviceGetMemoryInfo", handle, version).used)
        except self.error_type as err:
            if _code(err) in (*_OPTIONAL_CODES, ARGUMENT_VERSION_MISMATCH):
                return v1_used
            raise _unavailable(err, "nvmlDeviceGetMemoryInfo_v2" + where) from err

    def mig_devices(
        self, parent: Any, gpu: int, gpu_name: str, gpu_memory: int, slots: int
    ) -> tuple[MigDevice, ...]:
        found = []
        for slot in range(slots):
            where = f" on GPU {gpu} MIG device {slot}"
            try:
                handle = self.call("nvmlDeviceGetMigDeviceHandleByIndex", parent, slot)
            except self.error_type as err:
                if _code(err) == NOT_FOUND:
                    continue  # empty slot: no compute instance there
                raise _unavailable(err, "nvmlDeviceGetMigDeviceHandleByIndex" + where) from err
            found.append(self.mig_device(handle, slot, gpu_name, gpu_memory, where))
        return tuple(found)

    def mig_device(
        self, handle: Any, slot: int, gpu_name: str, gpu_memory: int, where: str
    ) -> MigDevice:
        uuid = _text(self.required("nvmlDeviceGetUUID", handle, where=where))
        attrs = self.required("nvmlDeviceGetAttributes", handle, where=where)
        gi_slices = int(attrs.gpuInstanceSliceCount)
        ci_slices = int(attrs.computeInstanceSliceCount)
        memory_mib = int(attrs.memorySizeMB)  # NVML's "MB" here is MiB
        named = self.optional("nvmlDeviceGetName", handle, where=where)
        name = "" if named is None else _text(named)
        profile = _profile_from_name(name)
        if profile is None:
            profile = mig_profile_name(
                gi_slices,
                ci_slices,
                memory_mib,
                gpu_memory,
                media_extensions=_has_media_extensions(attrs, gi_slices),
            )
        gi_id = self.optional("nvmlDeviceGetGpuInstanceId", handle, where=where)
        return MigDevice(
            index=slot,
            uuid=uuid,
            name=name or f"{gpu_name} MIG {profile}",
            gpu_instance_slices=gi_slices,
            compute_instance_slices=ci_slices,
            memory_bytes=memory_mib * MIB,
            profile=profile,
            gpu_instance_id=None if gi_id is None else int(gi_id),
        )


def _code(err: Exception) -> int | None:
    value = getattr(err, "value", None)
    return value if isinstance(value, int) else None


def _unavailable(err: Exception, where: str) -> NvmlUnavailable:
    code = _code(err)
    reason = _REASON_BY_CODE.get(code, "unknown") if code is not None else "unknown"
    text = str(err)  # pynvml's own text; it falls back to the bare code when it has none
    suffix = f" (NVML error {code})" if code is not None else ""
    return NvmlUnavailable(reason, code, f"{where}: {text}{suffix}")


def _text(value: Any) -> str:
    """Strings from NVML: str in current bindings, bytes in older ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


# --- MIG profile names -------------------------------------------------------------------------


def mig_profile_name(
    gi_slices: int,
    ci_slices: int,
    memory_mib: int,
    gpu_memory_bytes: int,
    media_extensions: bool = False,
) -> str:
    """The NVIDIA profile name of a MIG device: "<g>g.<GB>gb", "<c>c.<g>g.<GB>gb", "+me".

    The GB figure is not the device's memory rounded: MIG hands out memory in eighths of the
    card, so the device's share is rounded up to whole eighths and applied to the card's memory
    in whole GiB, rounded half up. 9728 MiB on an 81920 MiB A100 is 0.119 of it, one eighth,
    80 / 8 = 10: "1g.10gb", where the memory itself is 9.5 GiB (Slurm, which does not follow
    NVIDIA's rule, calls the A100 80GB's 3g.40gb "3g.39gb"). The rule reproduces the profiles of
    the A100 40GB/80GB, H100 80GB/NVL and H200 from the sizes several driver releases report
    (tests/test_nvml.py lists them with their sources).
    """
    share = memory_mib * MIB * _MEMORY_EIGHTHS
    eighths = min(max(-(-share // gpu_memory_bytes), 1), _MEMORY_EIGHTHS)  # ceil, 1..8
    card_gb = -(-gpu_memory_bytes // GIB)
    memory_gb = (2 * eighths * card_gb + _MEMORY_EIGHTHS) // (2 * _MEMORY_EIGHTHS)
    name = f"{gi_slices}g.{memory_gb}gb"
    if 0 < ci_slices < gi_slices:
        name = f"{ci_slices}c.{name}"
    if media_extensions:
        name += "+me"
    return name


def _has_media_extensions(attrs: Any, gi_slices: int) -> bool:
    # A one-slice instance gets an optical-flow engine only as the "+me" profile, which takes
    # the card's media engines; plain 1g profiles have none (nvidia-smi mig -lgip, OFA column).
    return gi_slices == 1 and int(getattr(attrs, "sharedOfaCount", 0) or 0) > 0


def _profile_from_name(name: str) -> str | None:
    match = _PROFILE_IN_NAME.search(name)
    return match.group(1) if match else None


# --- helpers for the cost model ----------------------------------------------------------------


def gfd_model_label(name: str) -> str:
    """A GPU name as GPU Feature Discovery writes nvidia.com/gpu.product: "NVIDIA-A100-SXM4-80GB".

    Spaces become dashes; characters a label value cannot hold are dropped; at most 63 chars.
    """
    label = "-".join(name.split())
    return _LABEL_VALUE_UNSAFE.sub("", label)[:63].strip("-_.")


def physical_gpus_and_model(inventory: Inventory) -> tuple[int, str]:
    """(physical GPU count, GFD-style model label) of a node; (0, "") without GPUs.

    A node with mixed models reports the model most of its GPUs have (ties: lowest index).
    """
    if not inventory.devices:
        return 0, ""
    labels = [gfd_model_label(device.name) for device in inventory.devices]
    counts = Counter(labels)
    return len(labels), max(labels, key=counts.__getitem__)  # max keeps the first of a tie


def mig_slice_usage(inventory: Inventory) -> tuple[MigSliceUsage, ...]:
    """Compute slices held per MIG-enabled GPU; GPUs with MIG off are left out.

    A GPU instance split into several compute instances ("1c.3g.40gb" + "2c.3g.40gb") holds
    its slices once. Slices nobody holds are stranded compute: idle cost of that GPU.
    """
    usage = []
    for device in inventory.devices:
        if not device.mig_enabled:
            continue
        held: dict[object, int] = {}
        for mig in device.mig_devices:
            key: object = mig.gpu_instance_id if mig.gpu_instance_id is not None else mig.uuid
            held[key] = max(held.get(key, 0), mig.gpu_instance_slices)
        usage.append(
            MigSliceUsage(
                gpu=device.index,
                uuid=device.uuid,
                total_slices=device.max_mig_devices or DEFAULT_COMPUTE_SLICES,
                used_slices=sum(held.values()),
            )
        )
    return tuple(usage)

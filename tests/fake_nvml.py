"""An in-process stand-in for the pynvml module: three real machine shapes, and switches that
break them the ways real nodes break.

It answers the calls gpucost.nvml makes, with the shapes pynvml returns (objects with .total,
.busId, .gpu, attribute structs, [current, pending] MIG mode) and raises pynvml's own exception
classes: pynvml.NVMLError(code) builds the matching subclass (NVMLError_GpuIsLost, ...).

Figures, and where they come from (public nvidia-smi output):
- Total memory as NVML reports it, in MiB: A100-SXM4-40GB 40960, A100-SXM4-80GB 81920, H100
  80GB HBM3 81559 (modal-labs/modal-client#2797 lists all three; NVIDIA/nccl#1264 shows the
  H100 figure under driver 550.54.15). Older drivers reported less for the A100s: 81251 under
  R495 (NVIDIA/mig-parted#31), 40536 or 40537 for the 40GB.
- MIG memory (memorySizeMB of nvmlDeviceGetAttributes) per profile is the Memory column of
  `nvidia-smi mig -lgip` (GiB, two decimals): A100 40GB 4.75/9.75/19.62/39.50, A100 80GB
  9.50/19.50/39.25/79.00, H100 80GB 9.75/19.62/39.50/79.25. GPU Feature Discovery labels
  confirm two of them exactly: nvidia.com/mig-1g.10gb.memory=9728 on an A100 80GB and 9984
  on an H100 80GB HBM3; nvidia-smi's MIG table shows 4864, 9984, 19968, 20096 and 40192 MiB.
- SM and engine counts per profile: the SM/DEC/ENC/CE/JPEG/OFA columns of the same listings.
- Driver 550.54.15 and eight A100-SXM4-40GB: the DGX A100 shape of NVIDIA's go-nvml mock.
- PCI bus ids: a DGX A100's 07, 0F, 47, 4E, 87, 90, B7, BD; the H100 board starts with 18 and
  2A as a Supermicro HGX H100 does (NVIDIA/nccl#1264), the rest are made up.
- A MIG-enabled GPU reports no utilization (nvidia-smi: N/A) but does report power and ~90 MiB
  of memory used; MIG device names are "<GPU name> MIG <profile>".
- The H200 is read off a real one (scripts/gpu_check/run.sh on an NVIDIA H200, driver
  580.159.04, nvidia-ml-py 13.615.71, 2026-12-01; docs/nvml.md): its name, memory, bus id,
  idle power, the GPU instance profiles nvmlDeviceGetGpuInstanceProfileInfo and
  `nvidia-smi mig -lgip` list with MIG off, and the memory the driver reserves: the v1
  nvmlDeviceGetMemoryInfo counts 644,939,776 bytes of it as used on the idle card, where the
  v2 call and nvidia-smi say 0 MiB used, 616 MiB reserved.
The UUIDs are made up (uuid5), in NVIDIA's format.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import pynvml

MIB = 1024 * 1024

NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED  # 3
NOT_FOUND = pynvml.NVML_ERROR_NOT_FOUND  # 6
DRIVER_NOT_LOADED = pynvml.NVML_ERROR_DRIVER_NOT_LOADED  # 9
LIBRARY_NOT_FOUND = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND  # 12
FUNCTION_NOT_FOUND = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND  # 13
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST  # 15
ARGUMENT_VERSION_MISMATCH = pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH  # 25
UNINITIALIZED = pynvml.NVML_ERROR_UNINITIALIZED  # 1

MIG_FUNCTIONS = (
    "nvmlDeviceGetMigMode",
    "nvmlDeviceGetMaxMigDeviceCount",
    "nvmlDeviceGetMigDeviceHandleByIndex",
    "nvmlDeviceGetGpuInstanceId",
)

_UUIDS = uuidlib.UUID("6f1c2d52-8a7e-4c1b-9d0e-3b5a7c9e1f20")


@dataclass(frozen=True)
class MigProfile:
    """One row of `nvidia-smi mig -lgip`: what a MIG device of this profile reports."""

    name: str
    gi_slices: int
    ci_slices: int
    memory_mib: int
    sm: int
    ce: int
    dec: int
    jpeg: int
    ofa: int
    enc: int = 0


def _profiles(*rows: MigProfile) -> dict[str, MigProfile]:
    return {row.name: row for row in rows}


A100_40GB = _profiles(
    MigProfile("1g.5gb", 1, 1, 4864, sm=14, ce=1, dec=0, jpeg=0, ofa=0),
    MigProfile("1g.5gb+me", 1, 1, 4864, sm=14, ce=1, dec=1, jpeg=1, ofa=1),
    MigProfile("1g.10gb", 1, 1, 9984, sm=14, ce=1, dec=1, jpeg=0, ofa=0),
    MigProfile("2g.10gb", 2, 2, 9984, sm=28, ce=2, dec=1, jpeg=0, ofa=0),
    MigProfile("3g.20gb", 3, 3, 20096, sm=42, ce=3, dec=2, jpeg=0, ofa=0),
    MigProfile("4g.20gb", 4, 4, 20096, sm=56, ce=4, dec=2, jpeg=0, ofa=0),
    MigProfile("7g.40gb", 7, 7, 40448, sm=98, ce=7, dec=5, jpeg=1, ofa=1),
)
A100_80GB = _profiles(
    MigProfile("1g.10gb", 1, 1, 9728, sm=14, ce=1, dec=0, jpeg=0, ofa=0),
    MigProfile("1g.10gb+me", 1, 1, 9728, sm=14, ce=1, dec=1, jpeg=1, ofa=1),
    MigProfile("1g.20gb", 1, 1, 19968, sm=14, ce=1, dec=1, jpeg=0, ofa=0),
    MigProfile("2g.20gb", 2, 2, 19968, sm=28, ce=2, dec=1, jpeg=0, ofa=0),
    MigProfile("3g.40gb", 3, 3, 40192, sm=42, ce=3, dec=2, jpeg=0, ofa=0),
    MigProfile("4g.40gb", 4, 4, 40192, sm=56, ce=4, dec=2, jpeg=0, ofa=0),
    MigProfile("7g.80gb", 7, 7, 80896, sm=98, ce=7, dec=5, jpeg=1, ofa=1),
)
#: Read off a real H200 under R580 (module docstring); mig-parted#120 shows an older driver's
#: slightly smaller sizes (tests/test_nvml.py PROFILE_SIZES has both).
H200_141GB = _profiles(
    MigProfile("1g.18gb", 1, 1, 16384, sm=16, ce=1, dec=1, jpeg=1, ofa=0),
    MigProfile("1g.18gb+me", 1, 1, 16384, sm=16, ce=1, dec=1, jpeg=1, ofa=1),
    MigProfile("1g.35gb", 1, 1, 33280, sm=26, ce=1, dec=1, jpeg=1, ofa=0),
    MigProfile("2g.35gb", 2, 2, 33280, sm=32, ce=2, dec=2, jpeg=2, ofa=0),
    MigProfile("3g.71gb", 3, 3, 71424, sm=60, ce=3, dec=3, jpeg=3, ofa=0),
    MigProfile("4g.71gb", 4, 4, 71424, sm=64, ce=4, dec=4, jpeg=4, ofa=0),
    MigProfile("7g.141gb", 7, 7, 143360, sm=132, ce=8, dec=7, jpeg=7, ofa=1),
)
H100_80GB = _profiles(
    MigProfile("1g.10gb", 1, 1, 9984, sm=16, ce=1, dec=1, jpeg=1, ofa=0),
    MigProfile("1g.10gb+me", 1, 1, 9984, sm=16, ce=1, dec=1, jpeg=1, ofa=1),
    MigProfile("1g.20gb", 1, 1, 20096, sm=26, ce=1, dec=1, jpeg=1, ofa=0),
    MigProfile("2g.20gb", 2, 2, 20096, sm=32, ce=2, dec=2, jpeg=2, ofa=0),
    MigProfile("3g.40gb", 3, 3, 40448, sm=60, ce=3, dec=3, jpeg=3, ofa=0),
    MigProfile("4g.40gb", 4, 4, 40448, sm=64, ce=4, dec=4, jpeg=4, ofa=0),
    MigProfile("7g.80gb", 7, 7, 81152, sm=132, ce=8, dec=7, jpeg=7, ofa=1),
)


def compute_instance(gi: MigProfile, ci_slices: int) -> MigProfile:
    """A compute instance using `ci_slices` of a GPU instance: "1c.3g.20gb" and the like.

    It keeps the GPU instance's memory and shared engines; its SMs are its share of them.
    """
    return replace(
        gi,
        name=f"{ci_slices}c.{gi.name}",
        ci_slices=ci_slices,
        sm=gi.sm * ci_slices // gi.gi_slices,
    )


@dataclass
class FakeMigDevice:
    profile: MigProfile
    uuid: str
    gpu_instance_id: int


@dataclass
class FakeGpu:
    name: str
    uuid: str
    bus_id: str
    memory_mib: int
    memory_used_mib: int
    utilization_pct: int  # what nvmlDeviceGetUtilizationRates().gpu says when MIG is off
    power_mw: int
    mig_enabled: bool = False
    max_mig_devices: int = 0  # 7 on A100/H100 with MIG on; 0 with MIG off (nvml.h)
    mig: dict[int, FakeMigDevice] = field(default_factory=dict)  # by MIG device index
    lost: bool = False
    memory_reserved_bytes: int = 0  # the driver's own; v1 memory info counts it as used


class _Handle:
    """An opaque nvmlDevice_t: a GPU, or one MIG device on it."""

    def __init__(self, gpu: FakeGpu, mig: FakeMigDevice | None = None) -> None:
        self.gpu = gpu
        self.mig = mig


class FakeNvml:
    """Module-like: pass an instance wherever gpucost.nvml takes `nvml=`.

    Switches: `library_missing()`, `driver_not_loaded()`, `lose_gpu(i)`, `unplug_gpu(i)`,
    `old_driver()`, `fail(function, code, gpu=None)`; `legacy_bytes=True` returns the strings
    as bytes, as bindings before nvidia-ml-py's str conversion did.
    """

    NVMLError = pynvml.NVMLError
    nvmlMemory_v2 = pynvml.nvmlMemory_v2
    NVML_DEVICE_MIG_ENABLE = pynvml.NVML_DEVICE_MIG_ENABLE

    def __init__(
        self, driver_version: str, gpus: list[FakeGpu], legacy_bytes: bool = False
    ) -> None:
        self.driver_version = driver_version
        self.gpus = gpus
        self.legacy_bytes = legacy_bytes
        self.init_error: int | None = None
        self.mig_names_carry_profile = True
        self._failures: dict[tuple[str, str | None], int] = {}
        self._refcount = 0
        self.calls: list[str] = []

    # -- switches ---------------------------------------------------------------------------

    def library_missing(self) -> None:
        """No libnvidia-ml.so.1 on the machine (a node without the driver, this laptop)."""
        self.init_error = LIBRARY_NOT_FOUND

    def driver_not_loaded(self) -> None:
        """The library is there but the kernel module is not."""
        self.init_error = DRIVER_NOT_LOADED

    def lose_gpu(self, index: int) -> None:
        """GPU `index` fell off the bus; the driver still lists it and answers GPU_IS_LOST."""
        self.gpus[index].lost = True

    def unplug_gpu(self, index: int) -> None:
        """GPU `index` is gone from enumeration (driver reloaded without it); later ones shift."""
        del self.gpus[index]

    def old_driver(self) -> None:
        """A driver older than MIG: every MIG call answers FUNCTION_NOT_FOUND."""
        for function in MIG_FUNCTIONS:
            self.fail(function, FUNCTION_NOT_FOUND)

    def fail(self, function: str, code: int, gpu: int | None = None) -> None:
        """Make `function` fail with `code`, on every device or on GPU `gpu` (and its MIG)."""
        self._failures[(function, None if gpu is None else self.gpus[gpu].uuid)] = code

    def heal(self) -> None:
        """Undo every injected failure and lost GPU (a driver reload that brought it back)."""
        self._failures.clear()
        self.init_error = None
        for gpu in self.gpus:
            gpu.lost = False

    # -- plumbing ---------------------------------------------------------------------------

    def _enter(self, function: str, handle: _Handle | None = None) -> None:
        self.calls.append(function)
        if self._refcount == 0:
            raise pynvml.NVMLError(UNINITIALIZED)
        code = self._failures.get((function, None))
        if code is None and handle is not None:
            code = self._failures.get((function, handle.gpu.uuid))
        if code is not None:
            raise pynvml.NVMLError(code)
        if handle is not None and handle.gpu.lost:
            raise pynvml.NVMLError(GPU_IS_LOST)

    def _str(self, value: str) -> str | bytes:
        return value.encode() if self.legacy_bytes else value

    # -- the pynvml calls -------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self._refcount += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self._refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str | bytes:
        self._enter("nvmlSystemGetDriverVersion")
        return self._str(self.driver_version)

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(self.gpus[index])

    def nvmlDeviceGetName(self, handle: _Handle) -> str | bytes:
        self._enter("nvmlDeviceGetName", handle)
        if handle.mig is None:
            return self._str(handle.gpu.name)
        if not self.mig_names_carry_profile:
            return self._str(handle.gpu.name)
        return self._str(f"{handle.gpu.name} MIG {handle.mig.profile.name}")

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str | bytes:
        self._enter("nvmlDeviceGetUUID", handle)
        return self._str(handle.mig.uuid if handle.mig else handle.gpu.uuid)

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: int | None = None) -> SimpleNamespace:
        """v1 counts the driver's reserved memory as used; v2 (nvmlDeviceGetMemoryInfo_v2, which
        pynvml calls when given a version) reports it apart, as nvidia-smi does."""
        gpu = handle.gpu
        total = gpu.memory_mib * MIB
        used = gpu.memory_used_mib * MIB
        reserved = gpu.memory_reserved_bytes
        if version:
            self._enter("nvmlDeviceGetMemoryInfo_v2", handle)
            if version != pynvml.nvmlMemory_v2:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
            free = total - reserved - used
            return SimpleNamespace(version=version, total=total, reserved=reserved, used=used, free=free)
        self._enter("nvmlDeviceGetMemoryInfo", handle)
        return SimpleNamespace(total=total, used=used + reserved, free=total - used - reserved)

    def nvmlDeviceGetPciInfo(self, handle: _Handle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetPciInfo", handle)
        bus_id = handle.gpu.bus_id
        return SimpleNamespace(
            busId=self._str(bus_id),
            domain=int(bus_id[:8], 16),
            bus=int(bus_id[9:11], 16),
            device=int(bus_id[12:14], 16),
        )

    def nvmlDeviceGetMigMode(self, handle: _Handle) -> list[int]:
        self._enter("nvmlDeviceGetMigMode", handle)
        mode = 1 if handle.gpu.mig_enabled else 0
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount", handle)
        return handle.gpu.max_mig_devices if handle.gpu.mig_enabled else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: _Handle, index: int) -> _Handle:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        mig = handle.gpu.mig.get(index) if handle.gpu.mig_enabled else None
        if mig is None:
            raise pynvml.NVMLError(NOT_FOUND)
        return _Handle(handle.gpu, mig)

    def nvmlDeviceGetGpuInstanceId(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", handle)
        if handle.mig is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return handle.mig.gpu_instance_id

    def nvmlDeviceGetAttributes(self, handle: _Handle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetAttributes", handle)
        if handle.mig is None:  # on a whole GPU the call is valid but not what we ask for
            raise pynvml.NVMLError(NOT_SUPPORTED)
        p = handle.mig.profile
        return SimpleNamespace(
            multiprocessorCount=p.sm,
            sharedCopyEngineCount=p.ce,
            sharedDecoderCount=p.dec,
            sharedEncoderCount=p.enc,
            sharedJpegCount=p.jpeg,
            sharedOfaCount=p.ofa,
            gpuInstanceSliceCount=p.gi_slices,
            computeInstanceSliceCount=p.ci_slices,
            memorySizeMB=p.memory_mib,
        )

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetUtilizationRates", handle)
        if handle.mig is not None or handle.gpu.mig_enabled:
            raise pynvml.NVMLError(NOT_SUPPORTED)
        return SimpleNamespace(gpu=handle.gpu.utilization_pct, memory=0)

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetPowerUsage", handle)
        if handle.mig is not None:
            raise pynvml.NVMLError(NOT_SUPPORTED)
        return handle.gpu.power_mw


# --- machines ----------------------------------------------------------------------------------


def _uuid(prefix: str, *parts: object) -> str:
    return f"{prefix}-{uuidlib.uuid5(_UUIDS, '/'.join(map(str, parts)))}"


def _machine(
    key: str,
    name: str,
    memory_mib: int,
    bus_ids: tuple[str, ...],
    load: list[tuple[int, int, int]],  # per GPU: utilization %, memory used MiB, power mW
    layouts: dict[int, list[tuple[int, MigProfile, int]]],  # GPU -> (MIG index, profile, GI id)
) -> list[FakeGpu]:
    gpus = []
    for index, bus in enumerate(bus_ids):
        util, used, power = load[index]
        gpu = FakeGpu(
            name=name,
            uuid=_uuid("GPU", key, index),
            bus_id=f"00000000:{bus}:00.0",
            memory_mib=memory_mib,
            memory_used_mib=used,
            utilization_pct=util,
            power_mw=power,
        )
        if index in layouts:
            gpu.mig_enabled = True
            gpu.max_mig_devices = 7
            gpu.memory_used_mib = 87  # what a MIG-enabled GPU reports with nothing running
            gpu.mig = {
                slot: FakeMigDevice(profile, _uuid("MIG", key, index, slot), gi_id)
                for slot, profile, gi_id in layouts[index]
            }
        gpus.append(gpu)
    return gpus


DGX_A100_BUS_IDS = ("07", "0F", "47", "4E", "87", "90", "B7", "BD")
H100_BUS_IDS = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")


def dgx_a100_40gb(legacy_bytes: bool = False) -> FakeNvml:
    """8 x NVIDIA A100-SXM4-40GB, driver 550.54.15. GPU0 and GPU1 in MIG mode:

    GPU0: 3g.20gb + 2g.10gb + 2 x 1g.5gb (all 7 slices);
    GPU1: 4g.20gb + one 3g.20gb GPU instance split into 2c.3g.20gb + 1c.3g.20gb (7 slices).
    """
    p = A100_40GB
    layouts = {
        0: [(0, p["3g.20gb"], 2), (1, p["2g.10gb"], 3), (2, p["1g.5gb"], 9), (3, p["1g.5gb"], 10)],
        1: [
            (0, p["4g.20gb"], 1),
            (1, compute_instance(p["3g.20gb"], 2), 2),
            (2, compute_instance(p["3g.20gb"], 1), 2),
        ],
    }
    load = [
        (0, 87, 61_000),
        (0, 87, 58_000),
        (37, 30_112, 212_345),
        (100, 39_801, 398_000),
        (0, 0, 54_321),
        (72, 34_447, 301_500),
        (5, 1_024, 68_000),
        (0, 0, 57_000),
    ]
    gpus = _machine("a100-40", "NVIDIA A100-SXM4-40GB", 40960, DGX_A100_BUS_IDS, load, layouts)
    return FakeNvml("550.54.15", gpus, legacy_bytes)


def dgx_a100_80gb(legacy_bytes: bool = False) -> FakeNvml:
    """8 x NVIDIA A100-SXM4-80GB, driver 535.104.05. GPU0..GPU4 in MIG mode:

    GPU0: 7 x 1g.10gb;  GPU1: 4g.40gb + 3g.40gb;
    GPU2: 2 x 1g.20gb + 2g.20gb + 1g.10gb (memory-heavy: 5 of 7 slices, 2 stranded);
    GPU3: MIG on, no instances yet;  GPU4: 1g.10gb+me + 5 x 1g.10gb, MIG index 3 empty.
    """
    p = A100_80GB
    layouts = {
        0: [(slot, p["1g.10gb"], 7 + slot) for slot in range(7)],
        1: [(0, p["4g.40gb"], 1), (1, p["3g.40gb"], 2)],
        2: [
            (0, p["1g.20gb"], 3),
            (1, p["1g.20gb"], 4),
            (2, p["2g.20gb"], 5),
            (3, p["1g.10gb"], 13),
        ],
        3: [],
        4: [(0, p["1g.10gb+me"], 7)] + [(s, p["1g.10gb"], 7 + s) for s in (1, 2, 4, 5, 6)],
    }
    load = [
        (0, 0, 64_000),
        (0, 0, 71_500),
        (0, 0, 88_250),
        (0, 0, 51_000),
        (0, 0, 66_000),
        (94, 77_187, 356_000),
        (0, 4, 62_000),
        (51, 40_960, 249_999),
    ]
    gpus = _machine("a100-80", "NVIDIA A100-SXM4-80GB", 81920, DGX_A100_BUS_IDS, load, layouts)
    return FakeNvml("535.104.05", gpus, legacy_bytes)


def hgx_h100_80gb(legacy_bytes: bool = False) -> FakeNvml:
    """8 x NVIDIA H100 80GB HBM3, driver 550.54.15. GPU0..GPU2 in MIG mode:

    GPU0: 7 x 1g.10gb;  GPU1: 3g.40gb + 4g.40gb;
    GPU2: 2 x 1g.20gb + 1g.10gb+me + 2g.20gb (5 of 7 slices).
    """
    p = H100_80GB
    layouts = {
        0: [(slot, p["1g.10gb"], 7 + slot) for slot in range(7)],
        1: [(0, p["3g.40gb"], 2), (1, p["4g.40gb"], 1)],
        2: [
            (0, p["1g.20gb"], 3),
            (1, p["1g.20gb"], 4),
            (2, p["1g.10gb+me"], 13),
            (3, p["2g.20gb"], 5),
        ],
    }
    load = [
        (0, 0, 88_000),
        (0, 0, 83_000),
        (0, 0, 120_500),
        (37, 60_211, 412_000),
        (99, 80_003, 690_250),
        (12, 9_730, 150_000),
        (0, 0, 71_000),
        (0, 0, 69_500),
    ]
    gpus = _machine("h100", "NVIDIA H100 80GB HBM3", 81559, H100_BUS_IDS, load, layouts)
    return FakeNvml("550.54.15", gpus, legacy_bytes)


def single_h200(legacy_bytes: bool = False) -> FakeNvml:
    """1 x NVIDIA H200, driver 580.159.04, MIG off, idle: the card scripts/gpu_check read."""
    gpu = FakeGpu(
        name="NVIDIA H200",
        uuid=_uuid("GPU", "h200", 0),
        bus_id="00000000:00:06.0",
        memory_mib=143771,
        memory_used_mib=0,
        utilization_pct=0,
        power_mw=80_483,
        memory_reserved_bytes=644_939_776,
    )
    return FakeNvml("580.159.04", [gpu], legacy_bytes)


MACHINES: dict[str, Callable[..., FakeNvml]] = {
    "dgx_a100_40gb": dgx_a100_40gb,
    "dgx_a100_80gb": dgx_a100_80gb,
    "hgx_h100_80gb": hgx_h100_80gb,
    "single_h200": single_h200,
}

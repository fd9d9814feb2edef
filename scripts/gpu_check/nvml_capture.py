"""Record what a real NVIDIA driver answers to the NVML calls gpucost makes, and a few more.

Run on a machine with an NVIDIA GPU (scripts/gpu_check/run.sh does). Prints one JSON document:
per call, the value the bindings returned or the NVML error code they raised. Its figures feed
tests/fake_nvml.py's shapes and docs/nvml.md; nothing here is imported by the exporter.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pynvml


def _plain(value: Any) -> Any:
    """A JSON-able form of what pynvml returns (ctypes structs, bytes, lists)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    fields = getattr(value, "_fields_", None)
    if fields:
        return {name: _plain(getattr(value, name)) for name, *_ in fields}
    return repr(value)


def call(fn: str, *args: Any) -> dict[str, Any]:
    f = getattr(pynvml, fn, None)
    if f is None:
        return {"missing_in_bindings": True}
    try:
        return {"value": _plain(f(*args))}
    except pynvml.NVMLError as err:
        return {"error": getattr(err, "value", None), "text": str(err)}


def device(index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    out: dict[str, Any] = {"index": index}
    for fn in (
        "nvmlDeviceGetName",
        "nvmlDeviceGetUUID",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetPciInfo",
        "nvmlDeviceGetMigMode",
        "nvmlDeviceGetMaxMigDeviceCount",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetEnforcedPowerLimit",
        "nvmlDeviceGetBrand",
        "nvmlDeviceGetArchitecture",
        "nvmlDeviceGetCudaComputeCapability",
        "nvmlDeviceGetComputeMode",
        "nvmlDeviceGetVirtualizationMode",
        "nvmlDeviceGetBoardPartNumber",
        "nvmlDeviceGetIsMigDeviceHandle",
        "nvmlDeviceGetComputeRunningProcesses",
        "nvmlDeviceGetGpuInstanceId",
        "nvmlDeviceGetAttributes",
    ):
        out[fn] = call(fn, handle)
    out["nvmlDeviceGetMemoryInfo(v2)"] = call(
        "nvmlDeviceGetMemoryInfo", handle, getattr(pynvml, "nvmlMemory_v2", None)
    )
    out["nvmlDeviceGetMigDeviceHandleByIndex(0)"] = call(
        "nvmlDeviceGetMigDeviceHandleByIndex", handle, 0
    )
    # The GPU instance profiles the card offers (nvidia-smi mig -lgip), where the driver answers
    # with MIG off; profile ids are NVML_GPU_INSTANCE_PROFILE_* (0..14 in nvml.h of R580).
    profiles = {}
    for pid in range(15):
        profiles[str(pid)] = call("nvmlDeviceGetGpuInstanceProfileInfo", handle, pid)
    out["nvmlDeviceGetGpuInstanceProfileInfo"] = profiles
    return out


def main() -> int:
    pynvml.nvmlInit()
    try:
        count = pynvml.nvmlDeviceGetCount()
        doc = {
            "nvml_bindings": getattr(pynvml, "__version__", None),
            "nvmlSystemGetDriverVersion": call("nvmlSystemGetDriverVersion"),
            "nvmlSystemGetNVMLVersion": call("nvmlSystemGetNVMLVersion"),
            "nvmlSystemGetCudaDriverVersion": call("nvmlSystemGetCudaDriverVersion"),
            "nvmlDeviceGetCount": count,
            "nvmlDeviceGetHandleByIndex(count)": call("nvmlDeviceGetHandleByIndex", count),
            "devices": [device(i) for i in range(count)],
        }
    finally:
        pynvml.nvmlShutdown()
    # A call after shutdown: the code a reader sees when NVML was not initialised.
    doc["after_shutdown_nvmlDeviceGetCount"] = call("nvmlDeviceGetCount")
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

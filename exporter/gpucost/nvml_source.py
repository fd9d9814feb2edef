"""The node's NVML inventory as the exporter serves it: `NvmlSource` keeps the last good read
(nvml.read_inventory), whether the latest read succeeded and why reads failed, and renders the
GPU families of a scrape from them. Split from nvml.py, which reads the driver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pynvml

from .exposition import MetricFamily
from .nvml import REASONS, GpuDevice, Inventory, NvmlUnavailable, gfd_model_label, read_inventory


class NvmlSource:
    """The node's NVML inventory for the exporter: last good read, health and error counts.

    `refresh()` re-reads (GPUs come and go: MIG reconfiguration, a GPU falling off the bus). On
    failure the last good inventory stays, `up` turns False and the reason is counted.
    Thread-safe: refresh in one thread, scrape (`metric_families`) in another.
    """

    def __init__(self, nvml: Any = pynvml) -> None:
        self._nvml = nvml
        self._lock = threading.Lock()
        self._inventory: Inventory | None = None
        self._up = False
        self._last_error: NvmlUnavailable | None = None
        self._errors: dict[str, int] = dict.fromkeys(REASONS, 0)

    def refresh(self) -> bool:
        """Read NVML again; True when this read succeeded."""
        try:
            inventory = read_inventory(self._nvml)
        except NvmlUnavailable as err:
            with self._lock:
                self._up = False
                self._last_error = err
                self._errors[err.reason] = self._errors.get(err.reason, 0) + 1
            return False
        with self._lock:
            self._inventory = inventory
            self._up = True
            self._last_error = None
        return True

    @property
    def inventory(self) -> Inventory | None:
        """The last inventory read in full; None before the first success."""
        with self._lock:
            return self._inventory

    @property
    def up(self) -> bool:
        """Whether the latest refresh succeeded."""
        with self._lock:
            return self._up

    @property
    def last_error(self) -> NvmlUnavailable | None:
        with self._lock:
            return self._last_error

    @property
    def errors(self) -> dict[str, int]:
        """Failed refreshes so far, per reason (every reason present, 0 included)."""
        with self._lock:
            return dict(self._errors)

    def metric_families(self, node: str) -> Iterator[MetricFamily]:
        """NVML families for the scrape.

        Info and memory-size series come from the last good inventory, so they stay put while
        NVML is failing. Live readings (utilization, memory used, power) are left out while
        `gpucost_nvml_up` is 0: a reading from minutes ago would look current.
        MIG devices appear in `gpucost_gpu_info` only, as gpu="<parent index>/<MIG index>".
        """
        with self._lock:
            inventory, up, errors = self._inventory, self._up, dict(self._errors)
        yield MetricFamily(
            "gpucost_nvml_up",
            "gauge",
            "1 when the latest NVML read of this node's GPUs succeeded, else 0.",
            [((), 1.0 if up else 0.0)],
        )
        yield MetricFamily(
            "gpucost_nvml_errors_total",
            "counter",
            "Failed NVML reads, by reason.",
            [((("reason", reason),), float(count)) for reason, count in errors.items()],
        )
        if inventory is None:
            return
        yield MetricFamily(
            "gpucost_nvml_driver_info",
            "gauge",
            "NVIDIA driver version NVML reported, as a label; value 1.",
            [((("version", inventory.driver_version),), 1.0)],
        )
        yield from _device_families(node, inventory, live=up)


def _device_families(node: str, inventory: Inventory, live: bool) -> Iterator[MetricFamily]:
    devices = inventory.devices
    info: list[tuple[tuple[tuple[str, str], ...], float]] = []
    for device in devices:
        model = gfd_model_label(device.name)
        info.append((_info_labels(node, str(device.index), device.uuid, model, ""), 1.0))
        for mig in device.mig_devices:
            gpu = f"{device.index}/{mig.index}"
            info.append((_info_labels(node, gpu, mig.uuid, model, mig.profile), 1.0))
    families = [
        MetricFamily(
            "gpucost_gpu_info",
            "gauge",
            'GPUs and MIG devices NVML reports; value 1. MIG devices have gpu="<gpu>/<mig>".',
            info,
        ),
        _per_gpu(
            node,
            "gpucost_gpu_memory_bytes",
            "Total memory of each physical GPU, bytes.",
            [(d, d.memory_bytes) for d in devices],
        ),
    ]
    if live:
        families += [
            _per_gpu(
                node,
                "gpucost_gpu_utilization_ratio",
                "Share of the driver's last sample period in which a kernel ran, 0..1; "
                "absent for MIG-enabled GPUs.",
                [(d, d.utilization_ratio) for d in devices],
            ),
            _per_gpu(
                node,
                "gpucost_gpu_memory_used_bytes",
                "Memory in use on each physical GPU, bytes, as nvidia-smi's Used: without the "
                "memory the driver reserves for itself.",
                [(d, d.memory_used_bytes) for d in devices],
            ),
            _per_gpu(
                node,
                "gpucost_gpu_power_watts",
                "Power draw of each physical GPU board, watts.",
                [(d, d.power_watts) for d in devices],
            ),
        ]
    yield from (family for family in families if family.samples)


def _per_gpu(
    node: str, name: str, help_text: str, values: list[tuple[GpuDevice, float | None]]
) -> MetricFamily:
    samples = [
        ((("node", node), ("gpu", str(device.index)), ("uuid", device.uuid)), float(value))
        for device, value in values
        if value is not None
    ]
    return MetricFamily(name, "gauge", help_text, samples)


def _info_labels(
    node: str, gpu: str, uuid: str, model: str, profile: str
) -> tuple[tuple[str, str], ...]:
    return (
        ("node", node),
        ("gpu", gpu),
        ("uuid", uuid),
        ("model", model),
        ("mig_profile", profile),
    )

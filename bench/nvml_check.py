#!/usr/bin/env python3
"""Print what gpucost's NVML source reads on this machine, as a table, and how long a read takes.

Usage: python bench/nvml_check.py [--reads N]
Exits 0 with a one-line message where there is no NVIDIA driver (nothing to check), 1 when the
driver is there but the read fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exporter"))

from gpucost.nvml import (  # noqa: E402
    NvmlUnavailable,
    mig_slice_usage,
    physical_gpus_and_model,
    read_inventory,
)

GIB = 1024**3


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GIB:.1f} GiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=5, help="reads to time (default 5)")
    args = parser.parse_args()

    timings = []
    try:
        for _ in range(max(args.reads, 1)):
            start = time.perf_counter()
            inventory = read_inventory()
            timings.append(time.perf_counter() - start)
    except NvmlUnavailable as err:
        if err.reason in ("library_not_found", "driver_not_loaded"):
            print(f"no NVIDIA GPU to check here: {err}")
            return 0
        print(err, file=sys.stderr)
        return 1

    count, model = physical_gpus_and_model(inventory)
    print(f"driver {inventory.driver_version}: {count} x {model}")
    print(
        f"read (init to shutdown) over {len(timings)} reads: median "
        f"{statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms"
    )
    rows = [("GPU", "NAME / PROFILE", "MEMORY", "USED", "UTIL", "POWER", "BUS ID / UUID")]
    for d in inventory.devices:
        rows.append(
            (
                str(d.index),
                d.name + (" [MIG]" if d.mig_enabled else ""),
                _gib(d.memory_bytes),
                _gib(d.memory_used_bytes),
                "-" if d.utilization_ratio is None else f"{d.utilization_ratio:.0%}",
                "-" if d.power_watts is None else f"{d.power_watts:.1f} W",
                d.pci_bus_id,
            )
        )
        for m in d.mig_devices:
            slices = f"gi {m.gpu_instance_slices} ci {m.compute_instance_slices}"
            gi = "" if m.gpu_instance_id is None else f" GI {m.gpu_instance_id}"
            rows.append(
                (
                    f"{d.index}/{m.index}",
                    f"  {m.profile} ({slices}{gi})",
                    _gib(m.memory_bytes),
                    "",
                    "",
                    "",
                    m.uuid,
                )  # fmt: skip
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for usage in mig_slice_usage(inventory):
        print(f"GPU {usage.gpu}: {usage.used_slices}/{usage.total_slices} compute slices held")
    return 0


if __name__ == "__main__":
    sys.exit(main())

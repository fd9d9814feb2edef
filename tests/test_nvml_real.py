"""gpucost.nvml on the real NVIDIA driver. Needs a GPU; skipped where nvmlInit fails."""

from __future__ import annotations

import re

import pynvml
import pytest

from gpucost.nvml import (
    Inventory,
    mig_profile_name,
    mig_slice_usage,
    physical_gpus_and_model,
    read_inventory,
)

pytestmark = pytest.mark.gpu

_PROFILE = re.compile(r"(?:\d+c\.)?\d+g\.\d+gb(?:[+-][A-Za-z0-9.]+)*")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        pytest.skip(f"no NVIDIA driver here: {err}")
    pynvml.nvmlShutdown()
    return read_inventory()


def test_real_inventory(inventory: Inventory) -> None:
    print(f"\ndriver {inventory.driver_version}")
    for device in inventory.devices:
        print(device)
    assert inventory.driver_version
    assert inventory.devices
    for device in inventory.devices:
        assert device.uuid.startswith("GPU-")
        assert device.memory_bytes > 0
        assert re.fullmatch(r"[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-9A-F]", device.pci_bus_id)
        assert device.utilization_ratio is None or 0 <= device.utilization_ratio <= 1
        assert device.power_watts is None or 0 < device.power_watts < 2000
        assert device.mig_enabled or device.mig_devices == ()
    assert physical_gpus_and_model(inventory)[0] == len(inventory.devices)
    print(mig_slice_usage(inventory))


def test_real_mig_profiles_match_the_derivation(inventory: Inventory) -> None:
    migs = [(d, m) for d in inventory.devices for m in d.mig_devices]
    if not migs:
        pytest.skip("no MIG devices on this machine")
    for device, mig in migs:
        assert mig.uuid.startswith("MIG-")
        assert _PROFILE.fullmatch(mig.profile), mig
        derived = mig_profile_name(
            mig.gpu_instance_slices,
            mig.compute_instance_slices,
            mig.memory_bytes // (1024 * 1024),
            device.memory_bytes,
        )
        # the driver's name may add a suffix the attributes cannot show (+me, +gfx)
        assert mig.profile.startswith(derived), (mig.profile, derived)


def test_real_reads_repeat(inventory: Inventory) -> None:
    again = read_inventory()
    assert [d.uuid for d in again.devices] == [d.uuid for d in inventory.devices]

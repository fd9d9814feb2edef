"""gpucost.nvml on the real NVIDIA driver. Needs a GPU; skipped where nvmlInit fails."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pynvml
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpucost.nvml import (
    MIB,
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


# --- against nvidia-smi, and the exporter end to end -------------------------------------------

_SMI_FIELDS = "index,name,uuid,memory.total,pci.bus_id,mig.mode.current"


def _nvidia_smi(fields: str = _SMI_FIELDS) -> list[dict[str, str]]:
    """nvidia-smi's own reading of the GPUs: a second program over the same driver."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        pytest.skip("nvidia-smi is not on PATH")
    out = subprocess.run(
        [smi, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    keys = fields.split(",")
    return [dict(zip(keys, (v.strip() for v in line.split(",")), strict=True))
            for line in out.splitlines()]


def test_real_inventory_agrees_with_nvidia_smi(inventory: Inventory) -> None:
    smi = _nvidia_smi()
    assert len(smi) == len(inventory.devices)
    for row, device in zip(smi, inventory.devices, strict=True):
        assert int(row["index"]) == device.index
        assert row["name"] == device.name
        assert row["uuid"] == device.uuid
        assert int(row["memory.total"]) * MIB == device.memory_bytes  # nvidia-smi prints MiB
        assert row["pci.bus_id"].upper() == device.pci_bus_id
        # "Enabled", "Disabled", or "[N/A]" on a GPU without MIG
        assert device.mig_enabled == (row["mig.mode.current"] == "Enabled")


def test_real_memory_used_agrees_with_nvidia_smi(inventory: Inventory) -> None:
    """Used memory leaves out what the driver reserves, as nvidia-smi does (the v1 NVML call
    counts it: 615 MiB on an idle H200). nvidia-smi reads between two of ours, in whole MiB."""
    before = read_inventory()
    smi = _nvidia_smi("index,memory.used")
    after = read_inventory()
    for row, b, a in zip(smi, before.devices, after.devices, strict=True):
        readings = [b.memory_used_bytes or 0, a.memory_used_bytes or 0]
        low, high = min(readings) // MIB, -(-max(readings) // MIB)
        assert low - 1 <= int(row["memory.used"]) <= high + 1, (row, readings)


def _machine(tmp_path: Path, inventory: Inventory) -> list[str]:
    """This machine as a node whose labels say nothing of its GPU model, a pod on it holding
    one GPU, and a pricing file pricing NVML's model at 3.0 $/GPU-hour (2.0 for others): the
    exporter's arguments for them."""
    count, model = physical_gpus_and_model(inventory)
    node = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "this-machine", "uid": "n-1", "labels": {}},
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": str(count)},
            "allocatable": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": str(count)},
        },
    }
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "trainer", "namespace": "ml", "uid": "p-1"},
        "spec": {"nodeName": "this-machine", "containers": [{"name": "main", "resources": {
            "requests": {"cpu": "4", "memory": "8Gi"},
            "limits": {"nvidia.com/gpu": "1"},
        }}]},
        "status": {"phase": "Running"},
    }
    (tmp_path / "cluster.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [node, pod]})
    )
    (tmp_path / "pricing.yaml").write_text(
        "currency: USD\nbuiltin_catalog: false\n"
        "default: {cpu_core_hour: 0.05, memory_gib_hour: 0.005, gpu_hour: 2.0}\n"
        f"gpu_models: {{{model}: 3.0}}\n"
    )
    return [sys.executable, "-m", "gpucost", "--from-file", str(tmp_path / "cluster.json"),
            "--pricing-file", str(tmp_path / "pricing.yaml"), "--nvml", "--node-name", "this-machine"]


def _value(text: str, name: str, **labels: str) -> float:
    found = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and set(labels.items()) <= set(s.labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_real_exporter_prices_this_machine_from_nvml(inventory: Inventory, tmp_path: Path) -> None:
    """NVML names the model of a node whose labels do not, and the pricing file's price for it
    (3.0 $/GPU-hour, not the 2.0 default) is what its pod pays."""
    out = subprocess.run(
        [*_machine(tmp_path, inventory), "--once"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    assert _value(out, "gpucost_nvml_up") == 1
    assert _value(out, "gpucost_pod_gpu_reserved_cost_per_hour", pod="trainer") == pytest.approx(3.0)
    assert _value(out, "gpucost_pod_cpu_cost_per_hour", pod="trainer") == pytest.approx(4 * 0.05)
    assert _value(out, "gpucost_pod_memory_cost_per_hour", pod="trainer") == pytest.approx(8 * 0.005)
    infos = [s for f in text_string_to_metric_families(out) if f.name == "gpucost_gpu_info" for s in f.samples]
    assert len(infos) == len(inventory.devices) + sum(len(d.mig_devices) for d in inventory.devices)


_LOAD = """
import sys, time, torch
keep = torch.empty(4 << 30, dtype=torch.uint8, device="cuda")  # 4 GiB held
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
print("ready", flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
"""


def test_real_live_exporter_follows_the_gpu(inventory: Inventory, tmp_path: Path) -> None:
    """The exporter serving /metrics re-reads NVML every half second (off its event loop):
    while a process holds 4 GiB of GPU 0 and keeps it busy, the next scrapes say so; the cost,
    which depends on reservations, does not move."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "exporter.log").open("w")
    server = subprocess.Popen(
        [*_machine(tmp_path, inventory), "--nvml.refresh-interval", "0.5",
         "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return str(r.read().decode())

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                idle = scrape()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "exporter.log").read_text()
                time.sleep(0.2)
        assert _value(idle, "gpucost_nvml_up") == 1
        used_idle = _value(idle, "gpucost_gpu_memory_used_bytes", gpu="0")
        try:
            import torch
        except ImportError:
            pytest.skip("no torch here to load the GPU; the idle scrape passed")
        if not torch.cuda.is_available():
            pytest.skip("torch cannot reach the GPU; the idle scrape passed")
        load = subprocess.Popen([sys.executable, "-c", _LOAD, "8"], stdout=subprocess.PIPE, text=True)
        try:
            assert load.stdout is not None and load.stdout.readline().strip() == "ready"
            time.sleep(2.5)  # the driver's utilization sample, then a refresh after it
            busy = scrape()
        finally:
            load.wait(timeout=60)
        assert _value(busy, "gpucost_gpu_utilization_ratio", gpu="0") > 0.5
        assert _value(busy, "gpucost_gpu_memory_used_bytes", gpu="0") >= used_idle + 4 * 1024**3
        assert _value(busy, "gpucost_pod_gpu_reserved_cost_per_hour", pod="trainer") == pytest.approx(3.0)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

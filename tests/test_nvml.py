"""gpucost.nvml against the in-process fake of pynvml (tests/fake_nvml.py): three real machine
shapes in, exact inventories, MIG profiles, errors and exposition out."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpucost.exposition import render_family
from gpucost.nvml import (
    REASONS,
    GpuDevice,
    Inventory,
    MigSliceUsage,
    NvmlUnavailable,
    gfd_model_label,
    mig_profile_name,
    mig_slice_usage,
    physical_gpus_and_model,
    read_inventory,
)
from gpucost.nvml_source import NvmlSource

import fake_nvml as fake

MIB = 1024 * 1024
GIB = 1024 * MIB


def _profiles(device: GpuDevice) -> list[tuple[int, str, int, int, int]]:
    return [
        (m.index, m.profile, m.gpu_instance_slices, m.compute_instance_slices, m.memory_bytes)
        for m in device.mig_devices
    ]


# --- whole machines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "name", "memory_bytes", "driver", "model"),
    [
        (
            fake.dgx_a100_40gb,
            "NVIDIA A100-SXM4-40GB",
            40 * GIB,
            "550.54.15",
            "NVIDIA-A100-SXM4-40GB",
        ),
        (
            fake.dgx_a100_80gb,
            "NVIDIA A100-SXM4-80GB",
            80 * GIB,
            "535.104.05",
            "NVIDIA-A100-SXM4-80GB",
        ),
        (
            fake.hgx_h100_80gb,
            "NVIDIA H100 80GB HBM3",
            81559 * MIB,
            "550.54.15",
            "NVIDIA-H100-80GB-HBM3",
        ),
    ],
)
def test_machine_inventory(machine, name, memory_bytes, driver, model):
    inv = read_inventory(machine())
    assert inv.driver_version == driver
    assert len(inv.devices) == 8
    assert [d.index for d in inv.devices] == list(range(8))
    assert {d.name for d in inv.devices} == {name}
    assert {d.memory_bytes for d in inv.devices} == {memory_bytes}
    assert all(d.uuid.startswith("GPU-") and len(d.uuid) == 40 for d in inv.devices)
    assert len({d.uuid for d in inv.devices}) == 8
    assert all(len(d.pci_bus_id) == 16 and d.pci_bus_id.endswith(":00.0") for d in inv.devices)
    assert physical_gpus_and_model(inv) == (8, model)


def test_a100_40gb_exact_devices():
    inv = read_inventory(fake.dgx_a100_40gb())
    assert inv.devices[0].pci_bus_id == "00000000:07:00.0"
    assert inv.devices[7].pci_bus_id == "00000000:BD:00.0"
    assert 40 * GIB == 42949672960 == inv.devices[0].memory_bytes
    assert _profiles(inv.devices[0]) == [
        (0, "3g.20gb", 3, 3, 20096 * MIB),
        (1, "2g.10gb", 2, 2, 9984 * MIB),
        (2, "1g.5gb", 1, 1, 4864 * MIB),
        (3, "1g.5gb", 1, 1, 4864 * MIB),
    ]
    # one 3g.20gb GPU instance split into two compute instances: both share its memory
    assert _profiles(inv.devices[1]) == [
        (0, "4g.20gb", 4, 4, 20096 * MIB),
        (1, "2c.3g.20gb", 3, 2, 20096 * MIB),
        (2, "1c.3g.20gb", 3, 1, 20096 * MIB),
    ]
    assert inv.devices[1].mig_devices[1].name == "NVIDIA A100-SXM4-40GB MIG 2c.3g.20gb"
    assert [d.mig_enabled for d in inv.devices] == [True, True] + [False] * 6
    assert [d.max_mig_devices for d in inv.devices] == [7, 7] + [0] * 6


def test_a100_80gb_mig_layouts():
    inv = read_inventory(fake.dgx_a100_80gb())
    gpu0, gpu1, gpu2, gpu3, gpu4 = inv.devices[:5]
    assert [m.profile for m in gpu0.mig_devices] == ["1g.10gb"] * 7
    assert {m.memory_bytes for m in gpu0.mig_devices} == {9728 * MIB}
    assert [m.profile for m in gpu1.mig_devices] == ["4g.40gb", "3g.40gb"]
    assert [m.profile for m in gpu2.mig_devices] == ["1g.20gb", "1g.20gb", "2g.20gb", "1g.10gb"]
    assert gpu3.mig_enabled and gpu3.mig_devices == ()
    # MIG index 3 is an empty slot (NotFound): skipped, the others keep their indices
    assert [(m.index, m.profile) for m in gpu4.mig_devices] == [
        (0, "1g.10gb+me"),
        (1, "1g.10gb"),
        (2, "1g.10gb"),
        (4, "1g.10gb"),
        (5, "1g.10gb"),
        (6, "1g.10gb"),
    ]
    assert all(m.uuid.startswith("MIG-") for d in inv.devices for m in d.mig_devices)


def test_h100_mig_layouts():
    inv = read_inventory(fake.hgx_h100_80gb())
    assert [m.profile for m in inv.devices[0].mig_devices] == ["1g.10gb"] * 7
    assert _profiles(inv.devices[1]) == [
        (0, "3g.40gb", 3, 3, 40448 * MIB),
        (1, "4g.40gb", 4, 4, 40448 * MIB),
    ]
    assert [m.profile for m in inv.devices[2].mig_devices] == [
        "1g.20gb",
        "1g.20gb",
        "1g.10gb+me",
        "2g.20gb",
    ]


def test_utilization_power_and_memory_used():
    inv = read_inventory(fake.dgx_a100_40gb())
    gpu2 = inv.devices[2]
    assert gpu2.utilization_ratio == pytest.approx(0.37)  # 37 %
    assert gpu2.power_watts == pytest.approx(212.345)  # 212345 mW
    assert gpu2.memory_used_bytes == 30_112 * MIB
    assert inv.devices[3].utilization_ratio == 1.0
    assert inv.devices[4].utilization_ratio == 0.0  # idle is 0, not unknown
    # MIG-enabled GPUs report power but no utilization (nvidia-smi shows N/A)
    assert inv.devices[0].utilization_ratio is None
    assert inv.devices[0].power_watts == 61.0
    assert inv.devices[0].memory_used_bytes == 87 * MIB


def test_an_idle_h200_as_read_off_a_real_one():
    (gpu,) = read_inventory(fake.single_h200()).devices
    assert (gpu.name, gpu.pci_bus_id, gpu.mig_enabled) == ("NVIDIA H200", "00000000:00:06.0", False)
    assert gpu.memory_bytes == 143771 * MIB == 150_754_820_096
    assert gpu.utilization_ratio == 0.0
    assert gpu.power_watts == pytest.approx(80.483)
    # nvidia-smi on that card: "Reserved 616 MiB, Used 0 MiB"; the v1 call says 615.06 MiB used
    assert gpu.memory_used_bytes == 0
    assert physical_gpus_and_model(read_inventory(fake.single_h200())) == (1, "NVIDIA-H200")


@pytest.mark.parametrize(
    "code", [fake.FUNCTION_NOT_FOUND, fake.NOT_SUPPORTED, fake.ARGUMENT_VERSION_MISMATCH]
)
def test_memory_used_falls_back_to_v1_where_v2_is_missing(code):
    nvml = fake.single_h200()
    nvml.fail("nvmlDeviceGetMemoryInfo_v2", code)  # a driver from before the v2 call
    (gpu,) = read_inventory(nvml).devices
    assert gpu.memory_used_bytes == 644_939_776  # reserved memory counted as used: all v1 has


def test_memory_used_from_bindings_without_v2_is_v1s():
    nvml = fake.single_h200()
    nvml.nvmlMemory_v2 = None  # nvidia-ml-py releases before the v2 struct
    (gpu,) = read_inventory(nvml).devices
    assert gpu.memory_used_bytes == 644_939_776
    assert "nvmlDeviceGetMemoryInfo_v2" not in nvml.calls


def test_a_gpu_lost_at_the_v2_memory_read_fails_the_read():
    nvml = fake.single_h200()
    nvml.fail("nvmlDeviceGetMemoryInfo_v2", fake.GPU_IS_LOST)
    with pytest.raises(NvmlUnavailable) as err:
        read_inventory(nvml)
    assert err.value.reason == "gpu_lost"
    assert "nvmlDeviceGetMemoryInfo_v2 on GPU 0" in str(err.value)


def test_bytes_from_older_bindings_read_the_same():
    for machine in fake.MACHINES.values():
        assert read_inventory(machine(legacy_bytes=True)) == read_inventory(machine())


def test_every_read_initialises_and_shuts_down():
    nvml = fake.hgx_h100_80gb()
    read_inventory(nvml)
    read_inventory(nvml)
    assert nvml.calls.count("nvmlInit") == 2
    assert nvml.calls.count("nvmlShutdown") == 2
    assert nvml.calls[0] == "nvmlInit" and nvml.calls[-1] == "nvmlShutdown"


# --- MIG profile names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "mig_devices"),
    [(fake.dgx_a100_40gb, 7), (fake.dgx_a100_80gb, 19), (fake.hgx_h100_80gb, 13)],
)
def test_profiles_derived_from_attributes_match_the_drivers_names(machine, mig_devices):
    def profiles(inv: Inventory) -> list[tuple[str, str]]:
        return [(m.uuid, m.profile) for d in inv.devices for m in d.mig_devices]

    nvml = machine()
    nvml.mig_names_carry_profile = False  # names without "MIG <profile>": derive from attributes
    derived = profiles(read_inventory(nvml))
    assert derived == profiles(read_inventory(machine()))
    assert len(derived) == mig_devices


@pytest.mark.parametrize(
    ("table", "card_mib"),
    [
        (fake.A100_40GB, 40960),
        (fake.A100_80GB, 81920),
        (fake.H100_80GB, 81559),
        (fake.H200_141GB, 143771),
    ],
    ids=["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"],
)
def test_every_profile_of_the_reference_tables(table, card_mib):
    for profile in table.values():
        me = profile.name.endswith("+me")
        assert (
            mig_profile_name(
                profile.gi_slices, profile.ci_slices, profile.memory_mib, card_mib * MIB, me
            )
            == profile.name
        )


# Memory sizes (MiB) that drivers report for each profile, from public nvidia-smi output:
# `nvidia-smi mig -lgip` (GiB, 2 decimals: 9.62 is 9856 MiB, 19.62 is 20096, 39.38 is 40320),
# nvidia-smi's MIG device table, and GPU Feature Discovery's nvidia.com/mig-<p>.memory labels.
# Releases differ by a few hundred MiB; every one must give the same name. Card totals:
# 40960/81920 (current drivers), 40537/81251 (R495, NVIDIA/mig-parted#31), 81559 (H100 HBM3),
# 95830 (H100 NVL), 143771 (H200).
PROFILE_SIZES = [
    # A100 40GB
    ((40960, 40537), 1, 4864, "1g.5gb"),
    ((40960, 40537), 1, 9856, "1g.10gb"),
    ((40960, 40537), 1, 9984, "1g.10gb"),
    ((40960, 40537), 2, 9856, "2g.10gb"),
    ((40960, 40537), 2, 9984, "2g.10gb"),
    ((40960, 40537), 3, 19968, "3g.20gb"),
    ((40960, 40537), 3, 20096, "3g.20gb"),
    ((40960, 40537), 3, 20224, "3g.20gb"),
    ((40960, 40537), 4, 20096, "4g.20gb"),
    ((40960, 40537), 7, 40192, "7g.40gb"),
    ((40960, 40537), 7, 40320, "7g.40gb"),
    ((40960, 40537), 7, 40448, "7g.40gb"),
    ((40537,), 7, 40537, "7g.40gb"),
    # A100 80GB
    ((81920, 81251), 1, 9728, "1g.10gb"),
    ((81920, 81251), 1, 9984, "1g.10gb"),
    ((81920, 81251), 1, 19968, "1g.20gb"),
    ((81920, 81251), 2, 19968, "2g.20gb"),
    ((81920, 81251), 2, 20096, "2g.20gb"),
    ((81920, 81251), 3, 40192, "3g.40gb"),
    ((81920, 81251), 3, 40448, "3g.40gb"),
    ((81920, 81251), 4, 40192, "4g.40gb"),
    ((81920, 81251), 7, 80384, "7g.80gb"),
    ((81920, 81251), 7, 80896, "7g.80gb"),
    ((81920, 81251), 7, 81152, "7g.80gb"),
    ((81251,), 7, 81251, "7g.80gb"),
    # H100 80GB HBM3
    ((81559,), 1, 9984, "1g.10gb"),
    ((81559,), 1, 20096, "1g.20gb"),
    ((81559,), 2, 20096, "2g.20gb"),
    ((81559,), 3, 40320, "3g.40gb"),
    ((81559,), 3, 40448, "3g.40gb"),
    ((81559,), 4, 40448, "4g.40gb"),
    ((81559,), 7, 81152, "7g.80gb"),
    # H100 NVL 94GB (10.75 / 21.62 / 46.38 GiB: NVIDIA/gpu-operator#900, mig-parted#101)
    ((95830,), 1, 11008, "1g.12gb"),
    ((95830,), 1, 22144, "1g.24gb"),
    ((95830,), 2, 22144, "2g.24gb"),
    ((95830,), 3, 47488, "3g.47gb"),
    # H200 141GB (16.00 / 32.25 / 69.50 / 139.75 GiB: NVIDIA/mig-parted#120). 3g.71gb needs
    # half-up rounding: 4/8 of 141 is 70.5, and Python's round() would say 70.
    ((143771,), 1, 16384, "1g.18gb"),
    ((143771,), 1, 33024, "1g.35gb"),
    ((143771,), 2, 33024, "2g.35gb"),
    ((143771,), 3, 71168, "3g.71gb"),
    ((143771,), 4, 71168, "4g.71gb"),
    ((143771,), 7, 143104, "7g.141gb"),
    # H200 under R580 (16.00 / 32.50 / 69.75 / 140.00 GiB), read off a real H200 with driver
    # 580.159.04 by scripts/gpu_check: nvmlDeviceGetGpuInstanceProfileInfo's memorySizeMB.
    ((143771,), 1, 33280, "1g.35gb"),
    ((143771,), 2, 33280, "2g.35gb"),
    ((143771,), 3, 71424, "3g.71gb"),
    ((143771,), 4, 71424, "4g.71gb"),
    ((143771,), 7, 143360, "7g.141gb"),
]


@pytest.mark.parametrize(("cards", "slices", "memory_mib", "expected"), PROFILE_SIZES)
def test_profile_name_from_reported_sizes(cards, slices, memory_mib, expected):
    for card_mib in cards:
        assert mig_profile_name(slices, slices, memory_mib, card_mib * MIB) == expected


def test_profile_name_compute_instance_and_media_extensions():
    assert mig_profile_name(3, 1, 40192, 81920 * MIB) == "1c.3g.40gb"
    assert mig_profile_name(7, 2, 80896, 81920 * MIB) == "2c.7g.80gb"
    assert mig_profile_name(1, 1, 9728, 81920 * MIB, media_extensions=True) == "1g.10gb+me"


# --- helpers for the cost model ----------------------------------------------------------------


def test_gfd_model_label():
    assert gfd_model_label("NVIDIA A100-SXM4-80GB") == "NVIDIA-A100-SXM4-80GB"
    assert gfd_model_label("NVIDIA H100 80GB HBM3") == "NVIDIA-H100-80GB-HBM3"
    assert gfd_model_label("NVIDIA  RTX 6000 Ada Generation ") == "NVIDIA-RTX-6000-Ada-Generation"
    assert gfd_model_label("Tesla T4 (rev a1)") == "Tesla-T4-rev-a1"


def test_physical_gpus_and_model_edge_cases():
    assert physical_gpus_and_model(Inventory("550.54.15", ())) == (0, "")
    nvml = fake.hgx_h100_80gb()
    nvml.gpus[0].name = nvml.gpus[1].name = "NVIDIA H100 NVL"
    # mixed node: the model most GPUs have
    assert physical_gpus_and_model(read_inventory(nvml)) == (8, "NVIDIA-H100-80GB-HBM3")


def test_mig_slice_usage():
    uuid = {m: [d.uuid for d in read_inventory(fake.MACHINES[m]()).devices] for m in fake.MACHINES}
    a100_80 = mig_slice_usage(read_inventory(fake.dgx_a100_80gb()))
    assert a100_80 == (
        MigSliceUsage(0, uuid["dgx_a100_80gb"][0], total_slices=7, used_slices=7),
        MigSliceUsage(1, uuid["dgx_a100_80gb"][1], total_slices=7, used_slices=7),
        MigSliceUsage(2, uuid["dgx_a100_80gb"][2], total_slices=7, used_slices=5),
        MigSliceUsage(3, uuid["dgx_a100_80gb"][3], total_slices=7, used_slices=0),
        MigSliceUsage(4, uuid["dgx_a100_80gb"][4], total_slices=7, used_slices=6),
    )
    assert [u.free_slices for u in a100_80] == [0, 0, 2, 7, 1]
    # 4g.20gb + (2c.3g.20gb + 1c.3g.20gb in one GPU instance) holds 4 + 3 slices, not 4 + 3 + 3
    a100_40 = mig_slice_usage(read_inventory(fake.dgx_a100_40gb()))
    assert [(u.gpu, u.used_slices) for u in a100_40] == [(0, 7), (1, 7)]


def test_mig_slice_usage_without_gpu_instance_ids():
    nvml = fake.dgx_a100_80gb()
    nvml.fail("nvmlDeviceGetGpuInstanceId", fake.FUNCTION_NOT_FOUND)
    inv = read_inventory(nvml)
    assert {m.gpu_instance_id for d in inv.devices for m in d.mig_devices} == {None}
    assert [u.used_slices for u in mig_slice_usage(inv)] == [7, 7, 5, 0, 6]


# --- errors ------------------------------------------------------------------------------------


def _unavailable(nvml) -> NvmlUnavailable:
    with pytest.raises(NvmlUnavailable) as caught:
        read_inventory(nvml)
    return caught.value


def test_library_not_found():
    nvml = fake.hgx_h100_80gb()
    nvml.library_missing()
    err = _unavailable(nvml)
    assert (err.reason, err.code) == ("library_not_found", 12)
    assert str(err) == (
        "NVML unavailable (library_not_found): nvmlInit: NVML Shared Library Not Found "
        "(NVML error 12)"
    )
    assert "nvmlShutdown" not in nvml.calls  # nothing to shut down after a failed init


def test_driver_not_loaded():
    nvml = fake.dgx_a100_40gb()
    nvml.driver_not_loaded()
    err = _unavailable(nvml)
    assert (err.reason, err.code) == ("driver_not_loaded", 9)


def test_gpu_lost_fails_the_whole_read_and_still_shuts_down():
    nvml = fake.dgx_a100_80gb()
    nvml.lose_gpu(5)
    err = _unavailable(nvml)
    assert (err.reason, err.code) == ("gpu_lost", 15)
    assert "on GPU 5" in str(err) and "\n" not in str(err)
    assert nvml.calls.count("nvmlInit") == nvml.calls.count("nvmlShutdown") == 1


def test_gpu_lost_on_a_mig_device():
    nvml = fake.hgx_h100_80gb()
    nvml.fail("nvmlDeviceGetAttributes", fake.GPU_IS_LOST, gpu=2)
    assert _unavailable(nvml).reason == "gpu_lost"


@pytest.mark.parametrize("code", [fake.NOT_SUPPORTED, fake.FUNCTION_NOT_FOUND])
@pytest.mark.parametrize("function", ["nvmlDeviceGetUtilizationRates", "nvmlDeviceGetPowerUsage"])
def test_unsupported_readings_are_none(function, code):
    nvml = fake.dgx_a100_40gb()
    nvml.fail(function, code)
    inv = read_inventory(nvml)
    field = "utilization_ratio" if "Utilization" in function else "power_watts"
    assert {getattr(d, field) for d in inv.devices} == {None}
    assert len(inv.devices) == 8


def test_unsupported_reading_on_one_gpu_only():
    nvml = fake.hgx_h100_80gb()
    nvml.fail("nvmlDeviceGetPowerUsage", fake.NOT_SUPPORTED, gpu=4)
    inv = read_inventory(nvml)
    assert [d.power_watts is None for d in inv.devices] == [False] * 4 + [True] + [False] * 3


def test_driver_older_than_mig_reports_whole_gpus():
    nvml = fake.dgx_a100_80gb()
    nvml.old_driver()
    inv = read_inventory(nvml)
    assert [d.mig_enabled for d in inv.devices] == [False] * 8
    assert all(d.mig_devices == () for d in inv.devices)
    assert mig_slice_usage(inv) == ()


def test_bindings_without_a_call_are_an_old_driver():
    nvml = fake.dgx_a100_80gb()
    calls = {n: getattr(nvml, n) for n in dir(nvml) if n.startswith("nvml")}
    del calls["nvmlDeviceGetGpuInstanceId"]
    older_bindings = SimpleNamespace(NVMLError=nvml.NVMLError, **calls)
    inv = read_inventory(older_bindings)
    assert inv.devices[0].mig_devices[0].gpu_instance_id is None


def test_mig_enumeration_missing_while_mig_is_on_is_fatal():
    nvml = fake.hgx_h100_80gb()
    nvml.fail("nvmlDeviceGetMigDeviceHandleByIndex", fake.FUNCTION_NOT_FOUND)
    err = _unavailable(nvml)
    assert (err.reason, err.code) == ("function_not_found", 13)
    assert "nvmlDeviceGetMigDeviceHandleByIndex on GPU 0 MIG device 0" in str(err)


def test_required_call_not_supported_is_fatal():
    nvml = fake.dgx_a100_40gb()
    nvml.fail("nvmlDeviceGetMemoryInfo", fake.NOT_SUPPORTED, gpu=6)
    err = _unavailable(nvml)
    assert (err.reason, err.code) == ("not_supported", 3)


@pytest.mark.parametrize("code", [999, 18, 4])  # unknown, NVML/RM mismatch, no permission
def test_other_errors_are_unknown(code):
    nvml = fake.dgx_a100_40gb()
    nvml.fail("nvmlDeviceGetCount", code)
    err = _unavailable(nvml)
    assert (err.reason, err.code) == ("unknown", code)


def test_failed_shutdown_keeps_the_answer():
    nvml = fake.dgx_a100_40gb()
    nvml.fail("nvmlShutdown", 999)
    assert len(read_inventory(nvml).devices) == 8


# --- NvmlSource --------------------------------------------------------------------------------


def test_source_keeps_last_good_inventory_and_counts_errors():
    nvml = fake.dgx_a100_80gb()
    source = NvmlSource(nvml)
    assert source.inventory is None and not source.up
    assert source.refresh() is True
    good = source.inventory
    assert good is not None and source.up and source.last_error is None

    nvml.lose_gpu(6)  # falls off the bus between two refreshes
    assert source.refresh() is False
    assert source.refresh() is False
    assert source.inventory is good
    assert not source.up
    assert source.last_error is not None and source.last_error.reason == "gpu_lost"
    assert source.errors == {**dict.fromkeys(REASONS, 0), "gpu_lost": 2}

    nvml.heal()
    nvml.unplug_gpu(6)  # the driver came back without it
    assert source.refresh() is True
    assert source.up and source.last_error is None
    assert source.inventory is not None and len(source.inventory.devices) == 7
    assert source.errors["gpu_lost"] == 2  # a counter: it does not go back down


def test_source_on_a_machine_without_nvml():
    nvml = fake.dgx_a100_40gb()
    nvml.library_missing()
    source = NvmlSource(nvml)
    assert source.refresh() is False
    assert source.inventory is None
    families = {f.name: f for f in source.metric_families("node-a")}
    assert list(families) == ["gpucost_nvml_up", "gpucost_nvml_errors_total"]
    assert families["gpucost_nvml_up"].samples == [((), 0.0)]
    errors = dict(families["gpucost_nvml_errors_total"].samples)
    assert errors[(("reason", "library_not_found"),)] == 1.0


def _scrape(source: NvmlSource, node: str = "gpu-node-1") -> dict[str, list]:
    text = "".join(render_family(f) for f in source.metric_families(node))
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_exposition_parses_and_says_what_nvml_said():
    nvml = fake.hgx_h100_80gb()
    source = NvmlSource(nvml)
    source.refresh()
    scraped = _scrape(source)
    assert list(scraped) == [
        "gpucost_nvml_up",
        "gpucost_nvml_errors",  # the parser names counter families without _total
        "gpucost_nvml_driver_info",
        "gpucost_gpu_info",
        "gpucost_gpu_memory_bytes",
        "gpucost_gpu_utilization_ratio",
        "gpucost_gpu_memory_used_bytes",
        "gpucost_gpu_power_watts",
    ]
    assert scraped["gpucost_nvml_up"] == [("gpucost_nvml_up", {}, 1.0)]
    assert scraped["gpucost_nvml_driver_info"] == [
        ("gpucost_nvml_driver_info", {"version": "550.54.15"}, 1.0)
    ]
    assert [labels["reason"] for _, labels, _ in scraped["gpucost_nvml_errors"]] == list(REASONS)

    info = scraped["gpucost_gpu_info"]
    assert len(info) == 8 + 7 + 2 + 4
    inv = source.inventory
    assert inv is not None
    gpu2, mig = inv.devices[2], inv.devices[2].mig_devices[2]
    labels = {"node": "gpu-node-1", "model": "NVIDIA-H100-80GB-HBM3"}
    whole = {**labels, "gpu": "2", "uuid": gpu2.uuid, "mig_profile": ""}
    media = {**labels, "gpu": "2/2", "uuid": mig.uuid, "mig_profile": "1g.10gb+me"}
    assert ("gpucost_gpu_info", whole, 1.0) in info
    assert ("gpucost_gpu_info", media, 1.0) in info

    util = {labels["gpu"]: value for _, labels, value in scraped["gpucost_gpu_utilization_ratio"]}
    assert util == {"3": 0.37, "4": 0.99, "5": 0.12, "6": 0.0, "7": 0.0}  # MIG GPUs 0-2 absent
    power = {labels["gpu"]: value for _, labels, value in scraped["gpucost_gpu_power_watts"]}
    assert power["4"] == 690.25
    memory = {labels["gpu"]: value for _, labels, value in scraped["gpucost_gpu_memory_bytes"]}
    assert set(memory.values()) == {81559 * MIB}
    used = {labels["gpu"]: value for _, labels, value in scraped["gpucost_gpu_memory_used_bytes"]}
    assert used["0"] == 87 * MIB and used["4"] == 80_003 * MIB


def test_exposition_while_nvml_fails_keeps_inventory_drops_live_readings():
    nvml = fake.dgx_a100_40gb()
    source = NvmlSource(nvml)
    source.refresh()
    nvml.lose_gpu(2)
    source.refresh()
    scraped = _scrape(source)
    assert scraped["gpucost_nvml_up"] == [("gpucost_nvml_up", {}, 0.0)]
    errors = {labels["reason"]: value for _, labels, value in scraped["gpucost_nvml_errors"]}
    assert errors == {**dict.fromkeys(REASONS, 0.0), "gpu_lost": 1.0}
    assert len(scraped["gpucost_gpu_info"]) == 8 + 4 + 3
    assert len(scraped["gpucost_gpu_memory_bytes"]) == 8
    for live in ("utilization_ratio", "memory_used_bytes", "power_watts"):
        assert f"gpucost_gpu_{live}" not in scraped


def test_exposition_label_values_are_escaped():
    nvml = fake.dgx_a100_40gb()
    nvml.driver_version = 'odd "version"\\1'
    source = NvmlSource(nvml)
    source.refresh()
    scraped = _scrape(source, node='node-"x"')
    assert scraped["gpucost_nvml_driver_info"][0][1] == {"version": 'odd "version"\\1'}
    assert scraped["gpucost_gpu_info"][0][1]["node"] == 'node-"x"'

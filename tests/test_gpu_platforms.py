"""GPU nodes as GKE, EKS (Bottlerocket, Karpenter), AKS and AMD present them (issue 9): a
published node in, physical GPUs, model, sharing and exact costs out. Fixtures and their
sources: tests/platform_nodes.py. Prices are round so every figure can be checked by hand."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucost.state import CostState

from builders import assert_gpu_conserved, container, engine, exact, node, pod, pod_key
from platform_nodes import (
    aks_nd96asr_mig1g,
    amd_mi300x_cpx,
    bottlerocket_p5_shared,
    gfd_old_names,
    gke_mig,
    gke_timeshared_l4,
    gke_timeshared_n1_t4,
    intel_max_1550_shared,
    karpenter_p4d_plugin_down,
)

# Unit prices only (no built-in instance prices): a node's GPU cost is physical GPUs x the
# model's price, so every figure below is a product of two round numbers.
PRICING = """
builtin_catalog: false
default: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 2.0}
gpu_models:
  NVIDIA-L4: 0.8
  nvidia-tesla-t4: 0.4              # a GKE accelerator name as the key: same model as Tesla-T4
  NVIDIA-A100-SXM4-40GB: 3.5        # 0.5 per compute slice of 7
  NVIDIA-H100-80GB-HBM3: 7.0        # 1.0 per compute slice
  AMD_Instinct_MI300X_OAM: 4.0      # the node labeller's spelling
"""



def gpu_pod(name: str, node_name: str, resource: str, units: int = 1) -> dict[str, Any]:
    return pod(name, node_name, container(cpu="100m", limits={resource: str(units)}))


def gpu_pod_cost(s: CostState, p: dict[str, Any]) -> float:
    cost = s.pod_cost(pod_key(p))
    assert cost is not None
    return cost.gpu


def gpu_info(s: CostState, name: str) -> str:
    return next(line for line in s.render().splitlines() if line.startswith(f'gpucost_node_gpu_info{{node="{name}"'))


def sample(s: CostState, metric: str, **labels: str) -> float | None:
    for name, lbls, value in s.series():
        if name == metric and all(dict(lbls).get(k) == v for k, v in labels.items()):
            return value
    return None



# ------------------------------------------------------------------ GKE


def test_gke_time_shared_l4_is_one_gpu_not_eight() -> None:
    # g2-standard-8 has 1 L4 (catalog); 8 clients per GPU -> each nvidia.com/gpu is 1/8 of 0.80.
    n = gke_timeshared_l4(clients=8)
    pods = [gpu_pod(f"infer-{i}", n["metadata"]["name"], "nvidia.com/gpu") for i in range(3)]
    s = engine([n, *pods], PRICING)
    name = n["metadata"]["name"]
    assert [s.pod_cost(pod_key(p)).gpu for p in pods] == [exact(0.1)] * 3
    assert s.node_cost(name).cost["gpu"] == exact(0.8)
    assert s.node_cost(name).idle["gpu"] == exact(0.5)  # 0.8 - 3 x 0.1
    assert sample(s, "gpucost_node_gpus", node=name) == 1
    assert sample(s, "gpucost_node_gpu_unit_weight", node=name, resource="nvidia.com/gpu") == 0.125
    assert 'gpu_model="NVIDIA-L4",vendor="nvidia",sharing="time-slicing",mig_strategy="none",source="instance_type"' in gpu_info(s, name)
    assert_gpu_conserved(s, name, pods)


def test_gke_time_shared_t4_on_n1_counts_gpus_through_the_clients_label() -> None:
    # n1-standard-4 with 2 attached T4s, 4 clients each: 8 units = 2 GPUs at 0.40 (the pricing key
    # nvidia-tesla-t4 is GKE's name for the same model).
    n = gke_timeshared_n1_t4(gpus=2, clients=4)
    p = gpu_pod("nb", n["metadata"]["name"], "nvidia.com/gpu")
    s = engine([n, p], PRICING)
    name = n["metadata"]["name"]
    assert s.node_cost(name).cost["gpu"] == exact(0.8)
    assert s.pod_cost(pod_key(p)).gpu == exact(0.1)  # 0.4 / 4
    assert 'gpu_model="NVIDIA-T4",vendor="nvidia",sharing="time-slicing",mig_strategy="none",source="capacity"' in gpu_info(s, name)
    assert "gpucost_gpu_price_defaulted" not in s.render()


@pytest.mark.parametrize(
    ("accelerator", "instance_type", "partition", "units", "clients", "reserved", "physical", "per_pod", "node_gpu", "idle"),
    [
        # a2-highgpu-2g, 2 x A100 40GB as 1g.5gb: 7 per GPU = 14 units, 1/7 x 3.5 = 0.5 each.
        ("nvidia-tesla-a100", "a2-highgpu-2g", "1g.5gb", 14, None, 5, 2, 0.5, 7.0, 4.5),
        # a3-highgpu-8g, 8 x H100 as 3g.40gb: 2 per GPU = 16 units, 3/7 x 7.0 = 3.0 each; all 16
        # reserved still leave 1 slice per GPU unused: idle 8 x 1.0.
        ("nvidia-h100-80gb", "a3-highgpu-8g", "3g.40gb", 16, None, 16, 8, 3.0, 56.0, 8.0),
        # a2-highgpu-1g, 1 x A100 40GB as 1g.5gb, each partition time-shared by 2 clients:
        # 14 units of 1/7 / 2 = 1/14 GPU = 0.25.
        ("nvidia-tesla-a100", "a2-highgpu-1g", "1g.5gb", 14, 2, 3, 1, 0.25, 3.5, 2.75),
    ],
)
def test_gke_mig_partitions(
    accelerator: str, instance_type: str, partition: str, units: int, clients: int | None, reserved: int,
    physical: int, per_pod: float, node_gpu: float, idle: float,
) -> None:
    n = gke_mig("gke-mig", accelerator, instance_type, partition, units, cpu="96", memory="680Gi", clients=clients)
    pods = [gpu_pod(f"p{i}", "gke-mig", "nvidia.com/gpu") for i in range(reserved)]
    s = engine([n, *pods], PRICING)
    assert sample(s, "gpucost_node_gpus", node="gke-mig") == physical
    assert [s.pod_cost(pod_key(p)).gpu for p in pods] == [exact(per_pod)] * reserved
    assert s.node_cost("gke-mig").cost["gpu"] == exact(node_gpu)
    assert s.node_cost("gke-mig").idle["gpu"] == exact(idle)
    assert 'sharing="mig",mig_strategy="single",source="instance_type"' in gpu_info(s, "gke-mig")
    assert sample(s, "gpucost_node_info", node="gke-mig", capacity_type="spot") == 1
    assert_gpu_conserved(s, "gke-mig", pods)


# ------------------------------------------------------------------ EKS


def test_bottlerocket_p5_shared_units_are_sixteenths_of_eight_h100s() -> None:
    # Built-in prices: p5.48xlarge 55.04 $/h split by default weights: cpu 192 x 0.031611 =
    # 6.069312, memory 2048 x 0.004237 = 8.677376, gpu 8 x 5.036664 (the H100 price derived from
    # the same instance) = 40.293312; the weights add up to 55.04, so the GPU share is 40.293312.
    # 128 units on 8 GPUs and no replicas label: 16 units per GPU inferred, 5.036664 / 16 each.
    n = bottlerocket_p5_shared()
    name = n["metadata"]["name"]
    p = gpu_pod("trainer", name, "nvidia.com/gpu.shared", 2)
    s = engine([n, p])
    nc = s.node_cost(name)
    assert sum(nc.cost.values()) == exact(55.04)
    assert nc.cost["gpu"] == pytest.approx(40.293312, rel=1e-9)
    assert s.pod_cost(pod_key(p)).gpu == pytest.approx(2 * 5.036664 / 16, rel=1e-9)
    assert sample(s, "gpucost_node_gpus", node=name) == 8
    assert sample(s, "gpucost_node_gpu_unit_weight", node=name, resource="nvidia.com/gpu.shared") == 0.0625
    assert 'gpu_model="NVIDIA-H100-80GB-HBM3",vendor="nvidia",sharing="inferred",mig_strategy="none",source="instance_type"' in gpu_info(s, name)
    assert sample(s, "gpucost_node_info", node=name, capacity_type="on-demand") == 1
    assert_gpu_conserved(s, name, [p])


def test_inferred_ratio_is_overridden_by_gpu_weights() -> None:
    n = bottlerocket_p5_shared()
    name = n["metadata"]["name"]
    p = gpu_pod("trainer", name, "nvidia.com/gpu.shared", 1)
    s = engine([n, p], "gpu_weights: {nvidia.com/gpu.shared: 0.125}\n")
    assert s.pod_cost(pod_key(p)).gpu == pytest.approx(5.036664 / 8, rel=1e-9)
    assert 'sharing="none"' in gpu_info(s, name)  # the configured weight is a declaration


def test_shared_units_with_no_physical_count_are_not_gpus() -> None:
    # nvidia.com/gpu.shared on an instance type nothing knows, no labels: the physical GPUs
    # behind the 40 units are unknown, so none are invented: no GPU cost, flagged.
    n = node("mystery", labels={"node.kubernetes.io/instance-type": "x9.metal"}, extra={"nvidia.com/gpu.shared": "40"})
    p = gpu_pod("a", "mystery", "nvidia.com/gpu.shared")
    s = engine([n, p], PRICING)
    assert s.pod_cost(pod_key(p)).gpu == 0.0
    assert sample(s, "gpucost_node_gpus", node="mystery") is None
    assert sample(s, "gpucost_node_gpu_unit_weight", node="mystery", resource="nvidia.com/gpu.shared") == 0.0
    assert "gpu" not in s.node_cost("mystery").cost


def test_karpenter_labels_count_gpus_when_the_device_plugin_is_down() -> None:
    # 8 x A100 40GB at 3.5 from Karpenter's labels; nothing advertised, so all 28.0 is idle.
    n = karpenter_p4d_plugin_down()
    name = n["metadata"]["name"]
    s = engine([n], PRICING)
    assert s.node_cost(name).cost["gpu"] == exact(28.0)
    assert s.node_cost(name).idle["gpu"] == exact(28.0)
    assert 'gpu_model="NVIDIA-A100-SXM4-40GB",vendor="nvidia",sharing="none",mig_strategy="none",source="labels"' in gpu_info(s, name)
    assert sample(s, "gpucost_node_info", node=name, capacity_type="spot") == 1


# ------------------------------------------------------------------ AKS


def test_aks_mig1g_without_gfd_takes_model_and_count_from_the_vm_size() -> None:
    # 56 x 1g.5gb on 8 A100 40GB (catalog): 1/7 x 3.5 = 0.5 each; 8 x 3.5 = 28.0.
    n = aks_nd96asr_mig1g()
    name = n["metadata"]["name"]
    pods = [gpu_pod(f"w{i}", name, "nvidia.com/mig-1g.5gb") for i in range(10)]
    s = engine([n, *pods], PRICING)
    assert [s.pod_cost(pod_key(p)).gpu for p in pods] == [exact(0.5)] * 10
    assert s.node_cost(name).cost["gpu"] == exact(28.0)
    assert s.node_cost(name).idle["gpu"] == exact(23.0)
    assert 'gpu_model="NVIDIA-A100-SXM4-40GB",vendor="nvidia",sharing="mig",mig_strategy="mixed",source="instance_type"' in gpu_info(s, name)
    assert "gpucost_gpu_price_defaulted" not in s.render()
    assert_gpu_conserved(s, name, pods)


def test_aks_mig1g_with_built_in_prices_splits_by_the_a100_price() -> None:
    # Standard_ND96asr_v4 lists at 32.63 $/h in southcentralus, the fixture's region (Azure Retail
    # Prices API, 2026-06-18; 27.197 in eastus). Weights: cpu 96 x 0.031611 = 3.034656, memory
    # 900 x 0.004237 = 3.8133, gpu 8 x 1.75524525 (A100 40GB price derived from p4d.24xlarge:
    # (21.957642 - 3.034656 - 4.881024) / 8) = 14.041962; total weight 20.889918.
    n = aks_nd96asr_mig1g()
    name = n["metadata"]["name"]
    p = gpu_pod("w", name, "nvidia.com/mig-1g.5gb")
    s = engine([n, p])
    gpu = 32.63 * 14.041962 / 20.889918
    assert s.node_cost(name).cost["gpu"] == pytest.approx(gpu, rel=1e-9)
    assert s.pod_cost(pod_key(p)).gpu == pytest.approx(gpu / 56, rel=1e-9)


# ------------------------------------------------------------------ AMD


@pytest.mark.parametrize(("strategy", "resource", "source"), [
    ("single", "amd.com/gpu", "capacity"),
    ("mixed", "amd.com/cpx_nps4", "capacity"),
])
def test_amd_mi300x_cpx_is_eight_gpus_under_both_naming_strategies(strategy: str, resource: str, source: str) -> None:
    # 64 CPX partitions, 8 per MI300X (8 XCDs): 8 GPUs x 4.0 = 32.0; 3 partitions = 3/8 x 4.0.
    n = amd_mi300x_cpx(strategy)
    name = n["metadata"]["name"]
    p = gpu_pod("llm", name, resource, 3)
    s = engine([n, p], PRICING)
    assert sample(s, "gpucost_node_gpus", node=name) == 8
    assert s.node_cost(name).cost["gpu"] == exact(32.0)
    assert s.pod_cost(pod_key(p)).gpu == exact(1.5)
    assert f'gpu_model="AMD-Instinct-MI300X",vendor="amd",sharing="partitioned",mig_strategy="none",source="{source}"' in gpu_info(s, name)
    assert_gpu_conserved(s, name, [p])


def test_amd_mi300a_cpx_has_six_partitions_per_gpu() -> None:
    labels = {"amd.com/gpu.product-name": "AMD Instinct MI300A", "amd.com/compute-memory-partition": "cpx_nps1"}
    s = engine([node("apu", labels=labels, extra={"amd.com/gpu": "24"})], "gpu_models: {AMD-Instinct-MI300A: 3.0}\n")
    assert sample(s, "gpucost_node_gpus", node="apu") == 4  # 24 / 6
    assert sample(s, "gpucost_node_gpu_unit_weight", node="apu", resource="amd.com/gpu") == pytest.approx(1 / 6)


# ------------------------------------------------------------------ Intel


def test_intel_shared_devices_are_inferred_from_the_device_count() -> None:
    # 2 x Max 1550 at 1.5 $/h; shared-dev-num 4 advertises 8 units: each 1/4 GPU = 0.375.
    n = intel_max_1550_shared(4)
    p = gpu_pod("xpu", "intel-max-0", "gpu.intel.com/i915", 3)
    s = engine([n, p], "gpu_models: {Intel-Data-Center-GPU-Max-1550: 1.5}\n")
    assert s.node_cost("intel-max-0").cost["gpu"] == exact(3.0)
    assert gpu_pod_cost(s, p) == exact(3 * 0.375)
    assert 'gpu_model="Intel-Data-Center-GPU-Max-1550",vendor="intel",sharing="inferred",mig_strategy="none",source="labels"' in gpu_info(s, "intel-max-0")
    assert sample(s, "gpucost_node_gpu_unit_weight", node="intel-max-0", resource="gpu.intel.com/i915") == 0.25


# ------------------------------------------------------------------ model names


@pytest.mark.parametrize(("product", "canonical", "per_gpu"), [
    # Built-in prices derived from AWS list prices (catalog.derived_gpu_price).
    ("A100-SXM4-40GB", "NVIDIA-A100-SXM4-40GB", (21.957642 - 96 * 0.031611 - 1152 * 0.004237) / 8),
    ("Tesla-T4", "NVIDIA-T4", 0.526 - 4 * 0.031611 - 16 * 0.004237),
    ("NVIDIA-A10G-SHARED", "NVIDIA-A10G", 1.006 - 4 * 0.031611 - 16 * 0.004237),
])
def test_old_gfd_names_find_their_built_in_price(product: str, canonical: str, per_gpu: float) -> None:
    s = engine([gfd_old_names("old", product, 2)])
    assert s.node_cost("old").cost["gpu"] == pytest.approx(2 * per_gpu, rel=1e-9)
    assert f'gpu_model="{canonical}"' in gpu_info(s, "old")
    assert "gpucost_gpu_price_defaulted" not in s.render()


# ------------------------------------------------------------------ property


PLATFORMS = ["gfd", "gke", "karpenter", "catalog", "bottlerocket", "amd"]


@st.composite
def platform_nodes(draw: st.DrawFn) -> tuple[dict[str, Any], int, str, list[dict[str, Any]]]:
    """A node of a random platform, the physical GPUs its authoritative source states, the
    resource pods ask for, and pods reserving random amounts of it."""
    kind = draw(st.sampled_from(PLATFORMS))
    physical = draw(st.integers(1, 8))
    units = physical * draw(st.integers(1, 16))
    advertised = draw(st.integers(0, units))  # unhealthy or missing devices advertise fewer
    labels: dict[str, str] = {}
    resource = "nvidia.com/gpu"
    if kind == "gfd":
        replicas = units // physical
        labels = {"nvidia.com/gpu.product": "NVIDIA-A10G", "nvidia.com/gpu.count": str(physical)}
        if replicas > 1:
            labels["nvidia.com/gpu.replicas"] = str(replicas)
    elif kind == "gke":
        labels = {"cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-accelerator-count": str(physical)}
        if units > physical:
            labels |= {"cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
                       "cloud.google.com/gke-max-shared-clients-per-gpu": str(units // physical)}
    elif kind == "karpenter":
        labels = {"karpenter.k8s.aws/instance-gpu-count": str(physical), "karpenter.k8s.aws/instance-gpu-name": "l4"}
    elif kind == "catalog":
        physical = 8
        labels = {"node.kubernetes.io/instance-type": "g6.48xlarge"}
    elif kind == "bottlerocket":
        physical = 8
        labels = {"node.kubernetes.io/instance-type": "p5.48xlarge"}
        resource = "nvidia.com/gpu.shared"
    else:
        labels = {"amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM", "amd.com/gpu.count": str(physical),
                  "amd.com/compute-memory-partition": draw(st.sampled_from(["spx_nps1", "dpx_nps2", "qpx_nps1", "cpx_nps4"]))}
        resource = "amd.com/gpu"
    n = node("n", cpu="64", memory="256Gi", labels=labels, extra={resource: str(advertised)})
    pods = [gpu_pod(f"p{i}", "n", resource, draw(st.integers(1, 3))) for i in range(draw(st.integers(0, 5)))]
    return n, physical, resource, pods


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(platform_nodes())
def test_costed_gpus_never_exceed_the_authoritative_count(case: tuple[dict[str, Any], int, str, list[dict[str, Any]]]) -> None:
    n, physical, _, pods = case
    s = engine([n, *pods], "gpu_models: {NVIDIA-A10G: 1.0, NVIDIA-L4: 0.8, NVIDIA-H100-80GB-HBM3: 7.0, AMD-Instinct-MI300X: 4.0}\n")
    costed = sample(s, "gpucost_node_gpus", node="n") or 0
    assert costed <= physical
    nc = s.node_cost("n")
    for res in nc.cost:
        paid = sum(getattr(s.pod_cost(pod_key(p)), res) for p in pods)
        assert paid + nc.idle[res] == pytest.approx(nc.cost[res], rel=1e-9, abs=1e-12)
        assert nc.idle[res] >= -1e-12


def test_pricing_file_keys_naming_one_model_twice_are_an_error() -> None:
    from gpucost.pricing import PricingError
    from gpucost.pricing_file import parse_pricing

    with pytest.raises(PricingError, match=r"p.yaml:3: gpu_models.Tesla-T4: names the same GPU model as 'nvidia-tesla-t4' \(NVIDIA-T4\)"):
        parse_pricing("gpu_models:\n  nvidia-tesla-t4: 0.4\n  Tesla-T4: 0.5\n", "p.yaml")


def test_every_priced_gpu_instance_type_has_a_hardware_entry() -> None:
    from gpucost import catalog, gpumodels

    for itype, (_, _, _, gpus, _) in catalog.INSTANCE_TYPES.items():
        if gpus:
            assert catalog.INSTANCE_GPUS[itype][0] == gpus, itype
    for itype, (_, model) in catalog.INSTANCE_GPUS.items():
        assert gpumodels.by_name(model) is not None, (itype, model)

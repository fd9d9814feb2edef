"""GPUs as they are really shared (issue 4): time-slicing, MPS, MIG, AMD and Intel, per-model
prices, inventory sources. Prices are chosen so the arithmetic is easy to check by hand; every
test also checks conservation (pods + idle = node cost) on the GPU resource."""

from __future__ import annotations

from typing import Any

import pytest

from gpucost.pricing import PricingConfig
from gpucost.pricing_file import parse_pricing
from gpucost.state import CostState

from builders import assert_gpu_conserved, container, engine, exact, node, pod, pod_key

PRICING = """
default: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 2.0}
gpu_models:
  NVIDIA-A10G: 1.0
  NVIDIA-A100-SXM4-80GB: 3.5            # 0.5 per compute slice of 7
  NVIDIA-H100-80GB-HBM3: 7.0            # 1.0 per compute slice
  NVIDIA-A30: 2.0                       # 0.5 per compute slice of 4
  AMD-Instinct-MI300X-OAM: 4.0          # label AMD_Instinct_MI300X_OAM reads the same
  Intel-Data-Center-GPU-Max-1550: 1.5
"""



def gpu_pod(name: str, node_name: str, resource: str, units: int | str, **kw: Any) -> dict[str, Any]:
    return pod(name, node_name, container(cpu="100m", limits={resource: str(units)}), **kw)



def run(objs: list[dict[str, Any]], pricing: str | PricingConfig = PRICING) -> CostState:
    return engine(objs, pricing)


def test_time_slicing_with_four_replicas() -> None:
    # 4 x A10G at 1.0 $/h, 4 replicas each: nvidia.com/gpu 16 units of 1/4 GPU (0.25 $/h).
    labels = {"nvidia.com/gpu.product": "NVIDIA-A10G-SHARED", "nvidia.com/gpu.count": "4",
              "nvidia.com/gpu.replicas": "4", "nvidia.com/gpu.sharing-strategy": "time-slicing"}
    pods = [gpu_pod("a", "ts", "nvidia.com/gpu", 1), gpu_pod("b", "ts", "nvidia.com/gpu", 2),
            gpu_pod("c", "ts", "nvidia.com/gpu", 3)]
    s = run([node("ts", labels=labels, extra={"nvidia.com/gpu": "16"}), *pods])
    assert [s.pod_cost(pod_key(p)).gpu for p in pods] == [exact(0.25), exact(0.5), exact(0.75)]
    assert s.pod_cost(pod_key(pods[2])).gpus == {"nvidia.com/gpu": 0.75}
    nc = s.node_cost("ts")
    assert nc.cost["gpu"] == exact(4.0)  # 4 physical GPUs, not 16
    assert nc.idle["gpu"] == exact(2.5)  # 4 - 6/4
    assert_gpu_conserved(s, "ts", pods)
    text = s.render()
    assert 'gpucost_node_gpus{node="ts"} 4\n' in text
    assert 'sharing="time-slicing",mig_strategy="none",source="labels"' in text
    assert 'gpu_model="NVIDIA-A10G"' in text  # -SHARED stripped for pricing


def test_gpu_shared_rename_by_default() -> None:
    # renameByDefault: 2 GPUs x 4 replicas advertised as nvidia.com/gpu.shared (8 units).
    labels = {"nvidia.com/gpu.product": "NVIDIA-A10G", "nvidia.com/gpu.count": "2", "nvidia.com/gpu.replicas": "4"}
    pods = [gpu_pod("a", "sh", "nvidia.com/gpu.shared", 1), gpu_pod("b", "sh", "nvidia.com/gpu.shared", 1)]
    s = run([node("sh", labels=labels, extra={"nvidia.com/gpu.shared": "8"}), *pods])
    assert s.pod_cost(pod_key(pods[0])).gpu == exact(0.25)
    assert s.pod_cost(pod_key(pods[0])).gpus == {"nvidia.com/gpu.shared": 0.25}
    assert s.node_cost("sh").idle["gpu"] == exact(1.5)  # 2.0 - 0.5
    assert_gpu_conserved(s, "sh", pods)


def test_mps_replicas() -> None:
    # MPS with 2 replicas on 1 H100 (7.0 $/h): each replica is half the GPU.
    labels = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "1",
              "nvidia.com/gpu.replicas": "2", "nvidia.com/gpu.sharing-strategy": "mps"}
    p = gpu_pod("a", "mps", "nvidia.com/gpu", 1)
    s = run([node("mps", labels=labels, extra={"nvidia.com/gpu": "2"}), p])
    assert s.pod_cost(pod_key(p)).gpu == exact(3.5)
    assert 'sharing="mps"' in s.render()
    assert_gpu_conserved(s, "mps", [p])


def mig_mixed_node(name: str, capacity: dict[str, str], count: str = "2", product: str = "NVIDIA-A100-SXM4-80GB") -> dict[str, Any]:
    labels = {"nvidia.com/gpu.product": product, "nvidia.com/gpu.count": count, "nvidia.com/mig.strategy": "mixed"}
    return node(name, cpu="96", memory="1024Gi", labels=labels, extra={"nvidia.com/gpu": "0", **capacity})


def test_mig_mixed_on_a100_80gb() -> None:
    # GPU0: 7 x 1g.10gb; GPU1: 3g.40gb + 4g.40gb. 3.5 $/h per GPU = 0.5 per compute slice.
    # Six 1g pods (one slice unreserved), one 3g and one 4g pod.
    ones = [gpu_pod(f"one-{i}", "mig", "nvidia.com/mig-1g.10gb", 1) for i in range(6)]
    three = gpu_pod("three", "mig", "nvidia.com/mig-3g.40gb", 1)
    four = gpu_pod("four", "mig", "nvidia.com/mig-4g.40gb", 1)
    capacity = {"nvidia.com/mig-1g.10gb": "7", "nvidia.com/mig-3g.40gb": "1", "nvidia.com/mig-4g.40gb": "1"}
    s = run([mig_mixed_node("mig", capacity), *ones, three, four])
    assert s.pod_cost(pod_key(ones[0])).gpu == exact(0.5)  # 1/7 x 3.5
    assert s.pod_cost(pod_key(three)).gpu == exact(1.5)  # 3/7 x 3.5
    assert s.pod_cost(pod_key(four)).gpu == exact(2.0)  # 4/7 x 3.5
    assert s.pod_cost(pod_key(four)).gpus == {"nvidia.com/mig-4g.40gb": exact(4 / 7)}
    nc = s.node_cost("mig")
    assert nc.cost["gpu"] == exact(7.0)
    assert nc.idle["gpu"] == exact(0.5)  # the one unreserved 1g slice
    assert_gpu_conserved(s, "mig", [*ones, three, four])
    assert 'sharing="mig",mig_strategy="mixed",source="labels"' in s.render()


def test_mig_media_extension_profile() -> None:
    # nvidia.com/mig-1g.10gb.me is still one compute slice.
    p = gpu_pod("me", "mig", "nvidia.com/mig-1g.10gb.me", 1)
    s = run([mig_mixed_node("mig", {"nvidia.com/mig-1g.10gb.me": "1"}, count="1"), p])
    assert s.pod_cost(pod_key(p)).gpu == exact(0.5)


def test_mig_layout_that_strands_compute() -> None:
    # One A100 80GB as 4 x 1g.20gb: all four reserved still use only 4 of 7 compute slices,
    # so 3/7 of the GPU (1.5 $/h) stays idle and nobody is overcharged.
    pods = [gpu_pod(f"p{i}", "mig", "nvidia.com/mig-1g.20gb", 1) for i in range(4)]
    s = run([mig_mixed_node("mig", {"nvidia.com/mig-1g.20gb": "4"}, count="1"), *pods])
    assert [s.pod_cost(pod_key(p)).gpu for p in pods] == [exact(0.5)] * 4
    assert s.node_cost("mig").idle["gpu"] == exact(1.5)
    assert_gpu_conserved(s, "mig", pods)


def test_mig_single_strategy() -> None:
    # Single strategy: every nvidia.com/gpu is a 3g.40gb. GFD counts 4 MIG devices; at two
    # 3g.40gb per A100 that is 2 physical GPUs (7.0 $/h). A unit is 3/7 of a GPU = 1.5 $/h.
    labels = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-MIG-3g.40gb", "nvidia.com/gpu.count": "4",
              "nvidia.com/mig.strategy": "single"}
    pods = [gpu_pod("a", "single", "nvidia.com/gpu", 1), gpu_pod("b", "single", "nvidia.com/gpu", 2)]
    s = run([node("single", labels=labels, extra={"nvidia.com/gpu": "4"}), *pods])
    assert s.pod_cost(pod_key(pods[0])).gpu == exact(1.5)
    assert s.pod_cost(pod_key(pods[1])).gpu == exact(3.0)
    nc = s.node_cost("single")
    assert nc.cost["gpu"] == exact(7.0)
    assert nc.idle["gpu"] == exact(2.5)  # 7 - 4.5: a 3g.40gb unit unused plus 1 stranded slice per GPU
    assert_gpu_conserved(s, "single", pods)
    assert 'gpu_model="NVIDIA-A100-SXM4-80GB",vendor="nvidia",sharing="mig",mig_strategy="single"' in s.render()


def test_a30_has_four_compute_slices() -> None:
    # A30 (2.0 $/h): 2g.12gb is 2 of 4 slices = 1.0 $/h.
    p = gpu_pod("p", "a30", "nvidia.com/mig-2g.12gb", 1)
    s = run([mig_mixed_node("a30", {"nvidia.com/mig-2g.12gb": "2"}, count="1", product="NVIDIA-A30"), p])
    assert s.pod_cost(pod_key(p)).gpu == exact(1.0)
    assert_gpu_conserved(s, "a30", [p])


def test_amd_whole_and_partitioned() -> None:
    # Whole MI300X at 4.0 $/h: 3 GPUs reserved of 8 -> 12.0 paid, 20.0 idle.
    amd_labels = {"amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM"}
    whole = gpu_pod("whole", "mi300x", "amd.com/gpu", 3)
    # CPX mode: 8 compute partitions per GPU, 64 advertised; 2 partitions = 2/8 GPU = 1.0 $/h.
    part = gpu_pod("part", "mi300x-cpx", "amd.com/cpx_nps4", 2)
    s = run([
        node("mi300x", labels=amd_labels, extra={"amd.com/gpu": "8"}), whole,
        node("mi300x-cpx", labels=amd_labels, extra={"amd.com/cpx_nps4": "64"}), part,
    ])
    assert s.pod_cost(pod_key(whole)).gpu == exact(12.0)
    assert s.node_cost("mi300x").idle["gpu"] == exact(20.0)
    assert s.pod_cost(pod_key(part)).gpu == exact(1.0)
    assert s.node_cost("mi300x-cpx").cost["gpu"] == exact(32.0)  # 64 x 1/8 = 8 GPUs
    assert_gpu_conserved(s, "mi300x", [whole])
    assert_gpu_conserved(s, "mi300x-cpx", [part])
    text = s.render()
    assert 'gpucost_node_gpu_info{node="mi300x-cpx",gpu_model="AMD-Instinct-MI300X",vendor="amd",sharing="partitioned"' in text  # canonical name
    assert "gpucost_gpu_price_defaulted" not in text


def test_intel_model_from_device_id() -> None:
    # Intel Max 1550 (PCI id 0bd5) at 1.5 $/h; two of four reserved.
    labels = {"gpu.intel.com/device-id.0380-0bd5.present": "true"}
    p = gpu_pod("p", "intel", "gpu.intel.com/i915", 2)
    s = run([node("intel", labels=labels, extra={"gpu.intel.com/i915": "4"}), p])
    assert s.pod_cost(pod_key(p)).gpu == exact(3.0)
    assert s.node_cost("intel").idle["gpu"] == exact(3.0)
    assert 'vendor="intel"' in s.render()


def test_device_plugin_down_costs_all_gpus_as_idle() -> None:
    # GFD says 8 H100s but the device plugin advertises nothing: 8 x 7.0 = 56.0, all idle.
    labels = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8"}
    s = run([node("down", labels=labels)])
    nc = s.node_cost("down")
    assert (nc.cost["gpu"], nc.idle["gpu"]) == (exact(56.0), exact(56.0))


def test_instance_type_knows_gpus_when_nothing_else_does() -> None:
    # No GPU labels or capacity, but p5.48xlarge is known to carry 8 GPUs: they cost money, idle.
    s = run([node("p5", cpu="192", memory="2048Gi", labels={"node.kubernetes.io/instance-type": "p5.48xlarge"})],
            "default: {gpu_hour: 2.0}\n")
    nc = s.node_cost("p5")
    assert nc.idle["gpu"] == nc.cost["gpu"] > 0
    assert 'source="instance_type"' in s.render()


def test_unhealthy_gpu_is_idle() -> None:
    # Capacity 8, allocatable 7 (one unhealthy). Pods reserve all 7 healthy ones at 3.5:
    # 24.5 paid, the unhealthy GPU's 3.5 is idle.
    labels = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    pods = [gpu_pod("a", "sick", "nvidia.com/gpu", 4), gpu_pod("b", "sick", "nvidia.com/gpu", 3)]
    s = run([node("sick", labels=labels, extra={"nvidia.com/gpu": "8"}, alloc_extra={"nvidia.com/gpu": "7"}), *pods])
    assert s.pod_cost(pod_key(pods[0])).gpu == exact(14.0)
    assert s.node_cost("sick").idle["gpu"] == exact(3.5)
    assert_gpu_conserved(s, "sick", pods)


def test_two_models_two_prices() -> None:
    # The same pod shape pays 3.5 on an A100 node and 7.0 on an H100 node.
    a = gpu_pod("a", "a100", "nvidia.com/gpu", 1)
    h = gpu_pod("h", "h100", "nvidia.com/gpu", 1)
    s = run([
        node("a100", labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}, extra={"nvidia.com/gpu": "8"}), a,
        node("h100", labels={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, extra={"nvidia.com/gpu": "8"}), h,
    ])
    assert (s.pod_cost(pod_key(a)).gpu, s.pod_cost(pod_key(h)).gpu) == (exact(3.5), exact(7.0))


def test_unknown_model_priced_by_default_and_flagged() -> None:
    # NVIDIA-R100 is in no table: default.gpu_hour (2.0) applies and the node is flagged.
    labels = {"nvidia.com/gpu.product": "NVIDIA-R100"}
    s = run([node("new", labels=labels, extra={"nvidia.com/gpu": "8"})], PRICING + "builtin_catalog: false\n")
    assert s.node_cost("new").cost["gpu"] == exact(16.0)
    assert 'gpucost_gpu_price_defaulted{node="new",gpu_model="NVIDIA-R100"} 1\n' in s.render()


def test_weights_overridden_by_resource_name_and_mig_profile() -> None:
    # Overrides: a 1g.10gb counts 1/8 GPU; a time-sliced unit 1/2 (not 1/4).
    pricing = PRICING + 'gpu_weights:\n  1g.10gb: 0.125\n  nvidia.com/gpu.shared: 0.5\n'
    mig = gpu_pod("mig", "m", "nvidia.com/mig-1g.10gb", 1)
    shared = gpu_pod("sh", "t", "nvidia.com/gpu.shared", 1)
    s = run([
        mig_mixed_node("m", {"nvidia.com/mig-1g.10gb": "7"}, count="1"), mig,
        node("t", labels={"nvidia.com/gpu.product": "NVIDIA-A10G", "nvidia.com/gpu.count": "1", "nvidia.com/gpu.replicas": "4"},
             extra={"nvidia.com/gpu.shared": "4"}), shared,
    ], parse_pricing(pricing, "p.yaml"))
    assert s.pod_cost(pod_key(mig)).gpu == exact(3.5 / 8)
    assert s.pod_cost(pod_key(shared)).gpu == exact(0.5)


def test_nvml_inventory_wins_over_labels() -> None:
    # On its own node (DaemonSet mode) NVML says 4 x A100 80GB though labels say 8 x H100.
    labels = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8"}
    state = CostState(parse_pricing(PRICING, "p.yaml"), nvml_inventory=lambda n: (4, "NVIDIA-A100-SXM4-80GB") if n == "me" else (0, ""))
    from builders import decode

    state.upsert("Node", decode(node("me", labels=labels, extra={"nvidia.com/gpu": "4"})))
    state.upsert("Node", decode(node("other", labels=labels, extra={"nvidia.com/gpu": "8"})))
    state.flush()
    assert state.node_cost("me").cost["gpu"] == exact(14.0)  # 4 x 3.5
    assert state.node_cost("other").cost["gpu"] == exact(56.0)  # 8 x 7.0 from labels
    text = state.render()
    assert 'gpucost_node_gpu_info{node="me",gpu_model="NVIDIA-A100-SXM4-80GB",vendor="nvidia",sharing="none",mig_strategy="none",source="nvml"} 1' in text


def test_nvml_fake_machine_drives_pricing_and_falls_back_on_errors(caplog: pytest.LogCaptureFixture) -> None:
    # The real inventory code reads a fake HGX H100 (8 GPUs). Labels claim 2 A100s; NVML wins.
    from gpucost.cli import NodeInventory
    from gpucost.nvml_source import NvmlSource

    import fake_nvml
    from builders import decode

    fake = fake_nvml.hgx_h100_80gb()
    inventory = NodeInventory("me", NvmlSource(fake))
    assert inventory.refresh() is True
    # Another read with the GPUs busier: nothing to price again (count and model as before).
    fake.gpus[0].power_mw += 1000
    fake.gpus[3].utilization_pct = 100
    assert inventory.refresh() is False
    assert inventory.source.inventory is not None and inventory.source.inventory.devices[3].utilization_ratio == 1.0
    state = CostState(parse_pricing(PRICING, "p.yaml"), nvml_inventory=inventory)
    labels = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "2"}
    state.upsert("Node", decode(node("me", labels=labels)))
    state.flush()
    assert state.node_cost("me").cost["gpu"] == exact(56.0)  # 8 H100 x 7.0
    # The driver goes away: the last good inventory stays, the error is counted and logged once.
    fake.driver_not_loaded()
    assert inventory.refresh() is False
    assert inventory.refresh() is False
    state.refresh_nodes()
    state.flush()
    assert state.node_cost("me").cost["gpu"] == exact(56.0)
    assert len([r for r in caplog.records if "driver_not_loaded" in r.getMessage()]) == 1
    assert inventory.source.errors["driver_not_loaded"] == 2
    # A fresh process that never read NVML falls back to the labels: 2 x A100 at 3.5.
    cold = NodeInventory("me", NvmlSource(fake))
    cold.refresh()
    state2 = CostState(parse_pricing(PRICING, "p.yaml"), nvml_inventory=cold)
    state2.upsert("Node", decode(node("me", labels=labels)))
    state2.flush()
    assert state2.node_cost("me").cost["gpu"] == exact(7.0)
    assert 'source="labels"' in state2.render()
    # The driver back with one GPU fewer: the count changed, so the node is priced again.
    fake.heal()
    fake.unplug_gpu(7)
    assert inventory.refresh() is True
    state.refresh_nodes()
    state.flush()
    assert state.node_cost("me").cost["gpu"] == exact(49.0)  # 7 H100 x 7.0

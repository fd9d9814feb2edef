"""GPUs allocated without device-plugin units (issue 10): DRA claims, HAMi vGPUs, KAI fractions.
Objects from tests/allocation_objects.py (sources cited there); prices are round so each figure
is checked by hand."""

from __future__ import annotations

from typing import Any

from gpucost.state import CostState

from allocation_objects import (
    A100_80,
    claim,
    consumer,
    dra_node,
    gpu_device,
    hami_node,
    hami_pod_allocated,
    hami_pod_requests,
    kai_fractional_pod,
    kai_node,
    kai_reservation_pod,
    mig_device,
    resource_slice,
    shared_claim_pod,
    template_pod,
)
from builders import assert_gpu_conserved, container, decode, engine, exact, node, pod, pod_key

PRICING = """
builtin_catalog: false
default: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 9.0}
gpu_models:
  NVIDIA-A100-SXM4-80GB: 3.5          # 0.5 per compute slice
  NVIDIA-V100-PCIE-32GB: 2.0
  NVIDIA-A10G: 1.0
"""



def gpu(s: CostState, p: dict[str, Any]) -> float:
    cost = s.pod_cost(pod_key(p))
    assert cost is not None
    return cost.gpu



def two_gpus(node_name: str = "dra-1") -> dict[str, Any]:
    return resource_slice(node_name, [gpu_device("gpu-0", "GPU-4d4e8f0a-0000"), gpu_device("gpu-1", "GPU-4d4e8f0a-0001")])


# ------------------------------------------------------------------ DRA


def test_template_claim_for_one_gpu_pays_one_gpu() -> None:
    # 2 x A100 80GB published by the DRA driver: 7.0 $/h; the pod's generated claim holds gpu-0.
    p = template_pod("pod0", "gpu-test1", "dra-1", "pod0-gpu-7fz2x")
    c = claim("pod0-gpu-7fz2x", "gpu-test1", "dra-1", ["gpu-0"], [consumer(p)])
    s = engine([dra_node("dra-1"), two_gpus(), c, p], PRICING)
    assert gpu(s, p) == exact(3.5)
    assert s.node_cost("dra-1").cost["gpu"] == exact(7.0)
    assert s.node_cost("dra-1").idle["gpu"] == exact(3.5)
    text = s.render()
    assert 'gpu_model="NVIDIA-A100-SXM4-80GB",vendor="nvidia",sharing="none",mig_strategy="none",source="dra"' in text
    assert 'gpucost_node_allocator_gpus{node="dra-1",allocator="dra"} 2\n' in text
    assert 'pod="pod0",node="dra-1",owner_kind="",owner_name="",team="",product="",customer="",resource="gpu.nvidia.com"} 1\n' in text


def test_claim_shared_by_two_pods_splits_its_gpu() -> None:
    a, b = (shared_claim_pod(n, "gpu-test3", "dra-1", "single-gpu") for n in ("pod0", "pod1"))
    c = claim("single-gpu", "gpu-test3", "dra-1", ["gpu-1"], [consumer(a), consumer(b)])
    s = engine([dra_node("dra-1"), two_gpus(), c, a, b], PRICING)
    assert (gpu(s, a), gpu(s, b)) == (exact(1.75), exact(1.75))
    assert_gpu_conserved(s, "dra-1", [a, b])


def test_mig_device_claim_pays_its_compute_slices() -> None:
    # One A100 80GB as 1g.10gb x3 and 3g.40gb published; the GPU counts once (by parent UUID).
    parent = "GPU-4d4e8f0a-0000"
    devices = [mig_device(f"gpu-0-mig-1g10gb-{i}", f"MIG-aa{i}", parent, "1g.10gb", "9728Mi") for i in range(3)]
    devices.append(mig_device("gpu-0-mig-3g40gb-3", "MIG-bb3", parent, "3g.40gb", "39424Mi"))
    small = template_pod("small", "gpu-test4", "dra-1", "small-mig-1")
    large = template_pod("large", "gpu-test4", "dra-1", "large-mig-1")
    objs = [dra_node("dra-1"), resource_slice("dra-1", devices),
            claim("small-mig-1", "gpu-test4", "dra-1", ["gpu-0-mig-1g10gb-0"], [consumer(small)]),
            claim("large-mig-1", "gpu-test4", "dra-1", ["gpu-0-mig-3g40gb-3"], [consumer(large)]), small, large]
    s = engine(objs, PRICING)
    assert gpu(s, small) == exact(0.5)  # 1/7 x 3.5
    assert gpu(s, large) == exact(1.5)  # 3/7 x 3.5
    assert s.node_cost("dra-1").cost["gpu"] == exact(3.5)  # one physical GPU
    assert_gpu_conserved(s, "dra-1", [small, large])


def test_pod_deleted_while_its_claim_lives_leaves_the_gpu_idle() -> None:
    a, b = (shared_claim_pod(n, "gpu-test3", "dra-1", "single-gpu") for n in ("pod0", "pod1"))
    c = claim("single-gpu", "gpu-test3", "dra-1", ["gpu-1"], [consumer(a), consumer(b)])
    s = engine([dra_node("dra-1"), two_gpus(), c, a, b], PRICING)
    s.delete("Pod", decode(a))
    s.flush()
    assert gpu(s, b) == exact(3.5)  # the one pod left holds the whole claim
    s.delete("Pod", decode(b))
    s.flush()
    assert s.node_cost("dra-1").idle["gpu"] == exact(7.0)  # claim still allocated, nobody counted


def test_deallocated_claim_moves_its_cost_to_idle() -> None:
    p = template_pod("pod0", "gpu-test1", "dra-1", "pod0-gpu-7fz2x")
    s = engine([dra_node("dra-1"), two_gpus(), claim("pod0-gpu-7fz2x", "gpu-test1", "dra-1", ["gpu-0"], [consumer(p)]), p], PRICING)
    s.upsert("ResourceClaim", decode(claim("pod0-gpu-7fz2x", "gpu-test1", "dra-1", [], [])))
    s.flush()
    assert gpu(s, p) == 0.0
    assert s.node_cost("dra-1").idle["gpu"] == exact(7.0)
    assert "gpucost_pod_gpu_reserved_cost_per_hour{namespace=\"gpu-test1\",pod=\"pod0\"" not in s.render()


def test_allocated_but_unreserved_claim_and_admin_access_cost_nothing() -> None:
    p = shared_claim_pod("monitor", "gpu-test5", "dra-1", "admin")
    q = shared_claim_pod("waiting", "gpu-test5", "dra-1", "pending")
    objs = [dra_node("dra-1"), two_gpus(), p, q,
            claim("admin", "gpu-test5", "dra-1", ["gpu-0"], [consumer(p)], admin=True),
            claim("pending", "gpu-test5", "dra-1", ["gpu-1"], [])]
    s = engine(objs, PRICING)
    assert (gpu(s, p), gpu(s, q)) == (0.0, 0.0)
    assert s.node_cost("dra-1").idle["gpu"] == exact(7.0)


def test_consumable_capacity_pays_the_fraction_it_consumes() -> None:
    # DRAConsumableCapacity: 20Gi of an 80Gi GPU is a quarter of it.
    p = shared_claim_pod("infer", "llm", "dra-1", "slice-20g")
    c = claim("slice-20g", "llm", "dra-1", ["gpu-0"], [consumer(p)], consumed={"memory": "20Gi"})
    s = engine([dra_node("dra-1"), two_gpus(), c, p], PRICING)
    assert gpu(s, p) == exact(3.5 / 4)


def test_slice_arriving_after_the_claim_and_a_newer_pool_generation() -> None:
    p = template_pod("pod0", "gpu-test1", "dra-1", "g")
    s = engine([dra_node("dra-1"), claim("g", "gpu-test1", "dra-1", ["gpu-0"], [consumer(p)]), p], PRICING)
    # No slice yet: the claimed GPU counts as one GPU; the node has none published, so the
    # pod's reservation overcommits the node (idle 0), as for any reservation above capacity.
    assert s.node_cost("dra-1").idle.get("gpu", 0.0) == 0.0
    s.upsert("ResourceSlice", decode(two_gpus()))
    s.flush()
    assert gpu(s, p) == exact(3.5)
    # The driver republishes the pool at generation 2 with one GPU: the old slice stops counting.
    newer = resource_slice("dra-1", [gpu_device("gpu-0", "GPU-4d4e8f0a-0000")], generation=2, name="dra-1-gen2")
    s.upsert("ResourceSlice", decode(newer))
    s.flush()
    assert s.node_cost("dra-1").cost["gpu"] == exact(3.5)
    assert gpu(s, p) == exact(3.5)


def test_non_gpu_devices_cost_nothing_and_do_not_count_as_gpus() -> None:
    nic = {"name": "nic-0", "attributes": {"type": {"string": "nic"}}}
    p = shared_claim_pod("rdma", "llm", "dra-1", "nic")
    objs = [dra_node("dra-1"), two_gpus(), resource_slice("dra-1", [nic], driver="mrdma.google.com"),
            claim("nic", "llm", "dra-1", ["nic-0"], [consumer(p)], driver="mrdma.google.com"), p]
    s = engine(objs, PRICING)
    assert gpu(s, p) == 0.0
    assert s.node_cost("dra-1").cost["gpu"] == exact(7.0)  # still 2 GPUs


# ------------------------------------------------------------------ HAMi


def test_hami_vgpus_pay_their_dominant_share() -> None:
    # 2 x V100 32GB registered (split 10 -> 20 vGPU slots) at 2.0 $/h: 4.0.
    # a: 3000 + 5000 MiB of 32768, no cores -> 8000/32768 = 0.244140625 GPU -> 0.48828125
    # b: 50% cores, 25% memory -> 0.5 GPU -> 1.0
    # c: neither set -> the whole device -> 2.0
    a = hami_pod_allocated("a", "node67-4v100")
    b = hami_pod_requests("b", "node67-4v100", **{"nvidia.com/gpucores": "50", "nvidia.com/gpumem-percentage": "25"})
    c = hami_pod_requests("c", "node67-4v100")
    s = engine([hami_node(), a, b, c], PRICING)
    assert (gpu(s, a), gpu(s, b), gpu(s, c)) == (exact(0.48828125), exact(1.0), exact(2.0))
    assert s.node_cost("node67-4v100").cost["gpu"] == exact(4.0)  # 2 GPUs, not 20 slots
    assert s.node_cost("node67-4v100").idle["gpu"] == exact(4.0 - 0.48828125 - 1.0 - 2.0)
    text = s.render()
    assert 'gpu_model="NVIDIA-V100-PCIE-32GB",vendor="nvidia",sharing="hami",mig_strategy="none",source="hami"' in text
    assert 'gpucost_node_allocator_gpus{node="node67-4v100",allocator="hami"} 2\n' in text
    assert 'gpucost_node_gpu_unit_weight{node="node67-4v100",resource="nvidia.com/gpu"} 0.1\n' in text  # 1 of 10 slots
    assert_gpu_conserved(s, "node67-4v100", [a, b, c])


def test_hami_memory_in_mib_against_the_registered_device() -> None:
    p = hami_pod_requests("m", "node67-4v100", **{"nvidia.com/gpumem": "8192", "nvidia.com/gpucores": "10"})
    s = engine([hami_node(), p], PRICING)
    assert gpu(s, p) == exact(2.0 * 8192 / 32768)  # memory dominates: 0.25 GPU


# ------------------------------------------------------------------ KAI


def test_kai_fractions_and_the_reservation_pod_pay_the_gpu_once() -> None:
    # One A10G at 1.0 $/h (23028 MiB). f1 0.5; f2 5757 MiB = 0.25; the reservation pod the rest.
    f1 = kai_fractional_pod("f1", "a10g-1", "g-1", **{"gpu-fraction": "0.5"})
    f2 = kai_fractional_pod("f2", "a10g-1", "g-1", **{"gpu-memory": "5757"})
    r = kai_reservation_pod("a10g-1", "g-1")
    s = engine([kai_node(), r, f1, f2], PRICING)
    assert (gpu(s, f1), gpu(s, f2), gpu(s, r)) == (exact(0.5), exact(0.25), exact(0.25))
    assert s.node_cost("a10g-1").idle["gpu"] == exact(0.0)
    text = s.render()
    assert 'pod="f1",node="a10g-1",owner_kind="",owner_name="",team="",product="",customer="",resource="gpu-fraction"} 0.5\n' in text
    s.delete("Pod", decode(f1))
    s.flush()
    assert gpu(s, r) == exact(0.75)
    assert_gpu_conserved(s, "a10g-1", [f2, r])


# ------------------------------------------------------------------ a mixed node


def test_device_plugin_dra_and_kai_on_one_node_conserve() -> None:
    # 4 A100 80GB advertised by the device plugin + 2 published by DRA = 6 GPUs at 3.5 = 21.0.
    n = node("mixed", cpu="96", memory="1024Gi",
             labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}, extra={"nvidia.com/gpu": "4"})
    plugin = pod("trainer", "mixed", container(cpu="8", limits={"nvidia.com/gpu": "2"}))
    dra = template_pod("dra", "gpu-test1", "mixed", "dra-gpu")
    frac = kai_fractional_pod("frac", "mixed", "g-7", **{"gpu-fraction": "0.3"})
    reservation = kai_reservation_pod("mixed", "g-7")
    objs = [n, resource_slice("mixed", [gpu_device("gpu-0", "GPU-d0"), gpu_device("gpu-1", "GPU-d1")]),
            claim("dra-gpu", "gpu-test1", "mixed", ["gpu-0"], [consumer(dra)]), plugin, dra, frac, reservation]
    s = engine(objs, PRICING)
    assert s.node_cost("mixed").cost["gpu"] == exact(21.0)
    assert gpu(s, plugin) == exact(7.0)
    assert gpu(s, dra) == exact(3.5)
    assert gpu(s, frac) == exact(0.3 * 3.5)
    assert gpu(s, reservation) == exact(0.7 * 3.5)
    assert s.node_cost("mixed").idle["gpu"] == exact(21.0 - 7.0 - 3.5 - 3.5)
    assert_gpu_conserved(s, "mixed", [plugin, dra, frac, reservation])
    assert A100_80  # the slice's productName is the NVML name of the same model


def test_snapshot_files_carry_claims_and_slices(tmp_path: Any) -> None:
    # `kubectl get nodes,pods,resourceclaims,resourceslices -A -o json` as one List.
    import json
    import subprocess
    import sys

    p = template_pod("pod0", "gpu-test1", "dra-1", "pod0-gpu-7fz2x")
    items = [dra_node("dra-1"), two_gpus(), claim("pod0-gpu-7fz2x", "gpu-test1", "dra-1", ["gpu-0"], [consumer(p)]), p]
    (tmp_path / "cluster.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    (tmp_path / "pricing.yaml").write_text(PRICING)
    out = subprocess.run(
        [sys.executable, "-m", "gpucost", "--from-file", str(tmp_path / "cluster.json"),
         "--pricing-file", str(tmp_path / "pricing.yaml"), "--once"],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith('gpucost_pod_gpu_reserved_cost_per_hour{namespace="gpu-test1",pod="pod0"'))
    assert float(line.rsplit(" ", 1)[1]) == exact(3.5)


def test_cluster_files_apply_every_kind_they_can_hold() -> None:
    from gpucost.cli import APPLY_ORDER
    from gpucost.objects import KINDS

    assert sorted(APPLY_ORDER) == sorted(KINDS)

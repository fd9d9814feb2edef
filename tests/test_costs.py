"""Cost semantics of issue 2, each rule with a cluster in and hand-worked numbers out.

Prices used throughout (PRICING): cpu 0.04 $/core-h, memory 0.005 $/GiB-h, GPUs 2.00 $/GPU-h
unless a model is priced. Every expected figure is worked out in the comment beside it.
"""

from __future__ import annotations

import logging

import pytest

from builders import container, controller, decode, engine, namespace, node, pod, pod_key

PRICING = """
currency: USD
default: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 2.0}
gpu_models:
  nvidia a100_sxm4 80gb: 3.0          # normalised: NVIDIA-A100-SXM4-80GB
instance_types:
  x.8gpu: 41.2
nodes:
  - match: {name: named-*}
    hourly: 10.0
  - match: {labels: {pool: cheap}}
    cpu_core_hour: 0.02
    memory_gib_hour: 0.002
    gpu_hour: 1.0
"""

GPU_LABELS = {"node.kubernetes.io/instance-type": "x.8gpu", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-15)


def test_cpu_and_memory_shared_over_allocatable() -> None:
    # Node cost: cpu 16 cores x 0.04 = 0.64; memory 64 GiB x 0.005 = 0.32 (capacity prices it).
    # Pods pay over allocatable (15 cores, 60 GiB).
    a = pod("a", "cpu-1", container(cpu="1500m", memory="6Gi"))
    b = pod("b", "cpu-1", container(cpu="3", memory="12Gi"))
    s = engine([node("cpu-1", cpu="16", memory="64Gi", alloc_cpu="15", alloc_memory="60Gi"), a, b], PRICING)
    ca, cb = s.pod_cost(pod_key(a)), s.pod_cost(pod_key(b))
    assert (ca.cpu, ca.memory, ca.gpu) == (approx(0.064), approx(0.032), 0)  # 1.5/15*0.64, 6/60*0.32
    assert (cb.cpu, cb.memory) == (approx(0.128), approx(0.064))  # 3/15*0.64, 12/60*0.32
    n = s.node_cost("cpu-1")
    assert n.cost == {"cpu": approx(0.64), "memory": approx(0.32)}
    assert n.idle == {"cpu": approx(0.448), "memory": approx(0.224)}  # 0.64-0.192, 0.32-0.096
    assert n.overcommitted == frozenset()


def test_instance_type_price_split_by_default_weights() -> None:
    # x.8gpu costs 41.2 $/h. Weights: cpu 96 x 0.04 = 3.84, memory 1024 x 0.005 = 5.12,
    # gpu 8 x 3.0 (A100 80GB model price) = 24; total 32.96 = 41.2 / 1.25.
    # Split: cpu 4.8, memory 6.4, gpu 30.0, i.e. 3.75 per GPU.
    train = pod("train", "gpu-1", container(cpu="47", memory="500Gi", limits={"nvidia.com/gpu": "4"}))
    gpu_node = node("gpu-1", cpu="96", memory="1024Gi", alloc_cpu="94", alloc_memory="1000Gi",
                    labels=GPU_LABELS, extra={"nvidia.com/gpu": "8"})
    s = engine([gpu_node, train], PRICING)
    n = s.node_cost("gpu-1")
    assert n.cost == {"cpu": approx(4.8), "memory": approx(6.4), "gpu": approx(30.0)}
    c = s.pod_cost(pod_key(train))
    assert c.cpu == approx(2.4)  # 47/94 x 4.8
    assert c.memory == approx(3.2)  # 500/1000 x 6.4
    assert c.gpu == approx(15.0)  # 4 GPUs (request defaulted from the limit) x 3.75
    assert c.gpus == {"nvidia.com/gpu": 4.0}
    assert n.idle == {"cpu": approx(2.4), "memory": approx(3.2), "gpu": approx(15.0)}


@pytest.mark.parametrize(
    ("name", "labels", "extra", "expected", "source"),
    [
        # nodes[0] (name glob) beats the instance type: 10 $/h split by weights
        # cpu 8x0.04=0.32, mem 32x0.005=0.16, no GPU: 10*0.32/0.48, 10*0.16/0.48
        ("named-1", {"node.kubernetes.io/instance-type": "x.8gpu"}, {}, {"cpu": 20 / 3, "memory": 10 / 3}, "node_rule"),
        # nodes[1] (labels): unit prices 0.02 / 0.002 / 1.0: cpu 8x0.02, mem 32x0.002, 2 AMD GPUs x 1.0
        ("cheap-1", {"pool": "cheap"}, {"amd.com/gpu": "2"}, {"cpu": 0.16, "memory": 0.064, "gpu": 2.0}, "node_rule"),
        # the built-in catalog: m5.xlarge 0.192 $/h, no GPUs, split cpu 0.32 : mem 0.16
        ("m5", {"node.kubernetes.io/instance-type": "m5.xlarge"}, {}, {"cpu": 0.128, "memory": 0.064}, "catalog"),
        # default unit prices; an Intel GPU priced at default.gpu_hour (2.0)
        ("plain", {}, {"gpu.intel.com/i915": "1"}, {"cpu": 0.32, "memory": 0.16, "gpu": 2.0}, "default"),
    ],
)
def test_price_precedence(name: str, labels: dict, extra: dict, expected: dict, source: str) -> None:
    s = engine([node(name, cpu="8", memory="32Gi", labels=labels, extra=extra)], PRICING)
    assert s.node_cost(name).cost == {k: approx(v) for k, v in expected.items()}
    assert f'price_source="{source}"' in s.render()


def test_catalog_price_for_known_instance_without_pricing_file() -> None:
    # p4de.24xlarge lists at 27.44705 $/h [AWS price list 2026-09-24]; without a pricing file
    # the split gives the host its vCPUs and RAM at the default unit prices
    # (96 x 0.031611 = 3.034656; 1152 x 0.004237 = 4.881024) and the 8 GPUs the rest.
    labels = {"node.kubernetes.io/instance-type": "p4de.24xlarge", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    s = engine([node("p", cpu="96", memory="1152Gi", labels=labels, extra={"nvidia.com/gpu": "8"})])
    cost = s.node_cost("p").cost
    assert cost == {"cpu": approx(3.034656), "memory": approx(4.881024), "gpu": approx(27.44705 - 3.034656 - 4.881024)}


@pytest.mark.parametrize(
    ("phase", "bound", "deleting", "counted"),
    [
        ("Running", True, False, True),
        ("Pending", True, False, True),  # bound but not started: the scheduler holds its resources
        ("Unknown", True, False, True),
        ("Running", True, True, True),  # terminating pods hold resources until gone
        ("Succeeded", True, False, False),
        ("Failed", True, False, False),
        ("Pending", False, False, False),  # unbound: holds nothing
    ],
)
def test_counted_pods(phase: str, bound: bool, deleting: bool, counted: bool) -> None:
    p = pod("p", "cpu-1" if bound else None, container(cpu="1", memory="4Gi"), phase=phase, deleting=deleting)
    s = engine([node("cpu-1", cpu="16", memory="64Gi"), p], PRICING)
    cost = s.pod_cost(pod_key(p))
    if counted:
        assert (cost.cpu, cost.memory) == (approx(0.04), approx(0.02))  # 1/16 x 0.64, 4/64 x 0.32
        assert s.node_cost("cpu-1").idle["cpu"] == approx(0.60)
    else:
        assert cost is None
        assert s.node_cost("cpu-1").idle == {"cpu": approx(0.64), "memory": approx(0.32)}
        assert "gpucost_pod_cpu_cost_per_hour{" not in s.render()


def test_effective_request_with_init_and_sidecar() -> None:
    # containers 1 core; sidecar 500m (added to the sum and to later init candidates);
    # init 2 cores -> candidate 2.5. Effective cpu = max(1 + 0.5, 2.5) = 2.5 cores.
    p = pod("p", "cpu-1", container(cpu="1"),
            init=[container("proxy", cpu="500m", restart="Always"), container("fetch", cpu="2")])
    s = engine([node("cpu-1", cpu="16", memory="64Gi"), p], PRICING)
    assert s.pod_cost(pod_key(p)).cpu == approx(2.5 / 16 * 0.64)  # 0.1


def test_overcommit_scales_pods_and_keeps_idle_at_zero() -> None:
    # Allocatable 4 cores but 3 + 3 reserved (a transient state): each pod pays 3/6 of 0.32.
    a = pod("a", "small", container(cpu="3"))
    b = pod("b", "small", container(cpu="3"))
    s = engine([node("small", cpu="8", memory="32Gi", alloc_cpu="4"), a, b], PRICING)
    assert s.pod_cost(pod_key(a)).cpu == approx(0.16)  # 0.32 x 3/6
    assert s.pod_cost(pod_key(b)).cpu == approx(0.16)
    n = s.node_cost("small")
    assert n.idle["cpu"] == 0.0
    assert n.overcommitted == frozenset({"cpu"})
    assert 'gpucost_overcommitted_nodes{resource="cpu"} 1' in s.render()
    # Once one pod goes, the other pays the plain rate again: 3/4 x 0.32 = 0.24.
    s.delete("Pod", decode(b))
    s.flush()
    assert s.pod_cost(pod_key(a)).cpu == approx(0.24)
    assert 'gpucost_overcommitted_nodes{resource="cpu"} 0' in s.render()


@pytest.mark.parametrize(
    ("resource", "units"),
    [("nvidia.com/gpu", "2"), ("amd.com/gpu", "2"), ("gpu.intel.com/i915", "2"), ("gpu.intel.com/xe", "2")],
)
def test_whole_device_gpus(resource: str, units: str) -> None:
    # 4 devices at default 2.0 $/GPU-h = 8.0; a pod with 2 pays 4.0, idle 4.0.
    p = pod("p", "g", container(cpu="1", limits={resource: units}))
    s = engine([node("g", cpu="16", memory="64Gi", extra={resource: "4"}), p], PRICING)
    assert s.pod_cost(pod_key(p)).gpu == approx(4.0)
    assert s.node_cost("g").idle["gpu"] == approx(4.0)


def test_invalid_quantity_leaves_pod_out_counts_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    bad = pod("bad", "cpu-1", container(cpu="1.5.0"), namespace="ml")
    good = pod("good", "cpu-1", container(cpu="1"))
    with caplog.at_level(logging.WARNING, logger="gpucost.state"):
        s = engine([node("cpu-1"), bad, good, bad], PRICING)
    assert s.pod_cost(pod_key(bad)) is None
    assert s.pod_cost(pod_key(good)).cpu == approx(0.04)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "Pod ml/bad" in messages[0] and "'1.5.0'" in messages[0]
    text = s.render()
    assert 'gpucost_objects_skipped{kind="Pod",reason="invalid_quantity"} 1' in text
    assert 'gpucost_objects_skipped_total{kind="Pod",reason="invalid_quantity"} 1' in text
    # Fixing the pod brings it back and clears the count.
    fixed = pod("bad", "cpu-1", container(cpu="2"), namespace="ml", uid=pod_key(bad))
    s.upsert("Pod", decode(fixed))
    s.flush()
    assert s.pod_cost(pod_key(bad)).cpu == approx(0.08)
    text = s.render()
    assert 'gpucost_objects_skipped{kind="Pod",reason="invalid_quantity"}' not in text
    assert 'gpucost_objects_skipped_total{kind="Pod",reason="invalid_quantity"} 1' in text  # counters never go down


def test_dimension_labels_pod_first_then_namespace_and_owner_chain() -> None:
    objs = [
        node("cpu-1"),
        namespace("ml", team="research", product="llm"),
        controller("ReplicaSet", "api-7d9f", "rs-1", "ml", owner=("Deployment", "api", "dep-1")),
        controller("Job", "nightly-2911", "job-1", "ml", owner=("CronJob", "nightly", "cj-1")),
        pod("api-7d9f-x", "cpu-1", container(cpu="1"), namespace="ml", labels={"team": "serving"},
            owner=("ReplicaSet", "api-7d9f", "rs-1")),
        pod("nightly-2911-y", "cpu-1", container(cpu="1"), namespace="ml", owner=("Job", "nightly-2911", "job-1")),
        pod("db-0", "cpu-1", container(cpu="1"), namespace="ml", owner=("StatefulSet", "db", "ss-1")),
        pod("bare", "cpu-1", container(cpu="1"), namespace="other"),
    ]
    text = engine(objs, PRICING).render()
    assert 'pod="api-7d9f-x",node="cpu-1",owner_kind="Deployment",owner_name="api",team="serving",product="llm",customer=""' in text
    assert 'pod="nightly-2911-y",node="cpu-1",owner_kind="CronJob",owner_name="nightly",team="research",product="llm"' in text
    assert 'pod="db-0",node="cpu-1",owner_kind="StatefulSet",owner_name="db",team="research"' in text
    assert 'pod="bare",node="cpu-1",owner_kind="",owner_name="",team="",product="",customer=""' in text


def test_custom_dimension_labels() -> None:
    pricing = PRICING + "labels:\n  cost_center: [finance.example.com/cost-center, cost-center]\n"
    objs = [node("cpu-1"), namespace("ml", **{"cost-center": "cc-9"}),
            pod("p", "cpu-1", container(cpu="1"), namespace="ml")]
    text = engine(objs, pricing).render()
    assert 'owner_name="",cost_center="cc-9"} ' in text
    assert "team=" not in text


def test_incremental_updates() -> None:
    import builders

    n = node("cpu-1", cpu="16", memory="64Gi")
    p = pod("p", "cpu-1", container(cpu="1"), namespace="ml")
    s = engine([n, namespace("ml", team="a"), p], PRICING)
    assert s.pod_cost(pod_key(p)).cpu == approx(0.04)
    # Resize the pod: 4 cores -> 4/16 x 0.64.
    p2 = pod("p", "cpu-1", container(cpu="4"), namespace="ml", uid=pod_key(p))
    s.upsert("Pod", builders.decode(p2))
    s.flush()
    assert s.pod_cost(pod_key(p)).cpu == approx(0.16)
    assert s.node_cost("cpu-1").idle["cpu"] == approx(0.48)
    # The node doubles in size: cost 32 x 0.04 = 1.28, the pod pays 4/32 of it = 0.16 still.
    s.upsert("Node", builders.decode(node("cpu-1", cpu="32", memory="64Gi")))
    s.flush()
    assert s.node_cost("cpu-1").cost["cpu"] == approx(1.28)
    assert s.node_cost("cpu-1").idle["cpu"] == approx(1.12)
    # Namespace relabelled: the pod's series follow.
    s.upsert("Namespace", builders.decode(namespace("ml", team="b")))
    assert 'team="b"' in s.render()
    # Pod deleted: its series go, the node is idle again.
    s.delete("Pod", builders.decode(p2))
    text = s.render()
    assert "gpucost_pod_cpu_cost_per_hour{" not in text
    assert 'gpucost_node_idle_cost_per_hour{node="cpu-1",resource="cpu"} 1.28' in text
    # Node deleted: node series go too.
    s.delete("Node", builders.decode(n))
    assert 'node="cpu-1"' not in s.render()


def test_pod_before_its_node_is_costed_once_the_node_arrives() -> None:
    import builders

    p = pod("p", "late", container(cpu="2"))
    s = engine([p], PRICING)
    assert s.pod_cost(pod_key(p)) is None
    assert 'gpucost_objects_skipped{kind="Pod",reason="node_not_found"} 1' in s.render()
    s.upsert("Node", builders.decode(node("late", cpu="16")))
    s.flush()
    assert s.pod_cost(pod_key(p)).cpu == approx(0.08)
    assert "node_not_found" not in s.render()


def test_replace_reconciles_deletions() -> None:
    import builders

    a, b = pod("a", "cpu-1", container(cpu="1")), pod("b", "cpu-1", container(cpu="1"))
    s = engine([node("cpu-1"), a, b], PRICING)
    s.replace("Pod", [builders.decode(a)])
    s.flush()
    assert s.pod_cost(pod_key(b)) is None
    assert s.node_cost("cpu-1").idle["cpu"] == approx(0.60)


def test_leaderworkerset_pods_are_charged_to_the_leaderworkerset() -> None:
    # LWS pods belong to a StatefulSet the LWS owns; the LWS controller labels them.
    p = pod("llm-0-1", "cpu-1", container(cpu="1"), owner=("StatefulSet", "llm-0", "ss-9"),
            labels={"leaderworkerset.sigs.k8s.io/name": "llm"})
    assert 'owner_kind="LeaderWorkerSet",owner_name="llm"' in engine([node("cpu-1"), p], PRICING).render()

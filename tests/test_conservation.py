"""Property: on any cluster, per node and resource, the pods' costs plus idle equal the node's
cost (1e-9 relative), idle is never negative, and sharding partitions the series exactly."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucost.state import Shard

from builders import container, engine, node, pod, pod_key

GPU_RESOURCES = ["nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/xe"]

cpu_quantities = st.sampled_from(["0", "1m", "100m", "250m", "1", "1.5", "3", "7"])
mem_quantities = st.sampled_from(["0", "1", "1Mi", "512Mi", "1Gi", "3.5Gi", "9G"])


@st.composite
def clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    nodes = []
    for i in range(draw(st.integers(1, 4))):
        gpu = draw(st.sampled_from([None] + GPU_RESOURCES))
        gpus = draw(st.integers(0, 8)) if gpu else 0
        extra = {gpu: str(gpus)} if gpu else {}
        alloc_gpus = {gpu: str(draw(st.integers(0, gpus)))} if gpu else {}
        name = f"n{i}"
        nodes.append((name, gpu))
        objs.append(node(
            name,
            cpu=draw(st.sampled_from(["2", "4", "16"])),
            memory=draw(st.sampled_from(["4Gi", "16Gi"])),
            alloc_cpu=draw(st.sampled_from(["0", "1500m", "3", "15"])),
            alloc_memory=draw(st.sampled_from(["0", "3Gi", "15Gi"])),
            labels=draw(st.sampled_from([{}, {"node.kubernetes.io/instance-type": "g5.12xlarge"}, {"pool": "x"}])),
            extra=extra,
            alloc_extra=alloc_gpus,
        ))
    for j in range(draw(st.integers(0, 12))):
        name, gpu = draw(st.sampled_from(nodes))
        limits = {gpu: str(draw(st.integers(0, 3)))} if gpu and draw(st.booleans()) else None
        objs.append(pod(
            f"p{j}", name,
            container(cpu=draw(cpu_quantities), memory=draw(mem_quantities), limits=limits),
            phase=draw(st.sampled_from(["Running", "Running", "Pending", "Succeeded"])),
        ))
    return objs


PRICING = """
default: {cpu_core_hour: 0.031611, memory_gib_hour: 0.004237, gpu_hour: 2.5}
nodes:
  - match: {labels: {pool: x}}
    hourly: 7.25
"""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_pods_plus_idle_equal_node_cost(objs: list[dict[str, Any]]) -> None:
    s = engine(objs, PRICING)
    pods = [o for o in objs if o["kind"] == "Pod"]
    for n in (o for o in objs if o["kind"] == "Node"):
        name = n["metadata"]["name"]
        nc = s.node_cost(name)
        costs = [s.pod_cost(pod_key(p)) for p in pods if p["spec"].get("nodeName") == name]
        costs = [c for c in costs if c is not None]
        for res in nc.cost:
            total = sum(getattr(c, res) for c in costs) + nc.idle[res]
            assert nc.idle[res] >= 0
            assert abs(total - nc.cost[res]) <= 1e-9 * max(nc.cost[res], 1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.integers(1, 4))
def test_shards_partition_the_series(objs: list[dict[str, Any]], total: int) -> None:
    def series(shard: Shard) -> list[str]:
        text = engine(objs, PRICING, shard=shard).render()
        return [
            line for line in text.splitlines()
            if line.startswith(("gpucost_pod_", "gpucost_node_", "gpucost_gpu_price"))
        ]

    whole = series(Shard())
    parts = [line for i in range(total) for line in series(Shard(i, total))]
    assert sorted(parts) == sorted(whole)

"""Node families (issue 16): the node renderer formats lines directly, without building the
generic samples first. Its text must be exactly what the family declarations render through
`node_series` and `sample_line` (the straightforward path the benchmark's baseline uses), for
every kind of node; and one node's lines are written out by hand."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpucost.allocators import HamiDevice, NodeAllocators
from gpucost.costs import NodeCost
from gpucost.exposition import sample_line
from gpucost.gpu import NodeGpus
from gpucost.pricing import NodeFacts, NodePrice
from gpucost.records import NodeEntry
from gpucost.rendering import NODE_FAMILIES, node_lines, node_series
from gpucost.state import CostState

from builders import container, decode, engine, exact, node, pod


def entry(
    name: str = "cpu-1",
    *,
    gpus: NodeGpus | None = None,
    gpu_resources: tuple[str, ...] = (),
    instance_type: str = "m6i.4xlarge",
    region: str = "us-east-1",
    zone: str = "us-east-1a",
    capacity_type: str = "on-demand",
    source: str = "catalog",
    defaulted: bool = False,
    region_fallback: bool = False,
    spot_fallback: bool = False,
    os_fallback: bool = False,
    dra_gpus: int = 0,
    hami: int = 0,
) -> NodeEntry:
    gpus = gpus or NodeGpus()
    price = NodePrice(cpu=0.5, memory=0.25, gpu=0.0, gpu_unit=0.0, source=source, gpu_price_defaulted=defaulted,
                      region_fallback=region_fallback, spot_fallback=spot_fallback, os_fallback=os_fallback)
    devices = {f"GPU-{i}": HamiDevice(uuid=f"GPU-{i}", split=10, memory_mib=32_768, type="NVIDIA-V100") for i in range(hami)}
    facts = NodeFacts(name=name, labels={}, cpu_cores=16, memory_gib=64, gpus=gpus.physical, gpu_model=gpus.model,
                      instance_type=instance_type)
    return NodeEntry(
        obj=None, name=name, labels={}, facts=facts, gpus=gpus, gpu_resources=gpu_resources, price=price,
        alloc_cpu_m=15_000, alloc_memory_b=60 * 2**30, instance_type=instance_type, region=region, zone=zone,
        capacity_type=capacity_type, allocators=NodeAllocators(hami=devices), dra_gpus=dra_gpus,
    )


CPU_COST = NodeCost(cost={"cpu": 0.5, "memory": 0.25}, idle={"cpu": 0.125, "memory": 0.25}, overcommitted=frozenset())
GPU_COST = NodeCost(cost={"cpu": 0.5, "memory": 0.25, "gpu": 24.0}, idle={"cpu": 0.5, "memory": 0.0625, "gpu": 1 / 3},
                    overcommitted=frozenset({"gpu"}))
A100 = "NVIDIA-A100-SXM4-80GB"

NODES: list[tuple[str, NodeEntry, NodeCost]] = [
    ("cpu node", entry(), CPU_COST),
    ("whole GPUs from labels", entry("gpu-1", gpus=NodeGpus(physical=8, model=A100, vendor="nvidia", source="labels"),
                                     gpu_resources=("nvidia.com/gpu",)), GPU_COST),
    ("time-sliced, price defaulted", entry("ts-1", gpus=NodeGpus(physical=4, model=A100, vendor="nvidia",
                                                                 sharing="time-slicing", replicas=4, source="labels"),
                                           gpu_resources=("nvidia.com/gpu",), defaulted=True), GPU_COST),
    ("MIG mixed, several resources", entry("mig-1", gpus=NodeGpus(physical=8, model=A100, vendor="nvidia", sharing="mig",
                                                                  mig_strategy="mixed", source="labels"),
                                           gpu_resources=("nvidia.com/mig-1g.10gb", "nvidia.com/mig-3g.40gb")), GPU_COST),
    ("inferred weight", entry("inf-1", gpus=NodeGpus(physical=2, model=A100, vendor="nvidia", sharing="inferred",
                                                     source="capacity", inferred={"nvidia.com/gpu": Fraction(1, 3)}),
                              gpu_resources=("nvidia.com/gpu",)), GPU_COST),
    ("DRA and HAMi allocators", entry("alloc-1", gpus=NodeGpus(physical=4, model="NVIDIA-V100", vendor="nvidia",
                                                               sharing="hami", source="hami"),
                                      gpu_resources=("nvidia.com/gpu",), dra_gpus=2, hami=4), GPU_COST),
    ("priced from another region, spot on demand", entry("fb-1", region_fallback=True, spot_fallback=True,
                                                         capacity_type="spot"), CPU_COST),
    ("Windows at the Linux price", entry("win-1", os_fallback=True, instance_type="Standard_D4s_v5"), CPU_COST),
    ("all three fallbacks", entry("fb-2", region_fallback=True, spot_fallback=True, os_fallback=True), CPU_COST),
    ("label values that need escaping", entry('odd"node\\1', instance_type='a"b', region="line\nbreak",
                                               gpus=NodeGpus(physical=1, model='X"Y', vendor="nvidia", source="labels"),
                                               gpu_resources=('weird"res',)), GPU_COST),
]


def generic(node: NodeEntry, cost: NodeCost) -> tuple[str, ...]:
    """The declared families rendered the straightforward way."""
    return tuple(
        "".join(sample_line(name, labels, value) for labels, value in samples)
        for (name, _, _), samples in zip(NODE_FAMILIES, node_series(node, cost), strict=True)
    )


@pytest.mark.parametrize(("what", "node", "cost"), NODES, ids=[n[0] for n in NODES])
def test_node_lines_are_the_declared_samples(what: str, node: NodeEntry, cost: NodeCost) -> None:
    assert node_lines(node, cost) == generic(node, cost)


def test_gpu_node_lines_by_hand() -> None:
    node = entry("gpu-1", gpus=NodeGpus(physical=8, model=A100, vendor="nvidia", source="labels"),
                 gpu_resources=("nvidia.com/gpu",), dra_gpus=8)
    lines: Any = node_lines(node, GPU_COST)
    assert lines == (
        'gpucost_node_cost_per_hour{node="gpu-1",resource="cpu"} 0.5\n'
        'gpucost_node_cost_per_hour{node="gpu-1",resource="memory"} 0.25\n'
        'gpucost_node_cost_per_hour{node="gpu-1",resource="gpu"} 24\n',
        'gpucost_node_idle_cost_per_hour{node="gpu-1",resource="cpu"} 0.5\n'
        'gpucost_node_idle_cost_per_hour{node="gpu-1",resource="memory"} 0.0625\n'
        'gpucost_node_idle_cost_per_hour{node="gpu-1",resource="gpu"} 0.3333333333333333\n',
        'gpucost_node_info{node="gpu-1",instance_type="m6i.4xlarge",region="us-east-1",zone="us-east-1a",'
        f'capacity_type="on-demand",gpu_model="{A100}",price_source="catalog"}} 1\n',
        'gpucost_node_gpus{node="gpu-1"} 8\n',
        f'gpucost_node_gpu_info{{node="gpu-1",gpu_model="{A100}",vendor="nvidia",sharing="none",'
        'mig_strategy="none",source="labels"} 1\n',
        "",  # the GPU price was not defaulted
        'gpucost_node_gpu_unit_weight{node="gpu-1",resource="nvidia.com/gpu"} 1\n',
        'gpucost_node_allocator_gpus{node="gpu-1",allocator="dra"} 8\n',
        "",  # priced in its own region, on demand
    )


PRICING = "currency: USD\ndefault: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 2.0}\n"


def idle_lines(state: CostState, name: str) -> dict[str, float]:
    """The node's idle series as a scrape shows them."""
    return {
        s.labels["resource"]: s.value
        for f in text_string_to_metric_families(state.render()) if f.name == "gpucost_node_idle_cost_per_hour"
        for s in f.samples if s.labels["node"] == name
    }


def test_a_pod_change_re_renders_the_node_idle_only() -> None:
    # cpu-1: 16 cores x 0.04 = 0.64 $/h, 64 GiB x 0.005 = 0.32 $/h, shared over 15 cores, 60 GiB.
    state = engine([node("cpu-1", cpu="16", memory="64Gi", alloc_cpu="15", alloc_memory="60Gi")], PRICING)
    assert idle_lines(state, "cpu-1") == {"cpu": exact(0.64), "memory": exact(0.32)}
    p = pod("p", "cpu-1", container(cpu="3", memory="12Gi"))
    state.upsert("Pod", decode(p))
    # 3 of 15 cores and 12 of 60 GiB reserved: idle 0.64 x 12/15 = 0.512, 0.32 x 48/60 = 0.256
    assert idle_lines(state, "cpu-1") == {"cpu": exact(0.512), "memory": exact(0.256)}
    state.upsert("Pod", decode(pod("p", "cpu-1", container(cpu="6", memory="12Gi"))))
    assert idle_lines(state, "cpu-1") == {"cpu": exact(0.384), "memory": exact(0.256)}  # 0.64 x 9/15
    state.delete("Pod", decode(p))
    assert idle_lines(state, "cpu-1") == {"cpu": exact(0.64), "memory": exact(0.32)}

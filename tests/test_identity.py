"""A pod is its namespace and name (issue 15): a replacement with the same namespace/name and a
new UID replaces the old one, from snapshot files and from the watch alike, and no exposition
ever holds a series twice (Prometheus would reject the whole scrape)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from expositions import assert_unique_series

from gpucost.cli import apply_snapshot
from gpucost.pricing import PricingConfig
from gpucost.pricing_file import parse_pricing
from gpucost.snapshot import load_snapshot
from gpucost.state import CostState

from allocation_objects import claim, consumer, gpu_device, resource_slice, template_pod
from builders import container, decode, engine, node, pod, pod_key

PRICING = "default: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 2.0}\n"

# Node n1: 16 cores at 0.04 = 0.64 per hour for CPU. The old pod reserves 2 cores, its
# replacement 4: once replaced, the pod pays 4 / 16 x 0.64 = 0.16 and the node's CPU idle is
# 12 / 16 x 0.64 = 0.48 (with both counted it would be 10 / 16 x 0.64 = 0.40, in two series).
OLD = pod("web-0", "n1", container(cpu="2", memory="1Gi"), namespace="shop", uid="uid-old")
NEW = pod("web-0", "n1", container(cpu="4", memory="1Gi"), namespace="shop", uid="uid-new")


def _pod_cpu(text: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith('gpucost_pod_cpu_cost_per_hour{namespace="shop",pod="web-0"')]


def _idle_cpu(text: str) -> float:
    (value,) = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith('gpucost_node_idle_cost_per_hour{node="n1",resource="cpu"}')]
    return value


def _live(objs: list[dict[str, Any]], deleted: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    state = CostState(parse_pricing(PRICING, "test.yaml"), clock=lambda: 1_800_000_000.0)
    for obj in objs:
        state.upsert(obj["kind"], decode(obj))
    for obj in deleted:
        state.delete(obj["kind"], decode(obj))
    return state.render()


@pytest.mark.parametrize("order", ["old then new", "new then old"])
def test_a_snapshot_with_two_uids_for_one_pod_counts_the_last(tmp_path: Path, order: str) -> None:
    pods = [OLD, NEW] if order == "old then new" else [NEW, OLD]
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [node("n1"), *pods]}))
    state = CostState(parse_pricing(PRICING, "test.yaml"), clock=lambda: 1_800_000_000.0)
    apply_snapshot(state, load_snapshot([str(path)]))
    text = state.render()
    assert_unique_series(text)
    last_cpu = 0.16 if order == "old then new" else 0.08  # 4 or 2 cores of 16, x 0.64
    assert _pod_cpu(text) == [pytest.approx(last_cpu, rel=1e-12)]
    assert _idle_cpu(text) == pytest.approx(0.64 - last_cpu, rel=1e-12)


def test_a_watch_replacement_with_a_new_uid_replaces_the_pod() -> None:
    # ADDED old, then ADDED new (the DELETED in between was missed, e.g. across a reconnect).
    text = _live([node("n1"), OLD, NEW])
    assert_unique_series(text)
    assert _pod_cpu(text) == [pytest.approx(0.16, rel=1e-12)]
    assert _idle_cpu(text) == pytest.approx(0.48, rel=1e-12)


def test_deleting_the_replacement_by_name_leaves_nothing() -> None:
    text = _live([node("n1"), OLD, NEW], deleted=[NEW])
    assert _pod_cpu(text) == []
    assert _idle_cpu(text) == pytest.approx(0.64, rel=1e-12)


def test_a_relist_with_both_uids_keeps_one_pod() -> None:
    state = CostState(parse_pricing(PRICING, "test.yaml"), clock=lambda: 1_800_000_000.0)
    state.replace("Node", [decode(node("n1"))])
    state.replace("Pod", [decode(OLD), decode(NEW)])
    text = state.render()
    assert_unique_series(text)
    assert _pod_cpu(text) == [pytest.approx(0.16, rel=1e-12)]
    assert state.pod_cost(pod_key(NEW)) is not None and state.pod_cost(pod_key(NEW)).cpu == pytest.approx(0.16)


def test_a_replaced_dra_pod_pays_for_its_claim_once() -> None:
    # One A100 published by DRA on "gpu-1". The replacement (new UID) is the one the claim is
    # reserved for: it pays the node's whole GPU cost (its one GPU), once; idle GPU is 0.
    old = template_pod("train-0", "ml", "gpu-1", "train-0-gpu-abcde")
    old["metadata"]["uid"] = "uid-old"
    new = template_pod("train-0", "ml", "gpu-1", "train-0-gpu-abcde")
    new["metadata"]["uid"] = "uid-new"
    objs = [
        node("gpu-1", cpu="96", memory="1024Gi", labels={"nvidia.com/gpu.present": "true"}),
        resource_slice("gpu-1", [gpu_device("gpu-0", "GPU-5f0b6d9e-0000-0000-0000-000000000001")]),
        claim("train-0-gpu-abcde", "ml", "gpu-1", ["gpu-0"], [consumer(new)]),
        old, new,
    ]
    state = engine(objs, PRICING)
    text = state.render()
    assert_unique_series(text)
    gpu_lines = [line for line in text.splitlines() if line.startswith("gpucost_pod_gpu_reserved_cost_per_hour{")]
    assert len(gpu_lines) == 1
    assert float(gpu_lines[0].rsplit(" ", 1)[1]) == pytest.approx(state.node_cost("gpu-1").cost["gpu"], rel=1e-12)
    assert state.node_cost("gpu-1").idle["gpu"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("namespaces", [("shop", "shop"), ("", "default")])
def test_every_series_is_unique_whatever_the_uids(namespaces: tuple[str, str]) -> None:
    # Several pods share a name across UIDs (and "" is the default namespace, as the API
    # server defaults it); two nodes, owners and a GPU: every family must stay unique.
    objs: list[dict[str, Any]] = [node("n1"), node("n2", extra={"nvidia.com/gpu": "2"})]
    for i, ns in enumerate(namespaces * 2):
        p = pod("api-0", "n1" if i % 2 else "n2",
                container(cpu="1", memory="1Gi", limits={"nvidia.com/gpu": "1"} if i % 2 == 0 else None),
                namespace="default", uid=f"uid-{i}",
                owner=("ReplicaSet", "api-7d9f", f"rs-{i}"))
        p["metadata"]["namespace"] = ns
        objs.append(p)
    text = engine(objs, PricingConfig()).render()
    assert_unique_series(text)
    assert sum(1 for line in text.splitlines() if line.startswith("gpucost_pod_cpu_cost_per_hour{")) == 1


def test_assert_unique_series_names_the_duplicate() -> None:
    text = "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"1\"} 2\n"
    with pytest.raises(AssertionError, match=r"duplicate series.*'x', '1'"):
        assert_unique_series(text)
    assert_unique_series("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"2\"} 1\n")

"""Build Kubernetes objects as the API returns them (dicts), and run them through the engine."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from gpucost.objects import KINDS
from gpucost.pricing import PricingConfig
from gpucost.pricing_file import parse_pricing
from gpucost.state import CostState, Shard

_uids = itertools.count(1)


def node(
    name: str,
    *,
    cpu: str = "16",
    memory: str = "64Gi",
    alloc_cpu: str | None = None,
    alloc_memory: str | None = None,
    labels: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
    alloc_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", **(extra or {})}
    allocatable = {
        "cpu": alloc_cpu or cpu,
        "memory": alloc_memory or memory,
        "pods": "110",
        **(alloc_extra if alloc_extra is not None else (extra or {})),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": f"node-{name}", "labels": labels or {}},
        "status": {"capacity": capacity, "allocatable": allocatable},
    }


def container(
    name: str = "main",
    *,
    cpu: str | None = None,
    memory: str | None = None,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    restart: str | None = None,
) -> dict[str, Any]:
    req = dict(requests or {})
    if cpu is not None:
        req["cpu"] = cpu
    if memory is not None:
        req["memory"] = memory
    c: dict[str, Any] = {"name": name, "image": "registry.example/app:1", "resources": {}}
    if req:
        c["resources"]["requests"] = req
    if limits:
        c["resources"]["limits"] = limits
    if restart:
        c["restartPolicy"] = restart
    return c


def pod(
    name: str,
    node_name: str | None,
    *containers: dict[str, Any],
    namespace: str = "default",
    phase: str = "Running",
    labels: dict[str, str] | None = None,
    owner: tuple[str, str, str] | None = None,
    init: list[dict[str, Any]] | None = None,
    uid: str | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"pod-{name}-{next(_uids)}",
        "labels": labels or {},
    }
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": owner[2],
                "controller": True,
            }
        ]
    if deleting:
        meta["deletionTimestamp"] = "2026-11-28T07:00:00Z"
    spec: dict[str, Any] = {"containers": list(containers)}
    if node_name:
        spec["nodeName"] = node_name
    if init:
        spec["initContainers"] = init
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": phase},
    }


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "uid": f"ns-{name}", "labels": labels},
    }


def controller(
    kind: str,
    name: str,
    uid: str,
    namespace: str = "default",
    owner: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid}
    if owner:
        meta["ownerReferences"] = [
            {"kind": owner[0], "name": owner[1], "uid": owner[2], "controller": True}
        ]
    return {
        "apiVersion": "apps/v1" if kind == "ReplicaSet" else "batch/v1",
        "kind": kind,
        "metadata": meta,
    }


def decode(obj: dict[str, Any]) -> Any:
    return msgspec.convert(obj, KINDS[obj["kind"]])


def engine(
    objs: list[dict[str, Any]], pricing: str | PricingConfig | None = None, shard: Shard | None = None
) -> CostState:
    if isinstance(pricing, str):
        pricing = parse_pricing(pricing, "test-pricing.yaml")
    state = CostState(pricing or PricingConfig(), shard=shard or Shard(), clock=lambda: 1_800_000_000.0)
    for obj in objs:
        state.upsert(obj["kind"], decode(obj))
    state.flush()
    return state


def pod_key(obj: dict[str, Any]) -> str:
    """The state's key of a pod: namespace/name (a replacement with a new UID replaces it)."""
    meta = obj["metadata"]
    return f"{meta.get('namespace') or 'default'}/{meta['name']}"


def exact(x: float) -> Any:
    """A hand-worked figure, compared to 1e-12."""
    return pytest.approx(x, rel=1e-12, abs=1e-12)


def assert_gpu_conserved(s: CostState, node_name: str, pods: list[dict[str, Any]]) -> None:
    """On one node, the pods' GPU costs plus GPU idle equal the node's GPU cost; idle >= 0."""
    nc = s.node_cost(node_name)
    paid = sum(c.gpu for c in (s.pod_cost(pod_key(p)) for p in pods) if c is not None)
    assert paid + nc.idle["gpu"] == exact(nc.cost["gpu"])
    assert nc.idle["gpu"] >= 0

"""The sync's fast paths (issue 16) give exactly what the general paths give.

- requests: the one-pass path now covers init containers and sidecars; with every quantity
  seen before (a warm parse cache, as in any sync after the first pods) it must answer every
  upstream vector it takes exactly as expected, and hand the rest to the general path.
- pod groups: pods of one controller in one namespace with the same own dimension values share
  one record and one rendering of their owner and dimension labels; a controller or namespace
  change must still relabel every pod of the group, and the last pod out removes the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from test_requests import pod_from_vector

from gpucost.objects import Pod
from gpucost.quantity import milli_value, value
from gpucost.requests import _simple_requests, pod_requests

from builders import container, controller, decode, engine, namespace, node, pod

VECTORS = {v["id"]: v for v in yaml.safe_load((Path(__file__).parent / "pod-requests-vectors.yaml").read_text())}

#: Upstream vectors the one-pass path answers itself (default options, no pod-level resources
#: or overhead, no status that differs from the spec): containers, init containers, sidecars.
FAST = (
    "larger-init", "larger-containers", "one-sidecar", "init-then-3-sidecars", "sidecar-ordering",
    "sidecar-then-big-init", "regular-init-sidecar", "regular-and-init-equal", "plr-absent-init",
    "plr-absent-sidecar", "sidecar-then-init", "gpu-init-max", "gpu-sidecar-sum",
)
#: Vectors it must hand to the general path: a limit standing in for a request, a resize in
#: the status (with or without a condition), a sidecar whose status differs.
GENERAL = (
    "just-limit", "resized-infeasible", "resized-infeasible-in-progress", "resized-no-condition",
    "resize-3way-max", "sidecar-resized-infeasible", "sidecar-resized-no-condition", "max-of-sums-1.37",
)

def units(amounts: dict[str, int] | None) -> dict[str, int] | None:
    if amounts is None:
        return None
    return {
        ("cpu_m" if k == "cpu" else "mem_b" if k == "memory" else k): (milli_value(n) if k == "cpu" else value(n))
        for k, n in amounts.items()
    }


@pytest.mark.parametrize("vid", FAST)
def test_one_pass_path_answers_the_vector(vid: str) -> None:
    pod = pod_from_vector(VECTORS[vid])
    assert units(pod_requests(pod)) == VECTORS[vid]["expect"]  # first sight: quantities parsed
    assert units(_simple_requests(pod)) == VECTORS[vid]["expect"]  # warm: the one-pass path itself


@pytest.mark.parametrize("vid", GENERAL)
def test_general_path_keeps_what_the_one_pass_path_cannot_decide(vid: str) -> None:
    pod = pod_from_vector(VECTORS[vid])
    pod_requests(pod)  # warm the parse cache: only the shape of the pod may send it on
    assert _simple_requests(pod) is None
    assert units(pod_requests(pod)) == VECTORS[vid]["expect"]


def _api_pod(init_status: bool, containers_status: bool = True) -> Pod:
    """A pod as the API serves it (bench/synth's shape): one container, a sidecar and a
    migration init container, the kubelet's status echoing the spec."""
    spec = {
        "containers": [{"name": "app", "resources": {"requests": {"cpu": "200m", "memory": "1Gi"},
                                                     "limits": {"memory": "1Gi"}}}],
        "initContainers": [
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}},
            {"name": "migrate", "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}},
        ],
    }
    status: dict[str, Any] = {"phase": "Running"}
    if containers_status:
        status["containerStatuses"] = [{"name": "app", "allocatedResources": {"cpu": "200m", "memory": "1Gi"},
                                        "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}}]
    if init_status:
        status["initContainerStatuses"] = [
            {"name": "proxy", "allocatedResources": {"cpu": "50m", "memory": "64Mi"}},
            {"name": "migrate", "allocatedResources": {"cpu": "500m", "memory": "128Mi"}},
        ]
    return msgspec.convert({"spec": spec, "status": status}, Pod)


@pytest.mark.parametrize(
    ("init_status", "containers_status", "fast"),
    [
        (True, True, True),  # statuses echo the spec: the one-pass path
        (False, False, True),  # no status yet (pending): the spec alone
        (False, True, False),  # init statuses missing beside container statuses: general path
    ],
)
def test_sidecar_and_init_container_with_status(init_status: bool, containers_status: bool, fast: bool) -> None:
    pod = _api_pod(init_status, containers_status)
    # By hand: running = app 200m + sidecar proxy 50m = 250m; init candidates = proxy alone
    # 50m, migrate 500m + proxy 50m = 550m; effective = max(250m, 550m) = 550m.
    # Memory: running 1Gi + 64Mi = 1,140,850,688 B; migrate 128Mi + 64Mi = 192Mi is less.
    expected = {"cpu_m": 550, "mem_b": 1_140_850_688}
    assert units(pod_requests(pod)) == expected
    assert units(_simple_requests(pod)) == (expected if fast else None)


# --------------------------------------------------------------------------- pod groups

_RS = ("ReplicaSet", "web-5d8f", "rs-web")


def _web(i: int, team: str | None = None) -> dict[str, Any]:
    return pod(f"web-5d8f-{i}", "n1", container(cpu="1", memory="1Gi"), namespace="shop",
               labels={"team": team} if team else {}, owner=_RS)


def _owners(text: str) -> dict[str, str]:
    """pod -> (owner_kind/owner_name, team) from the exposition's CPU lines."""
    out = {}
    for line in text.splitlines():
        if line.startswith("gpucost_pod_cpu_cost_per_hour{"):
            labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:line.index("}")].split(","))
            out[labels["pod"].strip('"')] = f'{labels["owner_kind"]}/{labels["owner_name"]} team={labels["team"]}'
    return out


def test_pods_of_one_controller_share_a_group_and_relabel_together() -> None:
    objs = [
        node("n1"), namespace("shop", team="retail"),
        controller("ReplicaSet", "web-5d8f", "rs-web", "shop", owner=("Deployment", "web", "dep-web")),
        _web(0), _web(1), _web(2, team="search"),
    ]
    state = engine(objs)
    entries = [state._pods[f"shop/web-5d8f-{i}"] for i in range(3)]
    # Same namespace, owner and own dimension values: one group; a pod with its own team label
    # is in another.
    assert entries[0].group is entries[1].group
    assert entries[2].group is not entries[0].group
    assert _owners(state.render()) == {
        "web-5d8f-0": '"Deployment"/"web" team="retail"',
        "web-5d8f-1": '"Deployment"/"web" team="retail"',
        "web-5d8f-2": '"Deployment"/"web" team="search"',
    }
    # The ReplicaSet moves to another Deployment, the namespace to another team: every pod of
    # both groups is rendered again.
    state.upsert("ReplicaSet", decode(controller("ReplicaSet", "web-5d8f", "rs-web", "shop",
                                                 owner=("Deployment", "storefront", "dep-2"))))
    state.upsert("Namespace", decode(namespace("shop", team="checkout")))
    assert _owners(state.render()) == {
        "web-5d8f-0": '"Deployment"/"storefront" team="checkout"',
        "web-5d8f-1": '"Deployment"/"storefront" team="checkout"',
        "web-5d8f-2": '"Deployment"/"storefront" team="search"',  # its own label wins
    }
    # A pod that takes its own team label changes group; the last pod out removes the group.
    state.upsert("Pod", decode(_web(1, team="search")))
    assert state._pods["shop/web-5d8f-1"].group is entries[2].group
    for i in range(3):
        state.delete("Pod", decode(_web(i)))
    state.flush()
    assert state._workloads._groups == {}
    assert _owners(state.render()) == {}

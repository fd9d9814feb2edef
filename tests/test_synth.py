"""The synthetic cluster behind the scale benchmark (bench/synth.py), checked at small sizes."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import msgspec
import pytest

from gpucost import objects  # noqa: E402
from gpucost.quantity import milli_value, parse_quantity, value  # noqa: E402

from bench import synth  # noqa: E402

PODS = 300


@pytest.fixture(scope="module")
def cluster() -> synth.Cluster:
    return synth.generate(PODS, seed=0)


def _all_lists(c: synth.Cluster) -> dict[str, bytes]:
    out = {
        name: synth.list_bytes(kind, items, c.resource_version)
        for name, (kind, items) in c.lists().items()
    }
    out["workloads"] = msgspec.json.encode(c.workloads)
    return out


def _amount(resource: str, text: str) -> int:
    """cpu in millicores, everything else in whole units (bytes, devices), rounded up."""
    nano = parse_quantity(text)
    return milli_value(nano) if resource == "cpu" else value(nano)


def _holds_resources(pod: dict) -> bool:
    return "nodeName" in pod["spec"] and pod["status"]["phase"] not in ("Succeeded", "Failed")


def _reserved_by_node(pods: list[dict]) -> dict[str, dict[str, int]]:
    """Every container's requests, init containers and overhead included: never less than
    what the scheduler charges, so staying under allocatable here means staying under it there."""
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pod in pods:
        if not _holds_resources(pod):
            continue
        node = used[pod["spec"]["nodeName"]]
        node["pods"] += 1
        spec = pod["spec"]
        lists = [
            c["resources"].get("requests", {})
            for c in spec.get("initContainers", []) + spec["containers"]
        ]
        lists.append(spec.get("overhead", {}))
        for requests in lists:
            for resource, text in requests.items():
                node[resource] += _amount(resource, text)
    return used


def test_same_seed_same_bytes() -> None:
    a, b = synth.generate(PODS, seed=7), synth.generate(PODS, seed=7)
    assert _all_lists(a) == _all_lists(b)
    assert synth.modified_events(a, 20, seed=3) == synth.modified_events(b, 20, seed=3)
    other = synth.generate(PODS, seed=8)
    assert _all_lists(other)["pods"] != _all_lists(a)["pods"]


@pytest.mark.parametrize("pods", [0, 1, 29, 31, PODS])
def test_exact_pod_count(pods: int) -> None:
    c = synth.generate(pods)
    assert len(c.pods) == pods
    assert len(c.nodes) == max(pods // 30, 1)


@pytest.mark.parametrize(("pods", "nodes"), [(500, 100), (20_000, 5_000)])
def test_few_pods_a_node_still_makes_exactly_that_many_pods(pods: int, nodes: int) -> None:
    """DaemonSets (one pod a node each) spend the whole budget before the GPU workloads; the
    generator once looped for ever there. In a child process, so a regression fails by the
    timeout instead of hanging the suite."""
    code = (f"from bench import synth; c = synth.generate({pods}, nodes={nodes}); "
            "print(len(c.pods), len(c.nodes))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    assert out.stdout.split() == [str(pods), str(nodes)]


def test_default_node_count_is_one_per_thirty_pods(cluster: synth.Cluster) -> None:
    assert len(cluster.nodes) == PODS // 30


def test_object_sizes(cluster: synth.Cluster) -> None:
    pod_sizes = [len(msgspec.json.encode(p)) for p in cluster.pods]
    node_sizes = [len(msgspec.json.encode(n)) for n in cluster.nodes]
    assert 3000 <= sum(pod_sizes) / len(pod_sizes) <= 6000
    assert 4000 <= sum(node_sizes) / len(node_sizes) <= 8000


def test_no_node_is_over_allocated(cluster: synth.Cluster) -> None:
    used = _reserved_by_node(cluster.pods)
    assert used, "no pod holds resources"
    nodes = {n["metadata"]["name"]: n for n in cluster.nodes}
    for name, reserved in used.items():
        allocatable = nodes[name]["status"]["allocatable"]
        for resource, amount in reserved.items():
            assert resource in allocatable, (name, resource)
            assert amount <= _amount(resource, allocatable[resource]), (name, resource)


def test_most_pods_run_and_few_wait(cluster: synth.Cluster) -> None:
    phases = [p["status"]["phase"] for p in cluster.pods]
    assert phases.count("Running") >= 0.85 * PODS
    assert phases.count("Running") + phases.count("Succeeded") >= 0.97 * PODS  # finished Jobs
    assert {"Pending", "Succeeded"} <= set(phases)
    unbound = [p for p in cluster.pods if "nodeName" not in p["spec"]]
    assert len(unbound) <= 0.05 * PODS
    assert all(p["status"]["phase"] == "Pending" for p in unbound)


def test_every_gpu_flavour_is_present_and_used(cluster: synth.Cluster) -> None:
    by_name = {n["metadata"]["name"]: n for n in cluster.nodes}
    flavours: dict[str, set[str]] = defaultdict(set)  # flavour -> resources requested there
    for node in cluster.nodes:
        labels, cap = node["metadata"]["labels"], node["status"]["capacity"]
        if labels.get("nvidia.com/gpu.sharing-strategy") == "time-slicing":
            replicas = int(labels["nvidia.com/gpu.replicas"])
            assert replicas > 1
            assert int(cap["nvidia.com/gpu"]) == int(labels["nvidia.com/gpu.count"]) * replicas
    for pod in cluster.pods:
        if not _holds_resources(pod):
            continue
        labels = by_name[pod["spec"]["nodeName"]]["metadata"]["labels"]
        requested = {
            r for c in pod["spec"]["containers"] for r in c["resources"].get("requests", {})
        }
        gpu = {r for r in requested if r.startswith("nvidia.com/")}
        if not gpu:
            continue
        if labels.get("nvidia.com/mig.config", "all-disabled") != "all-disabled":
            flavours["mig"] |= gpu
        elif labels["nvidia.com/gpu.replicas"] != "1":
            flavours["time-sliced"] |= gpu
        else:
            flavours["whole"] |= gpu
    assert flavours["whole"] == {"nvidia.com/gpu"}
    assert flavours["time-sliced"] == {"nvidia.com/gpu"}
    assert flavours["mig"] and all(r.startswith("nvidia.com/mig-") for r in flavours["mig"])
    whole_gpu_nodes = {
        n["metadata"]["labels"]["node.kubernetes.io/instance-type"]
        for n in cluster.nodes
        if n["status"]["capacity"].get("nvidia.com/gpu") == "8"
    }
    assert whole_gpu_nodes == {"p4de.24xlarge", "p5.48xlarge"}


def test_owner_references_resolve(cluster: synth.Cluster) -> None:
    owners = {
        o["metadata"]["uid"]: o for o in cluster.replicasets + cluster.jobs + cluster.workloads
    }
    kinds: dict[str, int] = defaultdict(int)
    for obj in cluster.pods + cluster.replicasets + cluster.jobs:
        refs = obj["metadata"].get("ownerReferences", [])
        assert len(refs) <= 1
        for ref in refs:
            owner = owners[ref["uid"]]
            assert ref["controller"] is True
            assert (ref["apiVersion"], ref["kind"], ref["name"]) == (
                owner["apiVersion"],
                owner["kind"],
                owner["metadata"]["name"],
            )
            assert owner["metadata"]["namespace"] == obj["metadata"]["namespace"]
            kinds[ref["kind"]] += 1
    assert {
        "ReplicaSet",
        "Job",
        "StatefulSet",
        "DaemonSet",
        "Deployment",
        "CronJob",
        "PyTorchJob",
    } <= set(kinds)


def test_names_uids_and_namespaces_are_consistent(cluster: synth.Cluster) -> None:
    everything = (
        cluster.nodes
        + cluster.pods
        + cluster.namespaces
        + cluster.replicasets
        + cluster.jobs
        + cluster.workloads
    )
    uids = [o["metadata"]["uid"] for o in everything]
    assert len(set(uids)) == len(uids)
    keys = [
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in everything
    ]
    assert len(set(keys)) == len(keys)
    namespaces = {n["metadata"]["name"] for n in cluster.namespaces}
    assert {p["metadata"]["namespace"] for p in cluster.pods} <= namespaces
    assert max(int(o["metadata"]["resourceVersion"]) for o in everything) == int(
        cluster.resource_version
    )
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in cluster.pods] == sorted(
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in cluster.pods
    )


def test_lists_decode_into_gpucost_records(cluster: synth.Cluster) -> None:
    for name, (kind, items) in cluster.lists().items():
        doc = msgspec.json.decode(synth.list_bytes(kind, items, cluster.resource_version))
        assert doc["kind"] == kind + "List"
        assert doc["metadata"] == {"resourceVersion": cluster.resource_version}
        # Items of a List carry no kind or apiVersion, as the API server sends them.
        assert all("kind" not in o and "apiVersion" not in o for o in doc["items"])
        record = objects.KINDS[kind]
        assert all(isinstance(msgspec.convert(o, record), record) for o in doc["items"]), name


def test_every_quantity_is_valid(cluster: synth.Cluster) -> None:
    for node in cluster.nodes:
        for section in ("capacity", "allocatable"):
            for text in node["status"][section].values():
                parse_quantity(text)
    for pod in cluster.pods:
        for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            for part in c["resources"].values():
                for resource, text in part.items():
                    parse_quantity(text)
                    if not resource.startswith(("cpu", "memory", "ephemeral-storage")):
                        assert (
                            c["resources"]["requests"][resource]
                            == c["resources"]["limits"][resource]
                        )


@pytest.mark.parametrize("limit", [1, 37, 500, 10_000])
def test_pagination_round_trips(cluster: synth.Cluster, limit: int) -> None:
    pages = [msgspec.json.decode(p) for p in synth.paginate(cluster.pods, limit)]
    assert len(pages) == max(1, -(-len(cluster.pods) // limit))
    items = [item for page in pages for item in page["items"]]
    whole = msgspec.json.decode(synth.list_bytes("Pod", cluster.pods, cluster.resource_version))
    assert items == whole["items"]
    for i, page in enumerate(pages):
        meta = page["metadata"]
        assert meta["resourceVersion"] == cluster.resource_version
        if i == len(pages) - 1:
            assert "continue" not in meta and "remainingItemCount" not in meta
        else:
            assert meta["remainingItemCount"] == len(cluster.pods) - (i + 1) * limit
            token = msgspec.json.decode(base64.urlsafe_b64decode(meta["continue"] + "=="))
            last = page["items"][-1]["metadata"]
            assert token["rv"] == int(cluster.resource_version)
            assert token["start"] == f"{last['namespace']}/{last['name']}\x00"


def test_paginate_empty_list() -> None:
    pages = synth.paginate([], 10, kind="Node", resource_version="5")
    assert [msgspec.json.decode(p) for p in pages] == [
        {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"}, "items": []}
    ]


def test_watch_events(cluster: synth.Cluster) -> None:
    raw = synth.modified_events(cluster, 200, seed=1)
    assert len(raw) == 200
    rv = int(cluster.resource_version)
    latest: dict[str, dict] = {}
    for line in raw:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        event = msgspec.json.decode(line)
        assert event["type"] == "MODIFIED"
        pod = event["object"]
        assert (pod["kind"], pod["apiVersion"]) == ("Pod", "v1")
        assert int(pod["metadata"]["resourceVersion"]) > rv
        rv = int(pod["metadata"]["resourceVersion"])
        latest[pod["metadata"]["uid"]] = pod
    # The events only change what a pod holds downwards, and never touch the cluster itself.
    after = [latest.get(p["metadata"]["uid"], p) for p in cluster.pods]
    nodes = {n["metadata"]["name"]: n for n in cluster.nodes}
    for name, reserved in _reserved_by_node(after).items():
        for resource, amount in reserved.items():
            assert amount <= _amount(resource, nodes[name]["status"]["allocatable"][resource])
    assert synth.list_bytes("Pod", cluster.pods, "1") == synth.list_bytes(
        "Pod", synth.generate(PODS, seed=0).pods, "1"
    )


def test_watch_event_bytes() -> None:
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}}
    assert synth.watch_event_bytes("DELETED", obj) == (
        b'{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}}}\n'
    )


def test_main_writes_kubectl_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert synth.main(["--pods", "60", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pods" in out and "mean bytes" in out
    doc = msgspec.json.decode((tmp_path / "pods.json").read_bytes())
    assert doc["kind"] == "List" and len(doc["items"]) == 60
    assert doc["items"][0]["kind"] == "Pod"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "jobs.json",
        "namespaces.json",
        "nodes.json",
        "pods.json",
        "replicasets.json",
    ]


@pytest.fixture(scope="module")
def dra_cluster() -> synth.Cluster:
    return synth.generate(PODS, seed=0, dra=True)


def test_dra_cluster_has_one_claim_per_gpu_pod_and_one_slice_per_gpu_node(
    cluster: synth.Cluster, dra_cluster: synth.Cluster
) -> None:
    def asks_gpus(pod: dict) -> bool:
        return any(r.startswith("nvidia.com/") for c in pod["spec"]["containers"]
                   for r in c["resources"].get("requests", {}))

    gpu_pods = [p["metadata"]["name"] for p in cluster.pods if asks_gpus(p)]
    gpu_nodes = [n["metadata"]["name"] for n in cluster.nodes
                 if any(r.startswith("nvidia.com/") for r in n["status"]["capacity"])]
    assert gpu_pods and gpu_nodes
    # Same pods and nodes; GPU requests and capacities have become claims and slices.
    assert [p["metadata"]["uid"] for p in dra_cluster.pods] == [p["metadata"]["uid"] for p in cluster.pods]
    assert not any(asks_gpus(p) for p in dra_cluster.pods)
    assert not any(r.startswith("nvidia.com/") for n in dra_cluster.nodes for r in n["status"]["capacity"])
    claimed = {p["metadata"]["name"]: p["status"]["resourceClaimStatuses"][0]["resourceClaimName"]
               for p in dra_cluster.pods if p["spec"].get("resourceClaims")}
    assert sorted(claimed) == sorted(gpu_pods)
    assert sorted(c["metadata"]["name"] for c in dra_cluster.resourceclaims) == sorted(claimed.values())
    assert sorted(s["spec"]["nodeName"] for s in dra_cluster.resourceslices) == sorted(gpu_nodes)


def test_dra_claims_never_overbook_a_device(dra_cluster: synth.Cluster) -> None:
    devices = {(s["spec"]["pool"]["name"], d["name"]): d
               for s in dra_cluster.resourceslices for d in s["spec"]["devices"]}
    taken: dict[tuple[str, str], int] = defaultdict(int)  # MiB of memory taken per device
    pods = {p["metadata"]["uid"]: p for p in dra_cluster.pods}
    for c in dra_cluster.resourceclaims:
        status = c["status"]
        if not status:
            continue
        (user,) = status["reservedFor"]
        assert pods[user["uid"]]["spec"]["nodeName"] == status["allocation"]["devices"]["results"][0]["pool"]
        for result in status["allocation"]["devices"]["results"]:
            device = devices[result["pool"], result["device"]]
            total = int(device["capacity"]["memory"]["value"].removesuffix("Mi"))
            consumed = result.get("consumedCapacity", {}).get("memory")
            assert (consumed is not None) == bool(device.get("allowMultipleAllocations"))
            taken[result["pool"], result["device"]] += int(consumed.removesuffix("Mi")) if consumed else total
            assert taken[result["pool"], result["device"]] <= total, result
    assert taken


def test_dra_cluster_lists_decode_and_cost(dra_cluster: synth.Cluster) -> None:
    from gpucost.pricing import PricingConfig
    from gpucost.state import CostState

    state = CostState(PricingConfig())
    for kind in ("Node", "ResourceSlice", "ResourceClaim", "Pod"):
        decoder = msgspec.json.Decoder(objects.KINDS[kind])
        items = dict(dra_cluster.lists().values())[kind]
        state.replace(kind, [decoder.decode(msgspec.json.encode(o)) for o in items])
    state.flush()
    text = state.render()
    # Every GPU pod that holds devices is charged under the DRA driver's resource label.
    held = sum(1 for c in dra_cluster.resourceclaims if c["status"])
    assert text.count('resource="gpu.nvidia.com"') == held
    for s in dra_cluster.resourceslices:
        cost = state.node_cost(s["spec"]["nodeName"])
        assert cost.idle["gpu"] >= 0

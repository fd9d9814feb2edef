"""The synthetic cluster with its GPUs handed out through Dynamic Resource Allocation (issue 16).

`to_dra(cluster)` turns every GPU of a generated cluster (bench/synth.py) into DRA objects, so the
benchmark's cold sync and watch include the claim path:

- each GPU node stops advertising GPU resources (the NVIDIA DRA driver replaces the device
  plugin: `nvidia.com/gpu.deploy.device-plugin=false`) and publishes one ResourceSlice (driver
  gpu.nvidia.com, pool named after the node) listing its devices: whole GPUs, MIG devices with
  their parent's UUID, or, on time-sliced nodes, GPUs that allow several allocations, each taking
  1/replicas of the memory (DRAConsumableCapacity, KEP-5075);
- each GPU pod names a ResourceClaimTemplate instead of requesting GPU resources; its generated
  claim (`<pod>-gpu-<suffix>`, in `status.resourceClaimStatuses`) is allocated the devices the
  device plugin would have given it on the same node and is reserved for the pod.

Shapes follow the published objects in tests/allocation_objects.py (NVIDIA/k8s-dra-driver-gpu
device attributes; the Kubernetes DRA concepts page for claims and pods). Pods that hold nothing
(finished, or not bound) get a claim that is not allocated, as a pending pod's claim is.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from bench.synth import GPU_MODELS, MIG_PROFILES, Cluster, Obj

DRIVER = "gpu.nvidia.com"
API_VERSION = "resource.k8s.io/v1"
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"
_MIG_PREFIX = "nvidia.com/mig-"
_PRODUCT_NAMES = {"A10G": "NVIDIA A10G", "A100-80GB": "NVIDIA A100-SXM4-80GB", "H100": "NVIDIA H100 80GB HBM3"}
_ARCHITECTURES = {"ampere": "Ampere", "hopper": "Hopper"}


def _is_gpu(resource: str) -> bool:
    return resource == "nvidia.com/gpu" or resource.startswith(_MIG_PREFIX)


def _hex(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _uuid(prefix: str, *parts: str) -> str:
    h = _hex(*parts)
    return f"{prefix}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _suffix(*parts: str) -> str:
    h = int(_hex(*parts)[:16], 16)
    out = ""
    for _ in range(5):
        h, k = divmod(h, len(_ALNUM))
        out += _ALNUM[k]
    return out


class _NodeDevices:
    """One GPU node's devices as the DRA driver publishes them, handed out in order."""

    def __init__(self, node: Obj) -> None:
        meta = node["metadata"]
        labels = meta["labels"]
        self.name: str = meta["name"]
        model = next(m for m, facts in GPU_MODELS.items() if labels["nvidia.com/gpu.product"].startswith(facts[0]))
        _, memory_mib, family, major, minor = GPU_MODELS[model]
        gpus = int(labels["nvidia.com/gpu.count"])
        replicas = int(labels.get("nvidia.com/gpu.replicas", "1"))
        capacity = node["status"]["capacity"]
        allocatable = node["status"]["allocatable"]
        # An unhealthy device (allocatable below capacity) is not published at all.
        healthy = gpus - (int(capacity.get("nvidia.com/gpu", 0)) - int(allocatable.get("nvidia.com/gpu", 0))) // replicas
        self.replicas = replicas
        self.memory_mib = memory_mib
        self.free: dict[str, list[str]] = {}  # resource the pod asked for -> devices left, in order
        self.devices: list[Obj] = []
        product = _PRODUCT_NAMES[model]
        common = {
            "productName": {"string": product},
            "architecture": {"string": _ARCHITECTURES[family]},
            "brand": {"string": "Nvidia"},
            "cudaComputeCapability": {"version": f"{major}.{minor}.0"},
            "driverVersion": {"version": "570.133.20"},
        }
        mig = {r.removeprefix(_MIG_PREFIX): int(n) for r, n in capacity.items() if r.startswith(_MIG_PREFIX)}
        for i in range(healthy):
            parent = _uuid("GPU-", self.name, str(i))
            if mig:
                for profile, total in mig.items():
                    for j in range(total // gpus):
                        name = f"gpu-{i}-mig-{profile}-{j}"
                        mig_memory = MIG_PROFILES[model, profile][2]
                        self.devices.append({
                            "name": name,
                            "attributes": {
                                "type": {"string": "mig"},
                                "uuid": {"string": _uuid("MIG-", self.name, name)},
                                "parentUUID": {"string": parent},
                                "profile": {"string": profile},
                                "index": {"int": j},
                                "parentIndex": {"int": i},
                                **common,
                            },
                            "capacity": {"memory": {"value": f"{mig_memory}Mi"}},
                        })
                        self.free.setdefault(_MIG_PREFIX + profile, []).append(name)
                continue
            device: Obj = {
                "name": f"gpu-{i}",
                "attributes": {
                    "type": {"string": "gpu"},
                    "uuid": {"string": parent},
                    "index": {"int": i},
                    "minor": {"int": i},
                    **common,
                },
                "capacity": {"memory": {"value": f"{memory_mib}Mi"}},
            }
            if replicas > 1:
                # Several claims share the GPU, each taking 1/replicas of its memory.
                device["allowMultipleAllocations"] = True
                device["capacity"]["memory"]["requestPolicy"] = {
                    "default": f"{memory_mib // replicas}Mi",
                    "validRange": {"min": f"{memory_mib // replicas}Mi"},
                }
            self.devices.append(device)
            self.free.setdefault("nvidia.com/gpu", []).extend([f"gpu-{i}"] * replicas)

    def take(self, resource: str, n: int) -> list[str]:
        free = self.free[resource]
        taken, self.free[resource] = free[:n], free[n:]
        if len(taken) < n:
            raise ValueError(f"{self.name}: {n} x {resource} requested, {len(taken)} left")
        return taken

    def resource_slice(self, resource_version: str) -> Obj:
        return {
            "kind": "ResourceSlice",
            "apiVersion": API_VERSION,
            "metadata": {
                "name": f"{self.name}-{DRIVER}-{_suffix('slice', self.name)}",
                "generateName": f"{self.name}-{DRIVER}-",
                "uid": _uuid("", "slice", self.name),
                "resourceVersion": resource_version,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                     "uid": _uuid("", "node", self.name), "controller": True}],
            },
            "spec": {
                "driver": DRIVER,
                "pool": {"name": self.name, "generation": 1, "resourceSliceCount": 1},
                "nodeName": self.name,
                "devices": self.devices,
            },
        }


def _without_gpus(resources: Obj | None) -> Obj | None:
    if not resources:
        return resources
    return {k: v for k, v in resources.items() if not _is_gpu(k)}


def _container_without_gpus(c: Obj, claims: bool) -> Obj:
    res = c.get("resources")
    if not res:
        return c
    new_res = {k: _without_gpus(v) if k in ("requests", "limits") else v for k, v in res.items()}
    if claims:
        new_res["claims"] = [{"name": "gpu"}]
    out = dict(c)
    out["resources"] = new_res
    if "allocatedResources" in out:
        out["allocatedResources"] = _without_gpus(out["allocatedResources"])
    return out


def _gpu_request(pod: Obj) -> tuple[str, int] | None:
    """(resource, units) of the GPUs a pod's containers request, or None."""
    for c in pod["spec"]["containers"]:
        for resource, amount in (c.get("resources") or {}).get("requests", {}).items():
            if _is_gpu(resource):
                return resource, int(amount)
    return None


def _claim(pod: Obj, name: str, resource: str, units: int, node: str | None, devices: list[str],
           share_mib: int) -> Obj:
    meta = pod["metadata"]
    request: dict[str, Any] = {
        "deviceClassName": "mig.nvidia.com" if resource.startswith(_MIG_PREFIX) else DRIVER,
        "allocationMode": "ExactCount",
        "count": units,
    }
    if resource.startswith(_MIG_PREFIX):
        request["selectors"] = [{"cel": {"expression":
            f"device.attributes['{DRIVER}'].profile == '{resource.removeprefix(_MIG_PREFIX)}'"}}]
    if share_mib:
        request["capacity"] = {"requests": {"memory": f"{share_mib}Mi"}}
    status: Obj = {}
    if node is not None and devices:
        results = []
        for device in devices:
            result: Obj = {"request": "gpu", "driver": DRIVER, "pool": node, "device": device}
            if share_mib:
                result["consumedCapacity"] = {"memory": f"{share_mib}Mi"}
                result["shareID"] = _uuid("", "share", name, device)
            results.append(result)
        status = {
            "allocation": {
                "devices": {"results": results},
                "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [node]}]}]},
            },
            "reservedFor": [{"resource": "pods", "name": meta["name"], "uid": meta["uid"]}],
        }
    return {
        "kind": "ResourceClaim",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": name,
            "generateName": f"{meta['name']}-gpu-",
            "namespace": meta["namespace"],
            "uid": _uuid("", "claim", meta["uid"]),
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
            "annotations": {"resource.kubernetes.io/pod-claim-name": "gpu"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": request}]}},
        "status": status,
    }


def _dra_pod(pod: Obj, claim_name: str) -> Obj:
    spec = dict(pod["spec"])
    spec["containers"] = [_container_without_gpus(c, claims=True) for c in spec["containers"]]
    spec["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": f"{pod['metadata']['namespace']}-gpu"}]
    status = dict(pod["status"])
    if "containerStatuses" in status:
        status["containerStatuses"] = [_container_without_gpus(c, claims=False) for c in status["containerStatuses"]]
    status["resourceClaimStatuses"] = [{"name": "gpu", "resourceClaimName": claim_name}]
    out = dict(pod)
    out["spec"], out["status"] = spec, status
    return out


def _dra_node(node: Obj) -> Obj:
    meta = dict(node["metadata"])
    labels = dict(meta["labels"])
    labels["nvidia.com/gpu.deploy.device-plugin"] = "false"
    labels["nvidia.com/dra-kubelet-plugin"] = "true"
    meta["labels"] = labels
    status = dict(node["status"])
    status["capacity"] = _without_gpus(status["capacity"])
    status["allocatable"] = _without_gpus(status["allocatable"])
    out = dict(node)
    out["metadata"], out["status"] = meta, status
    return out


def to_dra(cluster: Cluster) -> Cluster:
    """The same cluster with GPUs allocated through DRA: one claim per GPU pod, one slice per
    GPU node. Input objects are not modified (they share sub-objects, see bench/synth.py)."""
    gpu_nodes: dict[str, _NodeDevices] = {}
    nodes = []
    for node in cluster.nodes:
        if any(_is_gpu(r) for r in node["status"]["capacity"]):
            gpu_nodes[node["metadata"]["name"]] = _NodeDevices(node)
            node = _dra_node(node)
        nodes.append(node)
    pods, claims = [], []
    for pod in cluster.pods:
        asked = _gpu_request(pod)
        if asked is None:
            pods.append(pod)
            continue
        resource, units = asked
        node_name = pod["spec"].get("nodeName")
        holds = node_name is not None and pod["status"]["phase"] not in ("Succeeded", "Failed")
        devices = gpu_nodes[node_name].take(resource, units) if holds else []
        share = 0
        if holds and gpu_nodes[node_name].replicas > 1:
            share = gpu_nodes[node_name].memory_mib // gpu_nodes[node_name].replicas
        name = f"{pod['metadata']['name']}-gpu-{_suffix('claim', pod['metadata']['uid'])}"
        claims.append(_claim(pod, name, resource, units, node_name if holds else None, devices, share))
        pods.append(_dra_pod(pod, name))
    slices = [d.resource_slice(cluster.resource_version) for d in gpu_nodes.values()]
    return replace(
        cluster, nodes=nodes, pods=pods,
        resourceclaims=sorted(claims, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])),
        resourceslices=sorted(slices, key=lambda o: o["metadata"]["name"]),
    )

"""GPU allocations as DRA, HAMi and KAI Scheduler publish them (issue 10). Shapes follow the
cited sources; names, UIDs and sizes are filled in where a source leaves them open."""

from __future__ import annotations

from typing import Any

from builders import container, node, pod

A100_80 = "NVIDIA A100-SXM4-80GB"


def gpu_device(name: str, uuid: str, product: str = A100_80, memory: str = "80Gi") -> dict[str, Any]:
    """A whole GPU as NVIDIA's DRA driver (NVIDIA/k8s-dra-driver-gpu, GpuInfo.GetDevice)
    publishes it in resource.k8s.io/v1: type gpu, uuid, productName, ..., capacity memory; the
    attribute set of a published v1 slice (driver gpu.nvidia.com, pool named after the node)."""
    return {
        "name": name,
        "attributes": {
            "type": {"string": "gpu"}, "uuid": {"string": uuid}, "productName": {"string": product},
            "architecture": {"string": "Ampere"}, "brand": {"string": "Nvidia"},
            "cudaComputeCapability": {"version": "8.0.0"}, "driverVersion": {"version": "580.126.9"},
            "index": {"int": int(name.rsplit("-", 1)[-1])},
        },
        "capacity": {"memory": {"value": memory}},
    }


def mig_device(name: str, uuid: str, parent: str, profile: str, memory: str, product: str = A100_80) -> dict[str, Any]:
    """A MIG device as the same driver publishes it (MigDeviceInfo.GetDevice): type mig, uuid,
    parentUUID, index, parentIndex, profile, and the parent's productName."""
    return {
        "name": name,
        "attributes": {
            "type": {"string": "mig"}, "uuid": {"string": uuid}, "parentUUID": {"string": parent},
            "profile": {"string": profile}, "productName": {"string": product},
            "index": {"int": 0}, "parentIndex": {"int": 0},
        },
        "capacity": {"memory": {"value": memory}},
    }


def resource_slice(node_name: str, devices: list[dict[str, Any]], driver: str = "gpu.nvidia.com",
                   generation: int = 1, name: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
        "metadata": {"name": name or f"{node_name}-{driver}-x7k2p"},
        "spec": {"driver": driver, "nodeName": node_name,
                 "pool": {"name": node_name, "generation": generation, "resourceSliceCount": 1},
                 "devices": devices},
    }


def claim(name: str, namespace: str, node_name: str, devices: list[str], reserved_for: list[dict[str, Any]],
          driver: str = "gpu.nvidia.com", admin: bool = False,
          consumed: dict[str, str] | None = None) -> dict[str, Any]:
    """A ResourceClaim after allocation (Kubernetes "Dynamic Resource Allocation" concepts page;
    NVIDIA gpu-test specs): status.allocation.devices.results[] {request, driver, pool, device}
    and status.reservedFor[] {resource: pods, name, uid}."""
    results = []
    for device in devices:
        result: dict[str, Any] = {"request": "gpu", "driver": driver, "pool": node_name, "device": device}
        if admin:
            result["adminAccess"] = True
        if consumed:
            result["consumedCapacity"] = consumed
            result["shareID"] = "9f5ad2d3-f4a1-4b53-bb1d-3c4c2d1f2a77"
        results.append(result)
    status: dict[str, Any] = {"reservedFor": reserved_for}
    if devices:
        status["allocation"] = {"devices": {"results": results},
                                "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}
    return {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace, "uid": f"claim-{name}"},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]}},
        "status": status,
    }


def consumer(p: dict[str, Any]) -> dict[str, Any]:
    return {"resource": "pods", "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}


def template_pod(name: str, namespace: str, node_name: str, generated: str) -> dict[str, Any]:
    """NVIDIA gpu-test1: a pod naming a ResourceClaimTemplate; the claim generated for it is in
    status.resourceClaimStatuses (Kubernetes DRA docs, "ResourceClaimTemplate")."""
    p = pod(name, node_name, container(cpu="1", memory="4Gi"), namespace=namespace)
    p["spec"]["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": "single-gpu"}]
    p["spec"]["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
    p["status"]["resourceClaimStatuses"] = [{"name": "gpu", "resourceClaimName": generated}]
    return p


def shared_claim_pod(name: str, namespace: str, node_name: str, claim_name: str) -> dict[str, Any]:
    """NVIDIA gpu-test3: pods naming one ResourceClaim directly, sharing its GPU."""
    p = pod(name, node_name, container(cpu="1", memory="4Gi"), namespace=namespace)
    p["spec"]["resourceClaims"] = [{"name": "shared-gpu", "resourceClaimName": claim_name}]
    return p


def dra_node(name: str) -> dict[str, Any]:
    """A node whose GPUs only the DRA driver publishes (device plugin disabled, as EKS Auto Mode
    and the GPU Operator's DRA mode do): no nvidia.com/gpu capacity, no GFD count."""
    return node(name, cpu="96", memory="1024Gi", labels={"nvidia.com/gpu.present": "true"})


# --- HAMi ---------------------------------------------------------------------------------------

HAMI_GPU_0 = "GPU-00552014-5c87-89ac-b1a6-7b53aa24b0ec"
HAMI_GPU_1 = "GPU-0fc3eda5-e98b-a25b-5b0d-cf5c855d1448"


def hami_node(name: str = "node67-4v100") -> dict[str, Any]:
    """HAMi's device registration, as in Project-HAMi/HAMi docs/develop/protocol.md: two
    V100-PCIE-32GB registered with split count 10, so nvidia.com/gpu capacity is 20 vGPU slots."""
    n = node(name, cpu="32", memory="256Gi", extra={"nvidia.com/gpu": "20"})
    n["metadata"]["annotations"] = {
        "hami.io/node-handshake-nvidia": "Reported_2024-01-23 04:30:04",
        "hami.io/node-nvidia-register": (
            f"{HAMI_GPU_0},10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true,0,hami-core:"
            f"{HAMI_GPU_1},10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true,1,hami-core:"
        ),
    }
    return n


def hami_pod_allocated(name: str, node_name: str) -> dict[str, Any]:
    """The protocol doc's scheduling decision: two containers, 1 vGPU each, 3000 and 5000 MiB
    of the same GPU, no core limit."""
    p = pod(name, node_name,
            container("a", cpu="1", limits={"nvidia.com/gpu": "1", "nvidia.com/gpumem": "3000"}),
            container("b", cpu="1", limits={"nvidia.com/gpu": "1", "nvidia.com/gpumem": "5000"}))
    p["metadata"]["annotations"] = {
        "hami.io/vgpu-devices-allocated": f"{HAMI_GPU_1},NVIDIA,3000,0:;{HAMI_GPU_1},NVIDIA,5000,0:;",
        "hami.io/vgpu-node": node_name,
        "hami.io/vgpu-time": "1705054796",
    }
    return p


def hami_pod_requests(name: str, node_name: str, **resources: str) -> dict[str, Any]:
    """HAMi's README examples request nvidia.com/gpu with nvidia.com/gpumem (MiB),
    nvidia.com/gpumem-percentage and nvidia.com/gpucores (percent) per vGPU in limits."""
    return pod(name, node_name, container(cpu="1", limits={"nvidia.com/gpu": "1", **resources}))


# --- KAI Scheduler ------------------------------------------------------------------------------


def kai_node(name: str = "a10g-1") -> dict[str, Any]:
    """One A10G with GFD labels (nvidia.com/gpu.memory in MiB as GFD writes it for an A10G)."""
    return node(name, cpu="8", memory="32Gi",
                labels={"nvidia.com/gpu.product": "NVIDIA-A10G", "nvidia.com/gpu.count": "1",
                        "nvidia.com/gpu.memory": "23028"},
                extra={"nvidia.com/gpu": "1"})


def kai_fractional_pod(name: str, node_name: str, group: str, **annotations: str) -> dict[str, Any]:
    """KAI-Scheduler docs/gpu-sharing: `gpu-fraction: "0.5"` (or `gpu-memory` in MiB) on a pod
    with schedulerName kai-scheduler and a queue label; no nvidia.com/gpu in its resources. Once
    bound, KAI labels it with the runai-gpu-group it shares."""
    p = pod(name, node_name, container(cpu="1", memory="1Gi"), namespace="team-a",
            labels={"kai.scheduler/queue": "test", "runai-gpu-group": group})
    p["metadata"]["annotations"] = dict(annotations)
    p["spec"]["schedulerName"] = "kai-scheduler"
    return p


def kai_reservation_pod(node_name: str, group: str) -> dict[str, Any]:
    """The reservation pod KAI runs in kai-resource-reservation to hold the whole GPU."""
    return pod(f"gpu-reservation-{node_name}-x9z2k", node_name,
               container("resource-reservation", cpu="2m", memory="20Mi", limits={"nvidia.com/gpu": "1"}),
               namespace="kai-resource-reservation",
               labels={"app": "kai-resource-reservation", "runai-gpu-group": group})

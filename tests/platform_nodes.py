"""GPU nodes as managed platforms and GPU stacks publish them (issue 9). Each fixture keeps the
labels and GPU capacity the cited source shows; names, CPU and memory are filled in where the
source leaves them out (cpu and memory as the VM size's documented figures)."""

from __future__ import annotations

from typing import Any

from builders import node


def gke_timeshared_l4(clients: int = 8) -> dict[str, Any]:
    """GKE time-sharing: "GKE then adds node labels that specify the maximum number of containers
    allowed to share each GPU ... cloud.google.com/gke-max-shared-clients-per-gpu: "3",
    cloud.google.com/gke-gpu-sharing-strategy: time-sharing", and "the GPU driver presents the
    physical GPU to the kubelet on your nodes as multiple" GPUs (cloud.google.com/kubernetes-engine
    /docs/concepts/timesharing-gpus). One L4 per g2-standard-8 (cloud.google.com/compute/docs/gpus).
    """
    return node(
        "gke-l4-timeshare-7c1b", cpu="8", memory="32Gi",
        labels={
            "cloud.google.com/gke-accelerator": "nvidia-l4",
            "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
            "cloud.google.com/gke-max-shared-clients-per-gpu": str(clients),
            "cloud.google.com/gke-gpu-driver-version": "default",
            "node.kubernetes.io/instance-type": "g2-standard-8",
            "topology.kubernetes.io/region": "us-central1",
        },
        extra={"nvidia.com/gpu": str(clients)},
    )


def gke_timeshared_n1_t4(gpus: int, clients: int) -> dict[str, Any]:
    """GKE n1 machine with attached T4s (the machine type does not say how many) under
    time-sharing: capacity is GPUs x clients (same source as above)."""
    return node(
        "gke-n1-t4-ts-0a2f", cpu="4", memory="15Gi",
        labels={
            "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
            "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
            "cloud.google.com/gke-max-shared-clients-per-gpu": str(clients),
            "node.kubernetes.io/instance-type": "n1-standard-4",
        },
        extra={"nvidia.com/gpu": str(gpus * clients)},
    )


def gke_mig(name: str, accelerator: str, instance_type: str, partition: str, units: int, cpu: str, memory: str,
            clients: int | None = None) -> dict[str, Any]:
    """GKE multi-instance GPUs: the node pool's gpu-partition-size becomes the node label
    cloud.google.com/gke-gpu-partition-size, and every partition is advertised as one
    nvidia.com/gpu ("a MIG pool with gpu_partition_size = 1g.5gb on an A100 40GB appears as 7";
    cloud.google.com/kubernetes-engine/docs/how-to/gpus-multi). Time-sharing can be layered on
    the partitions (GKE "About GPU sharing strategies")."""
    labels = {
        "cloud.google.com/gke-accelerator": accelerator,
        "cloud.google.com/gke-gpu-partition-size": partition,
        "node.kubernetes.io/instance-type": instance_type,
        "cloud.google.com/gke-spot": "true",
    }
    if clients:
        labels["cloud.google.com/gke-gpu-sharing-strategy"] = "time-sharing"
        labels["cloud.google.com/gke-max-shared-clients-per-gpu"] = str(clients)
    return node(name, cpu=cpu, memory=memory, labels=labels, extra={"nvidia.com/gpu": str(units)})


def bottlerocket_p5_shared() -> dict[str, Any]:
    """EKS managed node group on Bottlerocket, device plugin configured through
    settings.kubelet-device-plugins.nvidia (device-sharing-strategy, time-slicing.replicas,
    rename-by-default; bottlerocket-os settings reference): shared units are advertised as
    nvidia.com/gpu.shared and no GPU Feature Discovery labels exist. Capacity 128 as pasted in
    issue 9; p5.48xlarge = 8 x H100 80GB, 192 vCPU, 2048 GiB (AWS accelerated computing specs)."""
    return node(
        "ip-10-0-12-34.ec2.internal", cpu="192", memory="2048Gi",
        labels={
            "node.kubernetes.io/instance-type": "p5.48xlarge",
            "eks.amazonaws.com/nodegroup": "gpu-shared",
            "eks.amazonaws.com/capacityType": "ON_DEMAND",
            "topology.kubernetes.io/region": "us-east-1",
        },
        extra={"nvidia.com/gpu.shared": "128"},
    )


def karpenter_p4d_plugin_down() -> dict[str, Any]:
    """Karpenter well-known labels (karpenter.sh docs, "Well-Known Labels": instance-gpu-name
    t4, instance-gpu-manufacturer nvidia, instance-gpu-count 1, instance-gpu-memory 16384 MiB)
    on a p4d.24xlarge (8 x A100 40GB = 40960 MiB each) whose NVIDIA device plugin has not
    registered: no nvidia.com/gpu in capacity."""
    return node(
        "ip-10-0-77-5.us-west-2.compute.internal", cpu="96", memory="1152Gi",
        labels={
            "node.kubernetes.io/instance-type": "p4d.24xlarge",
            "karpenter.sh/capacity-type": "spot",
            "karpenter.k8s.aws/instance-gpu-count": "8",
            "karpenter.k8s.aws/instance-gpu-name": "a100",
            "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
            "karpenter.k8s.aws/instance-gpu-memory": "40960",
        },
    )


def aks_nd96asr_mig1g() -> dict[str, Any]:
    """AKS multi-instance GPU node pool (learn.microsoft.com/azure/aks/gpu-multi-instance):
    `az aks nodepool add --node-vm-size Standard_ND96asr_v4 --gpu-instance-profile MIG1g`, "MIG
    1g.5gb ... Number of Instances created 7" per A100; the device plugin's mixed strategy
    advertises nvidia.com/mig-1g.5gb, 8 GPUs x 7 = 56. AKS labels GPU nodes
    kubernetes.azure.com/accelerator=nvidia (AKS "Use labels" reference). ND96asr_v4: 96 vCPU,
    900 GiB, 8 x A100 40GB (Azure ND A100 v4 sizes)."""
    return node(
        "aks-mignode-23452354-vmss000000", cpu="96", memory="900Gi",
        labels={
            "kubernetes.azure.com/accelerator": "nvidia",
            "kubernetes.azure.com/agentpool": "mignode",
            "kubernetes.azure.com/mode": "user",
            "node.kubernetes.io/instance-type": "Standard_ND96asr_v4",
            "topology.kubernetes.io/region": "southcentralus",
        },
        extra={"nvidia.com/mig-1g.5gb": "56"},
    )


def amd_mi300x_cpx(strategy: str) -> dict[str, Any]:
    """ROCm k8s-device-plugin README: node labeller partition labels
    amd.com/compute-memory-partition ("spx_nps1", "cpx_nps1", "cpx_nps4", ...),
    amd.com/compute-partitioning-supported, amd.com/memory-partitioning-supported; resource
    naming strategy single reports every partition as amd.com/gpu, mixed as e.g.
    amd.com/cpx_nps4. 8 x MI300X in CPX mode = 64 partitions (8 XCDs each; AMD SMI
    "GPU partitioning")."""
    resource = "amd.com/gpu" if strategy == "single" else "amd.com/cpx_nps4"
    return node(
        f"mi300x-cpx-{strategy}", cpu="96", memory="1850Gi",
        labels={
            "amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM",
            "amd.com/gpu.family": "AI",
            "amd.com/gpu.vram": "192G",
            "amd.com/compute-memory-partition": "cpx_nps4",
            "amd.com/compute-partitioning-supported": "true",
            "amd.com/memory-partitioning-supported": "true",
        },
        extra={resource: "64"},
    )


def gfd_old_names(name: str, product: str, count: int) -> dict[str, Any]:
    """GPU Feature Discovery on older drivers wrote the NVML name without the NVIDIA- prefix
    (NVIDIA/gpu-feature-discovery README, e.g. nvidia.com/gpu.product=A100-SXM4-40GB;
    T4s as Tesla-T4)."""
    return node(
        name, cpu="96", memory="1152Gi",
        labels={"nvidia.com/gpu.product": product, "nvidia.com/gpu.count": str(count),
                "nvidia.com/gpu.family": "ampere"},
        extra={"nvidia.com/gpu": str(count)},
    )


def intel_max_1550_shared(shared_dev_num: int) -> dict[str, Any]:
    """Intel device plugins for Kubernetes, GPU plugin "Labels": NFD rules for data center GPUs
    add gpu.intel.com/device.count, gpu.intel.com/family and gpu.intel.com/product (Max 1550:
    device.count=2, family=Max_Series, product=Max_1550). With -shared-dev-num N the plugin
    advertises N gpu.intel.com/i915 units per GPU, and no label says N."""
    return node(
        "intel-max-0", cpu="112", memory="512Gi",
        labels={"gpu.intel.com/device.count": "2", "gpu.intel.com/family": "Max_Series",
                "gpu.intel.com/product": "Max_1550",
                "gpu.intel.com/device-id.0380-0bd5.present": "true"},
        extra={"gpu.intel.com/i915": str(2 * shared_dev_num)},
    )

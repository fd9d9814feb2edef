#!/usr/bin/env python3
"""Write the demo cluster, the cluster that `gpucost-exporter --demo` runs on.

The output is one Kubernetes `List`, shaped like the output of
`kubectl get nodes,pods,namespaces,replicasets,jobs -A -o json` on an EKS cluster in
us-east-1 with ten nodes: three CPU nodes, three p4de.24xlarge (one partly idle, one cut into
MIG slices), two p5.48xlarge running a two-node training Job, a g5.12xlarge whose A10Gs are
time-sliced four ways, and an AMD MI300X machine joined as a hybrid node.

The script is deterministic: UIDs are uuid5 of the object's kind, namespace and name, name
suffixes and hashes come from SHA-256 of the name, and every timestamp is an offset from one
fixed instant. Running it twice gives the same bytes. It checks the result before writing
(see `validate`) and prints a summary per node.

    python examples/demo/generate.py            # writes exporter/gpucost/demo/cluster.json
    python examples/demo/generate.py --check    # fails if cluster.json is not up to date
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

#: Package data, so an installed gpucost (wheel, image) has its demo; examples/demo/cluster.json
#: is a link to it.
OUTPUT = Path(__file__).resolve().parents[2] / "exporter" / "gpucost" / "demo" / "cluster.json"

#: The instant the snapshot was taken; every timestamp is an offset from it.
NOW = datetime(2025, 11, 4, 14, 0, 0, tzinfo=timezone.utc)
UID_NAMESPACE = uuid.UUID("0f3c2a6e-5b1d-4e8a-9c47-2d6b8e1f0a93")
ACCOUNT = "111122223333"  # AWS's documentation account id: clearly not a real one
ECR = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
EKS_ECR = "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks"  # AWS's own add-on images
NVIDIA_PLUGIN = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
CONFIG_RELOADER = "quay.io/prometheus-operator/prometheus-config-reloader:v0.86.1"
KUBE_PROMETHEUS = {"app.kubernetes.io/part-of": "kube-prometheus"}
NOTEBOOK = "quay.io/jupyter/pytorch-notebook:cuda12-2025-10-20"
K8S_VERSION = "v1.34.1-eks-113cf36"
# Kubernetes' own alphabet for generated name suffixes (no vowels, no 0/1/3).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Json = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Deterministic identifiers


def uid(kind: str, namespace: str, name: str) -> str:
    return str(uuid.uuid5(UID_NAMESPACE, f"{kind}/{namespace}/{name}"))


def digest(*parts: str) -> bytes:
    return hashlib.sha256("/".join(parts).encode()).digest()


def name_suffix(seed: str, length: int = 5) -> str:
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest(seed)[:length])


def hex_id(seed: str, length: int = 64) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cron_job_name(cronjob: str, scheduled: datetime) -> str:
    """The CronJob controller names each Job after its scheduled time in minutes since epoch."""
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


class ResourceVersions:
    """Monotonic resourceVersions, as etcd hands them out."""

    def __init__(self) -> None:
        self._next = 48_213_377

    def __call__(self) -> str:
        self._next += 1_237
        return str(self._next)


next_rv = ResourceVersions()


# --------------------------------------------------------------------------------------------
# Nodes

# EKS sizing of kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of the next
# two, 0.25% of every core above four. Memory: 255Mi + 11Mi per pod (110 max pods) plus the
# 100Mi hard-eviction threshold.
MAX_PODS = 110
RESERVED_MEMORY_KI = (255 + 11 * MAX_PODS + 100) * 1024


def reserved_cpu_millis(cores: int) -> int:
    millis = 60 + (10 if cores > 1 else 0) + 5 * min(max(cores - 2, 0), 2)
    return millis + int(2.5 * max(cores - 4, 0))


@dataclass
class NodeShape:
    """An instance type as the kubelet reports it."""

    instance_type: str
    cores: int
    memory_ki: int
    ephemeral_ki: int
    devices: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


M5_4XL = NodeShape("m5.4xlarge", 16, 65_023_424, 104_845_292,
                   labels={"karpenter.k8s.aws/instance-family": "m5"})
M6A_4XL = NodeShape("m6a.4xlarge", 16, 65_021_380, 104_845_292,
                    labels={"karpenter.k8s.aws/instance-family": "m6a"})
P4DE = NodeShape(
    "p4de.24xlarge", 96, 1_176_054_916, 1_953_512_428,
    devices={"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 4},
    labels={
        "karpenter.k8s.aws/instance-family": "p4de",
        "karpenter.k8s.aws/instance-gpu-count": "8",
        "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
        "karpenter.k8s.aws/instance-gpu-name": "a100",
        "karpenter.k8s.aws/instance-gpu-memory": "81920",
    },
)
P5 = NodeShape(
    "p5.48xlarge", 192, 2_113_389_904, 3_905_110_012,
    devices={"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 32},
    labels={
        "karpenter.k8s.aws/instance-family": "p5",
        "karpenter.k8s.aws/instance-gpu-count": "8",
        "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
        "karpenter.k8s.aws/instance-gpu-name": "h100",
        "karpenter.k8s.aws/instance-gpu-memory": "81920",
    },
)
G5_12XL = NodeShape(
    "g5.12xlarge", 48, 199_475_392, 3_905_110_012,
    # Four A10Gs, each advertised as four time-slicing replicas.
    devices={"nvidia.com/gpu": 16},
    labels={
        "karpenter.k8s.aws/instance-family": "g5",
        "karpenter.k8s.aws/instance-gpu-count": "4",
        "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
        "karpenter.k8s.aws/instance-gpu-name": "a10g",
        "karpenter.k8s.aws/instance-gpu-memory": "24576",
    },
)
MI300X = NodeShape("onprem-mi300x-oam-8gpu", 96, 1_923_847_136, 3_758_096_384,
                   devices={"amd.com/gpu": 8})


def nvidia_labels(product: str, count: int, memory_mib: int, family: str, major: int,
                  minor: int, machine: str, *, replicas: int = 1,
                  sharing: str = "none", mig_capable: bool = True) -> dict[str, str]:
    """Labels GPU Feature Discovery puts on a node with NVIDIA GPUs."""
    return {
        "nvidia.com/cuda.driver-version.full": "550.127.08",
        "nvidia.com/cuda.driver-version.major": "550",
        "nvidia.com/cuda.runtime-version.full": "12.4",
        "nvidia.com/gpu.compute.major": str(major),
        "nvidia.com/gpu.compute.minor": str(minor),
        "nvidia.com/gpu.count": str(count),
        "nvidia.com/gpu.family": family,
        "nvidia.com/gpu.machine": machine,
        "nvidia.com/gpu.memory": str(memory_mib),
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": product,
        "nvidia.com/gpu.replicas": str(replicas),
        "nvidia.com/gpu.sharing-strategy": sharing,
        "nvidia.com/mig.capable": "true" if mig_capable else "false",
    }


#: A100 80GB MIG profiles: (memory MiB, SMs, copy engines, decoders, jpeg, ofa).
A100_80GB_MIG = {
    "1g.10gb": (9728, 14, 1, 0, 0, 0),
    "2g.20gb": (19968, 28, 2, 1, 0, 0),
    "3g.40gb": (40192, 42, 3, 2, 0, 0),
    "4g.40gb": (40192, 56, 4, 2, 0, 0),
    "7g.80gb": (81152, 98, 7, 5, 1, 1),
}

#: The MIG node's layout (mig-parted style): two GPUs as 7 x 1g.10gb, four as 3g.40gb + 4g.40gb,
#: one as 7g.80gb and one as 3 x 2g.20gb (6 of 7 compute slices; the seventh is stranded).
MIG_LAYOUT = [["1g.10gb"] * 7] * 2 + [["3g.40gb", "4g.40gb"]] * 4 + [["7g.80gb"], ["2g.20gb"] * 3]


def mig_devices() -> dict[str, int]:
    counts: dict[str, int] = {}
    for gpu in MIG_LAYOUT:
        for profile in gpu:
            counts[profile] = counts.get(profile, 0) + 1
    return counts


def mig_labels() -> dict[str, str]:
    labels = {"nvidia.com/mig.strategy": "mixed", "nvidia.com/mig.config": "demo-mixed",
              "nvidia.com/mig.config.state": "success"}
    for profile, count in sorted(mig_devices().items()):
        memory, sms, copy, dec, jpeg, ofa = A100_80GB_MIG[profile]
        slices = profile.split("g.")[0]
        prefix = f"nvidia.com/mig-{profile}"
        labels |= {
            f"{prefix}.count": str(count),
            f"{prefix}.memory": str(memory),
            f"{prefix}.multiprocessors": str(sms),
            f"{prefix}.slices.gi": slices,
            f"{prefix}.slices.ci": slices,
            f"{prefix}.engines.copy": str(copy),
            f"{prefix}.engines.decoder": str(dec),
            f"{prefix}.engines.encoder": "0",
            f"{prefix}.engines.jpeg": str(jpeg),
            f"{prefix}.engines.ofa": str(ofa),
        }
    return labels


A100_LABELS = nvidia_labels("NVIDIA-A100-SXM4-80GB", 8, 81920, "ampere", 8, 0, "p4de.24xlarge")
H100_LABELS = nvidia_labels("NVIDIA-H100-80GB-HBM3", 8, 81559, "hopper", 9, 0, "p5.48xlarge")
A10G_LABELS = nvidia_labels("NVIDIA-A10G-SHARED", 4, 23028, "ampere", 8, 6, "g5.12xlarge",
                            replicas=4, sharing="time-slicing", mig_capable=False)
AMD_LABELS = {
    "amd.com/gpu.cu-count": "304",
    "amd.com/gpu.device-id": "74a1",
    "amd.com/gpu.driver-version": "6.10.5",
    "amd.com/gpu.family": "AI",
    "amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM",
    "amd.com/gpu.vram": "192G",
}
NVIDIA_TAINT = {"effect": "NoSchedule", "key": "nvidia.com/gpu"}
ZONE_IDS = {"us-east-1a": "use1-az4", "us-east-1b": "use1-az6"}
AMD_TAINT = {"effect": "NoSchedule", "key": "amd.com/gpu"}


@dataclass
class NodeSpec:
    name: str
    shape: NodeShape
    zone: str
    nodepool: str
    capacity_type: str = "on-demand"
    gpu_labels: dict[str, str] = field(default_factory=dict)
    taints: list[Json] = field(default_factory=list)
    #: Device counts that differ from the shape (MIG), and devices the kubelet reports unhealthy.
    devices: dict[str, int] | None = None
    unhealthy: dict[str, int] = field(default_factory=dict)
    hybrid: bool = False
    age_days: float = 20

    @property
    def ip(self) -> str:
        if self.hybrid:
            return "10.80.4.11"
        return ".".join(self.name.removeprefix("ip-").split(".")[0].split("-"))


NODES = [
    NodeSpec("ip-10-0-11-21.ec2.internal", M5_4XL, "us-east-1a", "general", age_days=41),
    NodeSpec("ip-10-0-27-144.ec2.internal", M5_4XL, "us-east-1b", "general-spot",
             capacity_type="spot", age_days=3.2),
    NodeSpec("ip-10-0-19-88.ec2.internal", M6A_4XL, "us-east-1a", "general", age_days=17),
    # One GPU fell off the bus: the device plugin reports 8 in capacity, 7 allocatable.
    NodeSpec("ip-10-0-40-12.ec2.internal", P4DE, "us-east-1a", "gpu-a100",
             gpu_labels=A100_LABELS, taints=[NVIDIA_TAINT],
             unhealthy={"nvidia.com/gpu": 1}, age_days=12),
    NodeSpec("ip-10-0-41-77.ec2.internal", P4DE, "us-east-1b", "gpu-a100",
             gpu_labels=A100_LABELS, taints=[NVIDIA_TAINT], age_days=6),
    NodeSpec("ip-10-0-52-5.ec2.internal", P5, "us-east-1a", "gpu-h100",
             gpu_labels=H100_LABELS, taints=[NVIDIA_TAINT], age_days=4),
    NodeSpec("ip-10-0-52-219.ec2.internal", P5, "us-east-1a", "gpu-h100",
             gpu_labels=H100_LABELS, taints=[NVIDIA_TAINT], age_days=4),
    NodeSpec("hybrid-mi300x-01", MI300X, "eastus-1", "", gpu_labels=AMD_LABELS,
             taints=[AMD_TAINT], hybrid=True, age_days=30),
    NodeSpec("ip-10-0-63-140.ec2.internal", G5_12XL, "us-east-1b", "gpu-shared",
             gpu_labels=A10G_LABELS, taints=[NVIDIA_TAINT], age_days=9),
    NodeSpec("ip-10-0-44-201.ec2.internal", P4DE, "us-east-1b", "gpu-a100-mig",
             gpu_labels=A100_LABELS | mig_labels(), taints=[NVIDIA_TAINT],
             devices={"nvidia.com/gpu": 0, "vpc.amazonaws.com/efa": 4}
             | {f"nvidia.com/mig-{p}": n for p, n in sorted(mig_devices().items())},
             age_days=15),
]
CPU_A, CPU_SPOT, CPU_DEFAULT, A100_BUSY, A100_IDLE, H100_A, H100_B, MI300, A10G, A100_MIG = (
    n.name for n in NODES)
NODE_BY_NAME = {n.name: n for n in NODES}


def node_object(n: NodeSpec) -> Json:
    shape = n.shape
    devices = dict(shape.devices if n.devices is None else n.devices)
    capacity = {
        "cpu": str(shape.cores),
        "ephemeral-storage": f"{shape.ephemeral_ki}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{shape.memory_ki}Ki",
        "pods": str(MAX_PODS),
    } | {k: str(v) for k, v in devices.items()}
    allocatable = capacity | {
        "cpu": f"{shape.cores * 1000 - reserved_cpu_millis(shape.cores)}m",
        # The kubelet reports allocatable ephemeral storage in bytes, less 10% for eviction.
        "ephemeral-storage": str(shape.ephemeral_ki * 1024 * 9 // 10),
        "memory": f"{shape.memory_ki - RESERVED_MEMORY_KI}Ki",
    } | {k: str(devices[k] - v) for k, v in n.unhealthy.items()}

    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": n.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": shape.instance_type,
    } | shape.labels | n.gpu_labels
    if n.hybrid:
        # An on-premises-style machine joined through EKS Hybrid Nodes; its labels come from
        # the kubelet's --node-labels, not from a cloud provider.
        labels |= {"eks.amazonaws.com/compute-type": "hybrid",
                   "topology.kubernetes.io/region": "eastus",
                   "topology.kubernetes.io/zone": n.zone}
        provider_id = ("azure:///subscriptions/5c1e7f0a-2b9d-4c3e-8f61-0d4a7b2e9c15/"
                       "resourceGroups/rg-gpu-burst/providers/Microsoft.Compute/"
                       f"virtualMachines/{n.name}")
    else:
        labels |= {
            "beta.kubernetes.io/instance-type": shape.instance_type,
            "failure-domain.beta.kubernetes.io/region": "us-east-1",
            "failure-domain.beta.kubernetes.io/zone": n.zone,
            "k8s.io/cloud-provider-aws": "5d2c0f6b8a3e4f17b9c0e1d2a3b4c5d6",
            "karpenter.k8s.aws/ec2nodeclass": "default",
            "karpenter.k8s.aws/instance-cpu": str(shape.cores),
            "karpenter.sh/capacity-type": n.capacity_type,
            "karpenter.sh/initialized": "true",
            "karpenter.sh/nodepool": n.nodepool,
            "karpenter.sh/registered": "true",
            "topology.k8s.aws/zone-id": ZONE_IDS[n.zone],
            "topology.kubernetes.io/region": "us-east-1",
            "topology.kubernetes.io/zone": n.zone,
        }
        provider_id = f"aws:///{n.zone}/i-0{hex_id(n.name, 16)}"

    created = n.age_days * 24 * 60
    ready_since = created - 2
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    addresses = [{"address": n.ip, "type": "InternalIP"}]
    if not n.hybrid:
        addresses.append({"address": n.name, "type": "InternalDNS"})
    addresses.append({"address": n.name, "type": "Hostname"})
    spec: Json = {"providerID": provider_id}
    if n.taints:
        spec["taints"] = n.taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": n.ip,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": at(created),
            "labels": labels,
            "name": n.name,
            "resourceVersion": next_rv(),
            "uid": uid("Node", "", n.name),
        },
        "spec": spec,
        "status": {
            "addresses": addresses,
            "allocatable": allocatable,
            "capacity": capacity,
            "conditions": [
                {"lastHeartbeatTime": at(0.5), "lastTransitionTime": at(ready_since),
                 "message": msg, "reason": reason, "status": status, "type": ctype}
                for ctype, status, reason, msg in conditions
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid5(UID_NAMESPACE, "boot/" + n.name)),
                "containerRuntimeVersion": "containerd://1.7.27",
                "kernelVersion": "6.1.155-176.282.amzn2023.x86_64" if not n.hybrid
                else "5.15.0-1089-azure",
                "kubeProxyVersion": "",
                "kubeletVersion": K8S_VERSION,
                "machineID": hex_id("machine/" + n.name, 32),
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023.9.20251020" if not n.hybrid
                else "Ubuntu 22.04.5 LTS",
                "systemUUID": str(uuid.uuid5(UID_NAMESPACE, "system/" + n.name)).upper(),
            },
        },
    }


# --------------------------------------------------------------------------------------------
# Containers and pod templates


def container(name: str, image: str, requests: dict[str, str] | None = None,
              limits: dict[str, str] | None = None, *, ports: Sequence[tuple[str, int]] = (),
              env: dict[str, str] | None = None, args: list[str] | None = None,
              probe: tuple[str, int] | None = None, sidecar: bool = False,
              defaulted: bool = True) -> Json:
    """A container as the API server returns it.

    `defaulted=False` keeps a limit without its request, as in a manifest the API server never
    saw; otherwise every limit is copied into a missing request, as the API server does.
    """
    resources: Json = {}
    if limits:
        resources["limits"] = dict(limits)
    if requests or (limits and defaulted):
        resources["requests"] = ({k: v for k, v in limits.items()} if limits and defaulted
                                 else {}) | dict(requests or {})
    c: Json = {
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "name": name,
        "resources": resources,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if args:
        c["args"] = args
    if ports:
        c["ports"] = [{"containerPort": p, "name": n, "protocol": "TCP"} for n, p in ports]
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if probe:
        path, port = probe
        c["livenessProbe"] = {"failureThreshold": 3, "httpGet": {
            "path": path, "port": port, "scheme": "HTTP"}, "initialDelaySeconds": 30,
            "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 5}
        c["readinessProbe"] = {"failureThreshold": 3, "httpGet": {
            "path": path, "port": port, "scheme": "HTTP"}, "periodSeconds": 5,
            "successThreshold": 1, "timeoutSeconds": 1}
    if sidecar:
        c["restartPolicy"] = "Always"
    return c


@dataclass
class Template:
    """What a workload stamps into each of its pods."""

    containers: list[Json]
    init_containers: list[Json] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    tolerations: list[Json] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    pod_resources: Json | None = None
    host_network: bool = False
    service_account: str = "default"
    priority_class: str = ""
    restart_policy: str = "Always"


GPU_TOLERATION = {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}
AMD_TOLERATION = {"effect": "NoSchedule", "key": "amd.com/gpu", "operator": "Exists"}
DEFAULT_TOLERATIONS = [
    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
     "tolerationSeconds": 300},
    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
     "tolerationSeconds": 300},
]
# Node agents tolerate every taint. (The DaemonSet controller would also add its
# node.kubernetes.io/* tolerations; they are left out to keep the file small.)
DAEMONSET_TOLERATIONS = [{"operator": "Exists"}]
PRIORITIES = {"": 0, "system-node-critical": 2_000_001_000,
              "system-cluster-critical": 2_000_000_000, "inference-critical": 100_000}


def template_spec(t: Template) -> Json:
    """The pod spec of a template, without node binding (as in a ReplicaSet or Job)."""
    spec: Json = {
        "containers": t.containers,
        "dnsPolicy": "ClusterFirstWithHostNet" if t.host_network else "ClusterFirst",
        "restartPolicy": t.restart_policy,
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccountName": t.service_account,
        "terminationGracePeriodSeconds": 30,
    }
    if t.init_containers:
        spec["initContainers"] = t.init_containers
    if t.node_selector:
        spec["nodeSelector"] = t.node_selector
    if t.tolerations:
        spec["tolerations"] = t.tolerations
    if t.pod_resources:
        spec["resources"] = t.pod_resources
    if t.host_network:
        spec["hostNetwork"] = True
    if t.priority_class:
        spec["priorityClassName"] = t.priority_class
    return spec


# --------------------------------------------------------------------------------------------
# The cluster being built


@dataclass
class Owner:
    api_version: str
    kind: str
    name: str
    namespace: str

    def reference(self) -> Json:
        return {"apiVersion": self.api_version, "blockOwnerDeletion": True, "controller": True,
                "kind": self.kind, "name": self.name,
                "uid": uid(self.kind, self.namespace, self.name)}


class Cluster:
    def __init__(self) -> None:
        self.nodes = [node_object(n) for n in NODES]
        self.namespaces: list[Json] = []
        self.pods: list[Json] = []
        self.replicasets: list[Json] = []
        self.jobs: list[Json] = []
        self._pod_ips: dict[str, int] = {}

    # -- namespaces

    def namespace(self, name: str, labels: dict[str, str] | None = None,
                  age_days: float = 120) -> None:
        self.namespaces.append({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "creationTimestamp": at(age_days * 24 * 60),
                "labels": {"kubernetes.io/metadata.name": name} | (labels or {}),
                "name": name,
                "resourceVersion": next_rv(),
                "uid": uid("Namespace", "", name),
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })

    # -- pods

    def pod_ip(self, node: str) -> str:
        n = NODE_BY_NAME[node]
        self._pod_ips[node] = self._pod_ips.get(node, 0) + 1
        if n.hybrid:
            return f"10.85.0.{10 + self._pod_ips[node]}"
        a, b, c, _ = n.ip.split(".")
        return f"{a}.{b}.{c}.{100 + self._pod_ips[node]}"

    def pod(self, namespace: str, name: str, t: Template, node: str | None, *,
            owner: Owner | None = None, labels: dict[str, str] | None = None,
            age_minutes: float = 600, phase: str = "Running", deleting: bool = False,
            unschedulable: str = "", exit_reason: str = "", restarts: int = 0,
            generate_name: str = "") -> Json:
        spec = template_spec(t)
        spec["enableServiceLinks"] = True
        spec["preemptionPolicy"] = "PreemptLowerPriority"
        spec["priority"] = PRIORITIES[t.priority_class]
        spec["serviceAccount"] = t.service_account
        spec["tolerations"] = t.tolerations + (
            [] if t.tolerations == DAEMONSET_TOLERATIONS else DEFAULT_TOLERATIONS)
        # The projected service-account volume every real pod carries is left out: it is
        # 1.4 KB of noise per pod and nothing reads it.
        if node:
            spec["nodeName"] = node
            # A pod is never older than the node it runs on.
            age_minutes = min(age_minutes, NODE_BY_NAME[node].age_days * 24 * 60 - 5)

        metadata: Json = {
            "creationTimestamp": at(age_minutes),
            "labels": t.labels | (labels or {}),
            "name": name,
            "namespace": namespace,
            "resourceVersion": next_rv(),
            "uid": uid("Pod", namespace, name),
        }
        if t.annotations:
            metadata["annotations"] = dict(t.annotations)
        if generate_name:
            metadata["generateName"] = generate_name
        if owner:
            metadata["ownerReferences"] = [owner.reference()]
        if deleting:
            metadata["deletionGracePeriodSeconds"] = 30
            metadata["deletionTimestamp"] = at(-0.4)  # now + grace period left
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec,
               "status": self._pod_status(namespace, name, t, node, age_minutes, phase,
                                          deleting, unschedulable, exit_reason, restarts)}
        self.pods.append(pod)
        return pod

    def _pod_status(self, namespace: str, name: str, t: Template, node: str | None,
                    age: float, phase: str, deleting: bool, unschedulable: str,
                    exit_reason: str, restarts: int) -> Json:
        status: Json = {"phase": phase, "qosClass": qos_class(t)}
        if not node:
            status["conditions"] = [{
                "lastProbeTime": None, "lastTransitionTime": at(age - 0.01),
                "message": unschedulable, "reason": "Unschedulable", "status": "False",
                "type": "PodScheduled"}]
            return status

        started = age - 0.1
        creating = phase == "Pending"
        finished = phase in ("Succeeded", "Failed")
        ready = phase == "Running" and not deleting
        ip = NODE_BY_NAME[node].ip if t.host_network else self.pod_ip(node)

        def cond(ctype: str, ok: bool, reason: str = "") -> Json:
            c = {"lastProbeTime": None, "lastTransitionTime": at(started), "status":
                 "True" if ok else "False", "type": ctype}
            if reason and not ok:
                c["reason"] = reason
            return c

        not_ready = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(
            phase, "ContainersNotReady")
        status["conditions"] = [
            cond("PodReadyToStartContainers", not creating and not finished),
            cond("Initialized", not (creating and t.init_containers),
                 "ContainersNotInitialized"),
            cond("Ready", ready, not_ready),
            cond("ContainersReady", ready, not_ready),
            cond("PodScheduled", True),
        ]
        status["hostIP"] = NODE_BY_NAME[node].ip
        status["hostIPs"] = [{"ip": NODE_BY_NAME[node].ip}]
        if not creating:
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        status["startTime"] = at(started)

        def container_status(c: Json, *, init: bool) -> Json:
            seed = f"{namespace}/{name}/{c['name']}"
            image = c["image"]
            s: Json = {"image": image, "lastState": {}, "name": c["name"],
                       "restartCount": 0, "started": False, "ready": False}
            if creating:
                s["state"] = {"waiting": {"reason": "ContainerCreating" if not init
                                          else "PodInitializing"}}
                return s
            s["containerID"] = f"containerd://{hex_id(seed)}"
            s["imageID"] = f"{image.split(':')[0]}@sha256:{hex_id('image/' + image)}"
            done = (init and c.get("restartPolicy") != "Always") or finished
            if done:
                code = 137 if exit_reason == "OOMKilled" and not init else 0
                s["state"] = {"terminated": {
                    "containerID": s["containerID"], "exitCode": code,
                    "finishedAt": at(started - 5 if init else 12),
                    "reason": exit_reason if code else "Completed",
                    "startedAt": at(started - 0.05)}}
                return s
            s |= {"ready": not deleting, "started": True,
                  "state": {"running": {"startedAt": at(started - 2)}}}
            if restarts and not init:
                s["restartCount"] = restarts
                s["lastState"] = {"terminated": {
                    "containerID": f"containerd://{hex_id(seed + '/previous')}",
                    "exitCode": 137, "finishedAt": at(started - 3), "reason": "OOMKilled",
                    "startedAt": at(started - 0.05)}}
            return s

        if t.init_containers:
            status["initContainerStatuses"] = [container_status(c, init=True)
                                               for c in t.init_containers]
        status["containerStatuses"] = [container_status(c, init=False) for c in t.containers]
        return status

    # -- workloads

    def deployment(self, namespace: str, name: str, t: Template, nodes: list[str], *,
                   age_minutes: float = 4000, revision: int = 1, old_revision_pods:
                   Sequence[str] = ()) -> None:
        """A Deployment's current ReplicaSet and its pods; optionally an older ReplicaSet
        scaled to zero whose last pods are still terminating."""
        dep = Owner("apps/v1", "Deployment", name, namespace)
        self._replicaset(namespace, name, t, nodes, dep, age_minutes, revision)
        if revision > 1:
            self._replicaset(namespace, name, t, old_revision_pods, dep, age_minutes * 4,
                             revision - 1, scaled_down=True)

    def _replicaset(self, namespace: str, name: str, t: Template, nodes: Sequence[str],
                    dep: Owner, age: float, revision: int, scaled_down: bool = False) -> None:
        template_hash = name_suffix(f"{namespace}/{name}/rev{revision}", 10)
        rs_name = f"{name}-{template_hash}"
        labels = t.labels | {"pod-template-hash": template_hash}
        replicas = 0 if scaled_down else len(nodes)
        self.replicasets.append({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                "deployment.kubernetes.io/revision": str(revision)},
                "creationTimestamp": at(age),
                "generation": 2 if scaled_down else 1,
                "labels": labels,
                "name": rs_name,
                "namespace": namespace,
                "ownerReferences": [dep.reference()],
                "resourceVersion": next_rv(),
                "uid": uid("ReplicaSet", namespace, rs_name),
            },
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": selector(t)
                                  | {"pod-template-hash": template_hash}},
                     "template": {"metadata": {"labels": labels}, "spec": template_spec(t)}},
            "status": {"availableReplicas": replicas, "fullyLabeledReplicas": replicas,
                       "observedGeneration": 2 if scaled_down else 1,
                       "readyReplicas": replicas, "replicas": replicas},
        })
        owner = Owner("apps/v1", "ReplicaSet", rs_name, namespace)
        for i, node in enumerate(nodes):
            sfx = name_suffix(f"{rs_name}/{i}")
            self.pod(namespace, f"{rs_name}-{sfx}", t, node, owner=owner,
                     labels={"pod-template-hash": template_hash}, generate_name=f"{rs_name}-",
                     age_minutes=age - 1 - 3 * i, deleting=scaled_down)

    def statefulset(self, namespace: str, name: str, t: Template, nodes: list[str],
                    age_minutes: float = 9000) -> None:
        owner = Owner("apps/v1", "StatefulSet", name, namespace)
        revision = f"{name}-{name_suffix(namespace + name, 10)}"
        for i, node in enumerate(nodes):
            pod_name = f"{name}-{i}"
            self.pod(namespace, pod_name, t, node, owner=owner, generate_name=f"{name}-",
                     age_minutes=age_minutes - 2 * i, labels={
                         "apps.kubernetes.io/pod-index": str(i),
                         "controller-revision-hash": revision,
                         "statefulset.kubernetes.io/pod-name": pod_name})

    def daemonset(self, namespace: str, name: str, t: Template, nodes: list[str]) -> None:
        owner = Owner("apps/v1", "DaemonSet", name, namespace)
        revision = name_suffix(namespace + name, 10)
        for node in nodes:
            pod_name = f"{name}-{name_suffix(name + node)}"
            pod = self.pod(namespace, pod_name, t, node, owner=owner, generate_name=f"{name}-",
                           age_minutes=NODE_BY_NAME[node].age_days * 24 * 60 - 1,
                           labels={"controller-revision-hash": revision,
                                   "pod-template-generation": "1"})
            pod["spec"]["affinity"] = {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In",
                                      "values": [node]}]}]}}}

    def job(self, namespace: str, name: str, t: Template, nodes: list[str | None], *,
            cronjob: str = "", indexed: bool = False, outcome: str = "Running",
            backoff_limit: int = 3, age_minutes: float = 120, unschedulable: str = "") -> None:
        """A Job and its pods. outcome: Running, Pending (not bound), Creating (bound,
        images still pulling), Complete or Failed."""
        job_uid = uid("Job", namespace, name)
        job_labels = {"batch.kubernetes.io/controller-uid": job_uid,
                      "batch.kubernetes.io/job-name": name,
                      "controller-uid": job_uid, "job-name": name}
        metadata: Json = {
            "creationTimestamp": at(age_minutes),
            "generation": 1,
            "labels": job_labels | selector(t),
            "name": name,
            "namespace": namespace,
            "resourceVersion": next_rv(),
            "uid": job_uid,
        }
        if cronjob:
            metadata["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp":
                                       at(age_minutes)}
            metadata["ownerReferences"] = [Owner("batch/v1", "CronJob", cronjob,
                                                 namespace).reference()]
        t_job = Template(**{**t.__dict__, "restart_policy": "Never",
                            "labels": t.labels | job_labels})
        spec: Json = {
            "backoffLimit": backoff_limit,
            "completionMode": "Indexed" if indexed else "NonIndexed",
            "completions": len(nodes),
            "manualSelector": False,
            "parallelism": len(nodes),
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": job_uid}},
            "suspend": False,
            "template": {"metadata": {"labels": t_job.labels}, "spec": template_spec(t_job)},
        }
        active = outcome in ("Running", "Pending", "Creating")
        status: Json = {"startTime": at(age_minutes - 0.02),
                        "uncountedTerminatedPods": {}}
        if active:
            status |= {"active": len(nodes), "ready": len(nodes) if outcome == "Running"
                       else 0, "terminating": 0}
        elif outcome == "Complete":
            status |= {"completionTime": at(12), "ready": 0, "succeeded": len(nodes),
                       "terminating": 0, "conditions": [
                           {"lastProbeTime": at(12), "lastTransitionTime": at(12),
                            "message": "Reached expected number of succeeded pods",
                            "reason": "CompletionsReached", "status": "True",
                            "type": "SuccessCriteriaMet"},
                           {"lastProbeTime": at(12), "lastTransitionTime": at(12),
                            "message": "Reached expected number of succeeded pods",
                            "reason": "CompletionsReached", "status": "True",
                            "type": "Complete"}]}
        else:
            status |= {"failed": len(nodes), "ready": 0, "terminating": 0, "conditions": [
                {"lastProbeTime": at(12), "lastTransitionTime": at(12),
                 "message": "Job has reached the specified backoff limit",
                 "reason": "BackoffLimitExceeded", "status": "True", "type": "FailureTarget"},
                {"lastProbeTime": at(12), "lastTransitionTime": at(12),
                 "message": "Job has reached the specified backoff limit",
                 "reason": "BackoffLimitExceeded", "status": "True", "type": "Failed"}]}
        if indexed and active:
            status["completedIndexes"] = ""
        self.jobs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
                          "spec": spec, "status": status})

        owner = Owner("batch/v1", "Job", name, namespace)
        phase = {"Running": "Running", "Pending": "Pending", "Creating": "Pending",
                 "Complete": "Succeeded", "Failed": "Failed"}[outcome]
        for i, node in enumerate(nodes):
            base = f"{name}-{i}" if indexed else name
            labels = {"batch.kubernetes.io/job-completion-index": str(i)} if indexed else {}
            pod = self.pod(namespace, f"{base}-{name_suffix(f'{name}/{i}')}", t_job, node,
                           owner=owner, labels=labels, generate_name=f"{base}-",
                           age_minutes=age_minutes - 0.05, phase=phase,
                           unschedulable=unschedulable,
                           exit_reason="OOMKilled" if outcome == "Failed" else "")
            if indexed:
                pod["metadata"]["annotations"] = {
                    "batch.kubernetes.io/job-completion-index": str(i)}
                pod["spec"]["hostname"] = f"{base}"
                pod["spec"]["subdomain"] = name

    def document(self) -> Json:
        """The List, kinds in the order kubectl prints `get nodes,pods,namespaces,...`."""
        return {"apiVersion": "v1", "kind": "List",
                "items": self.nodes + self.pods + self.namespaces + self.replicasets
                + self.jobs, "metadata": {"resourceVersion": ""}}


def selector(t: Template) -> dict[str, str]:
    name = t.labels.get("app.kubernetes.io/name") or t.labels.get("app", "")
    key = "app.kubernetes.io/name" if "app.kubernetes.io/name" in t.labels else "app"
    return {key: name} if name else {}


def qos_class(t: Template) -> str:
    containers = t.containers + t.init_containers
    resources = [c.get("resources", {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources) and not t.pod_resources:
        return "BestEffort"
    guaranteed = all(
        {"cpu", "memory"} <= set(r.get("limits", {}))
        and all(r.get("requests", {}).get(k, r["limits"][k]) == r["limits"][k]
                for k in ("cpu", "memory"))
        for r in resources)
    return "Guaranteed" if guaranteed and not t.pod_resources else "Burstable"


# --------------------------------------------------------------------------------------------
# The workloads


def build() -> Cluster:
    cl = Cluster()
    all_nodes = [n.name for n in NODES]
    nvidia_nodes = [n.name for n in NODES if "nvidia.com/gpu.product" in n.gpu_labels]

    for name, labels in [
        ("default", {}), ("kube-node-lease", {}), ("kube-public", {}),
        ("kube-system", {"team": "platform"}),
        ("monitoring", {"team": "platform"}),
        ("ml-research", {"team": "ml-research"}),
        ("inference", {"team": "ml-platform", "product": "chat"}),
        ("batch-etl", {"team": "data-eng", "product": "analytics"}),
        ("customer-acme", {"team": "solutions", "product": "search", "customer": "acme"}),
        ("customer-globex", {"team": "solutions", "product": "vision", "customer": "globex"}),
    ]:
        cl.namespace(name, labels)

    # ---- DaemonSets: on every node (node-exporter, kube-proxy) or every GPU node
    cl.daemonset("monitoring", "node-exporter", Template(
        containers=[
            container("node-exporter", "quay.io/prometheus/node-exporter:v1.9.1",
                      {"cpu": "50m", "memory": "64Mi"}, {"memory": "128Mi"},
                      args=["--path.rootfs=/host/root", "--web.listen-address=127.0.0.1:9101"]),
            container("kube-rbac-proxy", "quay.io/brancz/kube-rbac-proxy:v0.19.1",
                      {"cpu": "10m", "memory": "20Mi"}, {"memory": "40Mi"},
                      ports=[("https", 9100)]),
        ],
        labels={"app.kubernetes.io/name": "node-exporter"} | KUBE_PROMETHEUS,
        tolerations=DAEMONSET_TOLERATIONS, host_network=True,
        service_account="node-exporter", priority_class="system-node-critical"), all_nodes)
    cl.daemonset("kube-system", "kube-proxy", Template(
        containers=[container(
            "kube-proxy",
            f"{EKS_ECR}/kube-proxy:v1.34.0-minimal-eksbuild.2",
            {"cpu": "100m"}, args=["--config=/var/lib/kube-proxy-config/config"])],
        labels={"k8s-app": "kube-proxy"}, tolerations=DAEMONSET_TOLERATIONS,
        host_network=True, service_account="kube-proxy",
        priority_class="system-node-critical"), all_nodes)
    # The device plugins ask for nothing: such pods cost nothing.
    cl.daemonset("kube-system", "nvidia-device-plugin-daemonset", Template(
        containers=[container("nvidia-device-plugin-ctr", NVIDIA_PLUGIN,
                              env={"FAIL_ON_INIT_ERROR": "false", "MIG_STRATEGY": "mixed"}),
                    container("gpu-feature-discovery-ctr", NVIDIA_PLUGIN,
                              args=["gpu-feature-discovery"])],
        labels={"app.kubernetes.io/name": "nvidia-device-plugin"},
        tolerations=DAEMONSET_TOLERATIONS, priority_class="system-node-critical",
        node_selector={"nvidia.com/gpu.present": "true"}), nvidia_nodes)
    cl.daemonset("kube-system", "amd-gpu-device-plugin", Template(
        containers=[container("amdgpu-dp-cntr", "docker.io/rocm/k8s-device-plugin:1.31.0.7")],
        labels={"name": "amdgpu-dp-ds"}, tolerations=DAEMONSET_TOLERATIONS,
        priority_class="system-node-critical",
        node_selector={"amd.com/gpu.family": "AI"}), [MI300])

    # ---- kube-system and monitoring
    cl.deployment("kube-system", "coredns", Template(
        containers=[container("coredns", f"{EKS_ECR}/coredns:v1.12.3-eksbuild.1",
                              {"cpu": "100m", "memory": "70Mi"}, {"memory": "170Mi"},
                              ports=[("dns", 53), ("metrics", 9153)], probe=("/health", 8080))],
        labels={"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"},
        service_account="coredns", priority_class="system-cluster-critical"),
        [CPU_A, CPU_SPOT], age_minutes=41 * 1440)
    cl.deployment("kube-system", "karpenter", Template(
        containers=[container("controller", "public.ecr.aws/karpenter/controller:1.8.1",
                              {"cpu": "1", "memory": "1Gi"}, {"memory": "1Gi"},
                              ports=[("http-metrics", 8080)], probe=("/healthz", 8081),
                              env={"CLUSTER_NAME": "demo-gpu", "BATCH_MAX_DURATION": "10s"})],
        labels={"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"},
        service_account="karpenter", priority_class="system-cluster-critical"),
        [CPU_A], age_minutes=40 * 1440)
    cl.deployment("kube-system", "metrics-server", Template(
        containers=[container(
            "metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
            {"cpu": "100m", "memory": "200Mi"}, ports=[("https", 10251)], probe=("/livez", 10251))],
        labels={"app.kubernetes.io/name": "metrics-server"}, service_account="metrics-server",
        priority_class="system-cluster-critical"), [CPU_DEFAULT], age_minutes=17 * 1440)

    cl.statefulset("monitoring", "prometheus-k8s", Template(
        containers=[
            container("prometheus", "quay.io/prometheus/prometheus:v3.7.3",
                      {"cpu": "2", "memory": "8Gi"}, {"memory": "12Gi"},
                      ports=[("web", 9090)], probe=("/-/ready", 9090),
                      args=["--storage.tsdb.retention.time=15d", "--web.enable-lifecycle"]),
            container("config-reloader", CONFIG_RELOADER,
                      {"cpu": "10m", "memory": "50Mi"}, {"cpu": "10m", "memory": "50Mi"}),
        ],
        init_containers=[container(
            "init-config-reloader", CONFIG_RELOADER,
            {"cpu": "10m", "memory": "50Mi"}, {"cpu": "10m", "memory": "50Mi"})],
        labels={"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"} | KUBE_PROMETHEUS,
        service_account="prometheus-k8s"), [CPU_DEFAULT])
    cl.deployment("monitoring", "grafana", Template(
        containers=[container("grafana", "docker.io/grafana/grafana:12.2.1",
                              {"cpu": "250m", "memory": "512Mi"}, {"memory": "1Gi"},
                              ports=[("http", 3000)], probe=("/api/health", 3000))],
        labels={"app.kubernetes.io/name": "grafana"} | KUBE_PROMETHEUS,
        service_account="grafana"), [CPU_A])
    cl.deployment("monitoring", "kube-state-metrics", Template(
        containers=[container(
            "kube-state-metrics", "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.17.0",
            {"cpu": "100m", "memory": "256Mi"}, {"memory": "512Mi"},
            ports=[("http-metrics", 8080)], probe=("/livez", 8080))],
        labels={"app.kubernetes.io/name": "kube-state-metrics"} | KUBE_PROMETHEUS,
        service_account="kube-state-metrics"), [CPU_SPOT])
    cl.deployment("monitoring", "gpucost-exporter", Template(
        containers=[container("gpucost-exporter", "ghcr.io/gpucost/gpucost-exporter:0.1.0",
                              {"cpu": "100m", "memory": "128Mi"}, {"memory": "256Mi"},
                              ports=[("metrics", 9863)], probe=("/healthz", 9863),
                              args=["--pricing-file=/etc/gpucost/pricing.yaml"])],
        labels={"app.kubernetes.io/name": "gpucost-exporter"}, service_account="gpucost"),
        [CPU_A], age_minutes=2 * 1440)

    # ---- inference (team ml-platform, product chat)
    hf_env = {"HF_HOME": "/models/.cache", "HF_HUB_OFFLINE": "1"}
    # vLLM with a native sidecar (envoy) and a model download that needs more than the server:
    # effective cpu = max(6 + 0.5, 8 + 0.5) = 8.5, memory = 64Gi + 256Mi.
    cl.deployment("inference", "vllm-chat", Template(
        containers=[container(
            "vllm", "docker.io/vllm/vllm-openai:v0.11.0",
            {"cpu": "6", "memory": "48Gi"}, {"memory": "48Gi", "nvidia.com/gpu": "1"},
            ports=[("http", 8000)], probe=("/health", 8000),
            args=["--model=/models/llama-3.1-8b-instruct", "--max-model-len=32768",
                  "--gpu-memory-utilization=0.92"], env=hf_env)],
        init_containers=[
            container("envoy", "docker.io/envoyproxy/envoy:v1.35.3",
                      {"cpu": "500m", "memory": "256Mi"}, {"memory": "256Mi"},
                      ports=[("proxy", 8080), ("admin", 9901)], sidecar=True),
            container("model-downloader", f"{ECR}/ml/model-downloader:1.4.2",
                      {"cpu": "8", "memory": "64Gi"}, {"memory": "64Gi"},
                      env={"MODEL_URI": "s3://demo-models/llama-3.1-8b-instruct/",
                           "PARALLEL": "32"}),
        ],
        labels={"app.kubernetes.io/name": "vllm-chat", "app.kubernetes.io/component": "server"},
        annotations={"kubectl.kubernetes.io/default-container": "vllm"},
        tolerations=[GPU_TOLERATION], priority_class="inference-critical",
        node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}),
        [A100_IDLE, A100_IDLE], age_minutes=2 * 1440, revision=3)
    cl.deployment("inference", "chat-gateway", Template(
        containers=[container("gateway", f"{ECR}/inference/chat-gateway:2.19.0",
                              {"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "2Gi"},
                              ports=[("http", 8080)], probe=("/healthz", 8080),
                              env={"UPSTREAM": "http://vllm-chat:8080", "LOG_LEVEL": "info"})],
        labels={"app.kubernetes.io/name": "chat-gateway"}), [CPU_A, CPU_SPOT])
    cl.statefulset("inference", "redis-cache", Template(
        containers=[container("redis", "docker.io/library/redis:7.4.6",
                              {"cpu": "500m", "memory": "8G"}, {"memory": "8G"},
                              ports=[("redis", 6379)])],
        labels={"app.kubernetes.io/name": "redis-cache"}), [CPU_DEFAULT])
    cl.deployment("inference", "whisper-asr", Template(
        containers=[container("whisper", f"{ECR}/inference/whisper-large-v3:0.9.2",
                              {"cpu": "3", "memory": "12Gi"},
                              {"memory": "12Gi", "nvidia.com/gpu": "1"},
                              ports=[("http", 8000)], probe=("/health", 8000))],
        labels={"app.kubernetes.io/name": "whisper-asr", "product": "voice"},
        tolerations=[GPU_TOLERATION]), [A10G, A10G])
    cl.deployment("inference", "reranker", Template(
        containers=[container("reranker", f"{ECR}/inference/bge-reranker:1.2.0",
                              {"cpu": "6", "memory": "32Gi"},
                              {"memory": "32Gi", "nvidia.com/mig-3g.40gb": "1"},
                              ports=[("http", 8000)], probe=("/health", 8000))],
        labels={"app.kubernetes.io/name": "reranker", "product": "search"},
        tolerations=[GPU_TOLERATION]), [A100_MIG, A100_MIG])
    cl.deployment("inference", "vllm-llama405b", Template(
        containers=[container(
            "vllm", "docker.io/rocm/vllm:rocm6.4.1_vllm_0.10.1",
            {"cpu": "32", "memory": "512Gi"}, {"memory": "512Gi", "amd.com/gpu": "4"},
            ports=[("http", 8000)], probe=("/health", 8000),
            args=["--model=/models/llama-3.1-405b-instruct-fp8", "--tensor-parallel-size=4"])],
        labels={"app.kubernetes.io/name": "vllm-llama405b"},
        tolerations=[AMD_TOLERATION]), [MI300], age_minutes=6 * 1440)

    # ---- ml-research (team ml-research; one Deployment bills team applied-ai)
    nccl_env = {"NCCL_DEBUG": "WARN", "FI_PROVIDER": "efa", "FI_EFA_USE_DEVICE_RDMA": "1"}
    pretrain = Template(
        containers=[container(
            "trainer", f"{ECR}/ml/llm-pretrain:2025.10.3",
            {"cpu": "184", "memory": "1900Gi"},
            {"memory": "1900Gi", "nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32"},
            ports=[("c10d", 29500)], env=nccl_env,
            args=["torchrun", "--nnodes=2", "--nproc-per-node=8", "train.py",
                  "--config=configs/13b.yaml"])],
        labels={"app.kubernetes.io/name": "llm-pretrain"}, tolerations=[GPU_TOLERATION],
        node_selector={"node.kubernetes.io/instance-type": "p5.48xlarge"})
    cl.job("ml-research", "llm-pretrain", pretrain, [H100_A, H100_B], indexed=True,
           backoff_limit=0, age_minutes=3 * 1440)
    cl.job("ml-research", "llm-pretrain-ablation", pretrain, [None], indexed=True,
           backoff_limit=0, outcome="Pending", age_minutes=95, unschedulable=(
               "0/10 nodes are available: 2 Insufficient nvidia.com/gpu, 2 Insufficient "
               "vpc.amazonaws.com/efa, 8 node(s) didn't match Pod's node affinity/selector. "
               "preemption: 0/10 nodes are available: 2 No preemption victims found for "
               "incoming pod, 8 Preemption is not helpful for scheduling."))

    reward = Template(
        containers=[container(
            "pytorch", f"{ECR}/ml/reward-model:0.7.1", {"cpu": "22", "memory": "240Gi"},
            {"memory": "240Gi", "nvidia.com/gpu": "2"}, ports=[("pytorchjob-port", 23456)],
            env={"PYTHONUNBUFFERED": "1", "NCCL_DEBUG": "WARN"})],
        tolerations=[GPU_TOLERATION], restart_policy="OnFailure")
    for replica_type in ("master", "worker"):
        cl.pod("ml-research", f"reward-model-ft-{replica_type}-0", reward, A100_BUSY,
               owner=Owner("kubeflow.org/v1", "PyTorchJob", "reward-model-ft", "ml-research"),
               age_minutes=700, labels={
                   "training.kubeflow.org/job-name": "reward-model-ft",
                   "training.kubeflow.org/operator-name": "pytorchjob-controller",
                   "training.kubeflow.org/replica-index": "0",
                   "training.kubeflow.org/replica-type": replica_type})
    notebook = Template(
        containers=[container("notebook", NOTEBOOK, {"cpu": "8", "memory": "96Gi"},
                              {"memory": "96Gi", "nvidia.com/gpu": "1"},
                              ports=[("notebook-port", 8888)],
                              env={"NB_PREFIX": "/notebook/ml-research/jupyter-alice"})],
        labels={"app": "jupyter-alice", "notebook-name": "jupyter-alice"},
        tolerations=[GPU_TOLERATION])
    cl.statefulset("ml-research", "jupyter-alice", notebook, [A100_BUSY], age_minutes=5 * 1440)
    cl.statefulset("ml-research", "jupyter-bob", Template(
        containers=[container("notebook", NOTEBOOK, {"cpu": "8", "memory": "64Gi"},
                              {"memory": "64Gi", "nvidia.com/mig-4g.40gb": "1"},
                              ports=[("notebook-port", 8888)],
                              env={"NB_PREFIX": "/notebook/ml-research/jupyter-bob"})],
        labels={"app": "jupyter-bob", "notebook-name": "jupyter-bob"},
        tolerations=[GPU_TOLERATION]), [A100_MIG], age_minutes=2 * 1440)
    cl.deployment("ml-research", "eval-harness", Template(
        containers=[container("harness", f"{ECR}/ml/eval-harness:0.4.0",
                              {"cpu": "16", "memory": "180Gi"},
                              {"memory": "180Gi", "nvidia.com/gpu": "2"}, ports=[("http", 8080)],
                              probe=("/healthz", 8080))],
        labels={"app.kubernetes.io/name": "eval-harness", "team": "applied-ai"},
        tolerations=[GPU_TOLERATION]), [A100_BUSY], age_minutes=900)
    sweep_at = NOW.replace(hour=12)
    cl.job("ml-research", cron_job_name("eval-sweep", sweep_at), Template(
        containers=[container("eval", f"{ECR}/ml/eval-harness:0.4.0",
                              {"cpu": "12", "memory": "128Gi"},
                              {"memory": "128Gi", "nvidia.com/gpu": "1"},
                              args=["run", "--suite=regression", "--checkpoint=latest"])],
        labels={"app.kubernetes.io/name": "eval-sweep"}, tolerations=[GPU_TOLERATION]),
        [A100_IDLE], cronjob="eval-sweep", age_minutes=(NOW - sweep_at).seconds / 60)
    cl.job("ml-research", "tokenizer-train", Template(
        containers=[container("train", f"{ECR}/ml/tokenizer:0.3.0", {"cpu": "4", "memory": "32Gi"},
                              {"memory": "32Gi", "nvidia.com/mig-2g.20gb": "1"})],
        labels={"app.kubernetes.io/name": "tokenizer-train"}, tolerations=[GPU_TOLERATION]),
        [A100_MIG], age_minutes=340)

    # ---- batch-etl (team data-eng, product analytics)
    rollup = Template(
        containers=[container("rollup", f"{ECR}/data/rollup:3.2.0", {"cpu": "4", "memory": "16Gi"},
                              {"memory": "16Gi"}, env={"TARGET": "s3://demo-lake/rollups/"})],
        labels={"app.kubernetes.io/name": "hourly-rollup"})
    for hours_ago, node, outcome in [(0, CPU_DEFAULT, "Running"), (1, CPU_SPOT, "Complete")]:
        scheduled = NOW - timedelta(hours=hours_ago)
        cl.job("batch-etl", cron_job_name("hourly-rollup", scheduled), rollup, [node],
               cronjob="hourly-rollup", outcome=outcome, age_minutes=hours_ago * 60 + 0.2)
    dedupe_at = NOW - timedelta(minutes=40)
    cl.job("batch-etl", cron_job_name("dedupe-events", dedupe_at), Template(
        containers=[container("dedupe", f"{ECR}/data/dedupe:1.0.9", {"cpu": "2", "memory": "6Gi"},
                              {"memory": "6Gi"})],
        labels={"app.kubernetes.io/name": "dedupe-events"}), [CPU_SPOT], cronjob="dedupe-events",
        outcome="Failed", backoff_limit=0, age_minutes=40)
    # Pod-level resources (spec.resources) replace the containers' cpu and memory: 3 cores, 12Gi.
    cl.job("batch-etl", "feature-export", Template(
        containers=[
            container("export", f"{ECR}/data/feature-export:0.12.0", {"cpu": "1", "memory": "4Gi"},
                      env={"SINK": "s3://demo-lake/features/"}),
            container("uploader", f"{ECR}/data/s3-uploader:0.3.1"),
        ],
        pod_resources={"requests": {"cpu": "3", "memory": "12Gi"},
                       "limits": {"cpu": "4", "memory": "16Gi"}},
        labels={"app.kubernetes.io/name": "feature-export"}), [CPU_DEFAULT], age_minutes=75)
    cl.deployment("batch-etl", "airflow-scheduler", Template(
        containers=[container("scheduler", "docker.io/apache/airflow:3.1.1",
                              {"cpu": "1.5", "memory": "3Gi"}, {"memory": "4Gi"},
                              args=["scheduler"], probe=("/health", 8974))],
        labels={"app.kubernetes.io/name": "airflow-scheduler", "component": "scheduler"},
        service_account="airflow"), [CPU_SPOT])
    cl.deployment("batch-etl", "airflow-webserver", Template(
        containers=[container("api-server", "docker.io/apache/airflow:3.1.1",
                              {"cpu": "500m", "memory": "2Gi"}, {"memory": "2Gi"},
                              args=["api-server"], ports=[("http", 8080)],
                              probe=("/api/v2/monitor/health", 8080))],
        labels={"app.kubernetes.io/name": "airflow-webserver", "component": "api-server"},
        service_account="airflow"), [CPU_SPOT])
    # A bare pod from a manifest that sets only limits. The API server would have copied them
    # into requests; this one mimics a manifest it never defaulted.
    cl.pod("batch-etl", "adhoc-backfill", Template(
        containers=[container("backfill", f"{ECR}/data/rollup:3.2.0",
                              limits={"cpu": "2", "memory": "4Gi"}, defaulted=False,
                              args=["backfill", "--from=2025-10-01", "--to=2025-10-31"])],
        labels={"run": "adhoc-backfill"}, restart_policy="Never"), CPU_A, age_minutes=210)

    # ---- customers
    cl.deployment("customer-acme", "acme-search-api", Template(
        containers=[container("api", f"{ECR}/acme/search-api:5.3.0", {"cpu": "2", "memory": "4Gi"},
                              {"cpu": "4", "memory": "4Gi"}, ports=[("http", 8080)],
                              probe=("/ready", 8080))],
        labels={"app.kubernetes.io/name": "acme-search-api"}), [CPU_A, CPU_DEFAULT])
    # Time-sliced A10G: one replica is a quarter of a card. One pod of the previous rollout
    # is still terminating and still holds its replica.
    cl.deployment("customer-acme", "embeddings", Template(
        containers=[container("tei", "ghcr.io/huggingface/text-embeddings-inference:86-1.8",
                              {"cpu": "2", "memory": "8Gi"},
                              {"memory": "8Gi", "nvidia.com/gpu": "1"},
                              ports=[("http", 80)], probe=("/health", 80),
                              env={"MODEL_ID": "BAAI/bge-large-en-v1.5"})],
        labels={"app.kubernetes.io/name": "embeddings"}, tolerations=[GPU_TOLERATION]),
        [A10G, A10G, A10G], age_minutes=50, revision=2, old_revision_pods=[A10G])
    cl.deployment("customer-acme", "acme-llm-8b", Template(
        containers=[container("vllm", "docker.io/vllm/vllm-openai:v0.11.0",
                              {"cpu": "8", "memory": "64Gi"},
                              {"memory": "64Gi", "nvidia.com/mig-4g.40gb": "1"},
                              ports=[("http", 8000)],
                              probe=("/health", 8000))],
        labels={"app.kubernetes.io/name": "acme-llm-8b", "product": "chat"},
        tolerations=[GPU_TOLERATION]), [A100_MIG, A100_MIG])
    cl.deployment("customer-globex", "globex-portal", Template(
        containers=[container("portal", f"{ECR}/globex/portal:2.0.4",
                              {"cpu": "500m", "memory": "1Gi"},
                              {"memory": "1Gi"}, ports=[("http", 3000)], probe=("/", 3000))],
        labels={"app.kubernetes.io/name": "globex-portal"}), [CPU_SPOT])
    cl.deployment("customer-globex", "vision-detector", Template(
        containers=[container("detector", f"{ECR}/globex/detector:3.1.0",
                              {"cpu": "2", "memory": "8Gi"},
                              {"memory": "8Gi", "nvidia.com/mig-1g.10gb": "1"},
                              ports=[("grpc", 8001)])],
        labels={"app.kubernetes.io/name": "vision-detector"}, tolerations=[GPU_TOLERATION]),
        [A100_MIG] * 6)
    cl.deployment("customer-globex", "ocr", Template(
        containers=[container("ocr", f"{ECR}/globex/ocr:1.6.2", {"cpu": "4", "memory": "16Gi"},
                              {"memory": "16Gi", "nvidia.com/gpu": "1"}, ports=[("http", 8080)])],
        labels={"app.kubernetes.io/name": "ocr"}, tolerations=[GPU_TOLERATION]), [A10G])
    # Bound to the MI300X node, still pulling a large image: Pending, but it holds its GPUs.
    cl.job("customer-globex", "finetune-lora", Template(
        containers=[container("finetune", f"{ECR}/globex/finetune-rocm:0.2.0",
                              {"cpu": "24", "memory": "256Gi"},
                              {"memory": "256Gi", "amd.com/gpu": "2"})],
        labels={"app.kubernetes.io/name": "finetune-lora"}, tolerations=[AMD_TOLERATION]),
        [MI300], outcome="Creating", age_minutes=6)
    return cl


# --------------------------------------------------------------------------------------------
# Checks

ZERO = Fraction(0)
SUFFIXES: dict[str, Fraction] = {
    "": Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6),
    "G": Fraction(10**9), "T": Fraction(10**12), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40)}


def quantity(text: str) -> Fraction:
    """The small subset of resource.Quantity this file uses (exact, no rounding)."""
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            return Fraction(text[: -len(suffix)]) * SUFFIXES[suffix]
    return Fraction(text)


def effective_requests(pod: Json) -> dict[str, Fraction]:
    """What the scheduler reserves for a pod (PodRequests), with limits defaulting requests."""

    def requests(c: Json) -> dict[str, Fraction]:
        r = c.get("resources", {})
        merged = r.get("limits", {}) | r.get("requests", {})
        return {k: quantity(v) for k, v in merged.items()}

    total: dict[str, Fraction] = {}
    for c in pod["spec"]["containers"]:
        for k, v in requests(c).items():
            total[k] = total.get(k, ZERO) + v
    sidecars: dict[str, Fraction] = {}
    init_max: dict[str, Fraction] = {}
    for c in pod["spec"].get("initContainers", []):
        req = requests(c)
        if c.get("restartPolicy") == "Always":
            for k, v in req.items():
                total[k] = total.get(k, ZERO) + v
                sidecars[k] = sidecars.get(k, ZERO) + v
            candidate = dict(sidecars)
        else:
            candidate = {k: req.get(k, ZERO) + sidecars.get(k, ZERO) for k in req.keys() | sidecars}
        for k, v in candidate.items():
            init_max[k] = max(init_max.get(k, ZERO), v)
    for k, v in init_max.items():
        total[k] = max(total.get(k, ZERO), v)
    pod_level = pod["spec"].get("resources", {}).get("requests", {})
    for k in ("cpu", "memory"):
        if k in pod_level:
            total[k] = quantity(pod_level[k])
    return total


def counted(pod: Json) -> bool:
    """Bound to a node and not finished: the pods that hold node resources."""
    phase = pod["status"]["phase"]
    return bool(pod["spec"].get("nodeName")) and phase not in ("Succeeded", "Failed")


def validate(doc: Json) -> None:
    """Fail loudly if the List is not a consistent cluster."""
    problems = []
    items = doc["items"]
    seen: set[tuple[str, str, str]] = set()
    uids: set[str] = set()
    for item in items:
        meta = item.get("metadata", {})
        for key in ("apiVersion", "kind"):
            if not item.get(key):
                problems.append(f"item without {key}: {meta.get('name')}")
        if not meta.get("name") or not meta.get("uid"):
            problems.append(f"{item.get('kind')} without name or uid")
        ident = (item["kind"], meta.get("namespace", ""), meta["name"])
        if ident in seen or meta["uid"] in uids:
            problems.append(f"duplicate {ident}")
        seen.add(ident)
        uids.add(meta["uid"])

    by_kind: dict[str, dict[str, Json]] = {}
    for item in items:
        by_kind.setdefault(item["kind"], {})[item["metadata"]["uid"]] = item
    nodes = {n["metadata"]["name"]: n for n in by_kind["Node"].values()}
    namespaces = {n["metadata"]["name"] for n in by_kind["Namespace"].values()}

    for item in items:
        meta = item["metadata"]
        if item["kind"] in ("Pod", "ReplicaSet", "Job") and meta["namespace"] not in namespaces:
            problems.append(f"{meta['name']}: namespace {meta['namespace']} missing")
        refs = meta.get("ownerReferences", [])
        if refs and sum(1 for r in refs if r.get("controller")) != 1:
            problems.append(f"{meta['name']}: needs exactly one controller reference")
        for ref in refs:
            if ref["kind"] in ("ReplicaSet", "Job"):
                owner = by_kind.get(ref["kind"], {}).get(ref["uid"])
                if (owner is None or owner["metadata"]["name"] != ref["name"]
                        or owner["metadata"]["namespace"] != meta["namespace"]):
                    problems.append(f"{meta['name']}: owner {ref['kind']}/{ref['name']} missing")

    reserved: dict[str, dict[str, Fraction]] = {name: {} for name in nodes}
    for pod in by_kind["Pod"].values():
        node = pod["spec"].get("nodeName")
        if node and node not in nodes:
            problems.append(f"{pod['metadata']['name']}: unknown node {node}")
        if not counted(pod):
            continue
        used = reserved[node]
        for k, v in effective_requests(pod).items():
            used[k] = used.get(k, ZERO) + v
        used["pods"] = used.get("pods", ZERO) + 1
    for name, used in reserved.items():
        allocatable = nodes[name]["status"]["allocatable"]
        for k, v in used.items():
            if v > quantity(allocatable.get(k, "0")):
                problems.append(f"{name}: {k} reserved {float(v)} > allocatable "
                                f"{allocatable.get(k, '0')}")
    if problems:
        sys.exit("cluster.json would be inconsistent:\n  " + "\n  ".join(problems))


def summary(doc: Json) -> str:
    items = doc["items"]
    pods = [i for i in items if i["kind"] == "Pod"]
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    lines = [", ".join(f"{n} {k}s" for k, n in kinds.items()),
             f"{'node':30} {'type':27} {'pods':>4} {'counted':>7}  GPU resources reserved"]
    for node in (i for i in items if i["kind"] == "Node"):
        name = node["metadata"]["name"]
        allocatable = node["status"]["allocatable"]
        on_node = [p for p in pods if p["spec"].get("nodeName") == name]
        held = [p for p in on_node if counted(p)]
        gpus = []
        for key in sorted(node["status"]["capacity"]):
            if key.startswith(("nvidia.com/", "amd.com/")) and key != "nvidia.com/gpu" or (
                    key == "nvidia.com/gpu" and allocatable[key] != "0"):
                n = sum((effective_requests(p).get(key, ZERO) for p in held), ZERO)
                gpus.append(f"{key} {n}/{allocatable[key]}")
        instance_type = node["metadata"]["labels"]["node.kubernetes.io/instance-type"]
        lines.append(f"{name:30} {instance_type:27} {len(on_node):>4} {len(held):>7}  "
                     f"{', '.join(gpus)}")
    unbound = [p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName")]
    lines.append(f"{len(pods)} pods; unbound: {', '.join(unbound)}")
    return "\n".join(lines)


def render(doc: Json) -> str:
    # kubectl prints objects as maps with sorted keys. It indents by four spaces; two keep
    # the file near 600 KB and change nothing for a JSON reader.
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if cluster.json differs from what this script writes")
    args = parser.parse_args()
    doc = build().document()
    validate(doc)
    text = render(doc)
    validate(json.loads(text))
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
    else:
        OUTPUT.write_text(text)
    print(summary(doc))
    print(f"{OUTPUT.name}: {len(text.encode()) // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

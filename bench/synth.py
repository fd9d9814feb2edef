"""Deterministic synthetic Kubernetes cluster for the scale benchmark (issue 6).

``generate(pods=150_000)`` builds 5,000 nodes and 150,000 pods whose JSON looks like what an
EKS 1.33 API server sends: full metadata (managedFields omitted), defaulted specs, kubelet-written
status, fields in Go struct order, map keys sorted, quantities in the canonical spelling the API
server writes back ("0.5" is stored and returned as "500m", "1.5Gi" as "1536Mi").

Placement tracks each node's remaining allocatable (cpu, memory, pods, GPUs, EFA), so requests on
a node never exceed its allocatable; pods that do not fit stay Pending and unbound, as they would.
Requests are tracked conservatively: every container, init containers included, plus overhead.

Objects are plain dicts ready for msgspec.json.encode. To build 150,000 pods quickly, pods of one
workload share every sub-object that does not vary per pod (labels, resources, probes, env), so
treat every object as read-only; modified_events() copies what it changes.

Run ``python -m bench.synth --pods 150000 --out bench/out/150k`` to write kubectl-style List files.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

Obj = dict[str, Any]

#: Wall-clock "now" of every generated cluster: 2025-06-02T12:00:00Z. Fixed for determinism.
NOW = 1_748_865_600

KI, MI, GI = 1024, 1024**2, 1024**3

#: Object kind -> (apiVersion, list kind). The first five are what the exporter watches.
API: dict[str, tuple[str, str]] = {
    "Node": ("v1", "NodeList"),
    "Pod": ("v1", "PodList"),
    "Namespace": ("v1", "NamespaceList"),
    "ReplicaSet": ("apps/v1", "ReplicaSetList"),
    "Job": ("batch/v1", "JobList"),
    "Deployment": ("apps/v1", "DeploymentList"),
    "StatefulSet": ("apps/v1", "StatefulSetList"),
    "DaemonSet": ("apps/v1", "DaemonSetList"),
    "CronJob": ("batch/v1", "CronJobList"),
    "PyTorchJob": ("kubeflow.org/v1", "PyTorchJobList"),
    "ResourceClaim": ("resource.k8s.io/v1", "ResourceClaimList"),
    "ResourceSlice": ("resource.k8s.io/v1", "ResourceSliceList"),
}

_ENCODE = msgspec.json.Encoder().encode


@dataclass
class Cluster:
    """One generated cluster. Lists are sorted as the API server lists them (by namespace/name).

    ``workloads`` holds the top-level controllers (Deployments, StatefulSets, DaemonSets,
    CronJobs, PyTorchJobs) that owner references point at; the exporter does not watch them.
    """

    nodes: list[Obj]
    pods: list[Obj]
    namespaces: list[Obj]
    replicasets: list[Obj]
    jobs: list[Obj]
    workloads: list[Obj] = field(default_factory=list)
    #: DRA objects (``generate(..., dra=True)``, see bench/synth_dra.py); empty otherwise.
    resourceclaims: list[Obj] = field(default_factory=list)
    resourceslices: list[Obj] = field(default_factory=list)
    #: The resourceVersion a List of any kind returns: the newest object's.
    resource_version: str = "0"

    def lists(self) -> dict[str, tuple[str, list[Obj]]]:
        """The watched resources: plural name -> (kind, items); DRA kinds when the cluster has them."""
        out = {
            "nodes": ("Node", self.nodes),
            "pods": ("Pod", self.pods),
            "namespaces": ("Namespace", self.namespaces),
            "replicasets": ("ReplicaSet", self.replicasets),
            "jobs": ("Job", self.jobs),
        }
        if self.resourceclaims or self.resourceslices:
            out["resourceclaims"] = ("ResourceClaim", self.resourceclaims)
            out["resourceslices"] = ("ResourceSlice", self.resourceslices)
        return out


# ---------------------------------------------------------------------------------------------
# Serialisation


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector while making many short-lived dicts next to millions of
    long-lived ones: its full passes would otherwise dominate the run time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _list_doc(kind: str, items: Sequence[Obj], resource_version: str) -> Obj:
    api_version, list_kind = API[kind.removesuffix("List")]
    # The API server omits kind and apiVersion on the items of a List (kubernetes#63676).
    with _gc_paused():
        bare = [{k: v for k, v in o.items() if k != "kind" and k != "apiVersion"} for o in items]
    return {
        "kind": list_kind,
        "apiVersion": api_version,
        "metadata": {"resourceVersion": resource_version},
        "items": bare,
    }


def list_bytes(kind: str, items: Sequence[Obj], resource_version: str) -> bytes:
    """A List response body as the API server sends it, e.g. GET /api/v1/pods.

    ``kind`` is the item kind ("Pod") or the list kind ("PodList").
    """
    return _ENCODE(_list_doc(kind, items, resource_version))


def _continue_token(resource_version: str, obj: Obj) -> str:
    meta = obj["metadata"]
    key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    # Same shape as the apiserver's etcd3 token: the snapshot revision and the next key.
    raw = _ENCODE({"v": "meta.k8s.io/v1", "rv": int(resource_version), "start": key + "\x00"})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def paginate(
    items: Sequence[Obj],
    limit: int,
    *,
    kind: str | None = None,
    resource_version: str | None = None,
) -> list[bytes]:
    """List pages of at most ``limit`` items, as returned for ?limit=N&continue=TOKEN.

    Every page but the last carries metadata.continue and metadata.remainingItemCount; all
    pages carry the snapshot's resourceVersion. ``kind`` defaults to the first item's kind and
    ``resource_version`` to the newest item's.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if kind is None:
        kind = items[0]["kind"] if items else "Pod"
    if resource_version is None:
        resource_version = str(
            max((int(o["metadata"]["resourceVersion"]) for o in items), default=0)
        )
    pages = []
    for start in range(0, max(len(items), 1), limit):
        doc = _list_doc(kind, items[start : start + limit], resource_version)
        rest = len(items) - start - limit
        if rest > 0:
            doc["metadata"]["continue"] = _continue_token(
                resource_version, items[start + limit - 1]
            )
            doc["metadata"]["remainingItemCount"] = rest
        pages.append(_ENCODE(doc))
    return pages


def watch_event_bytes(type: str, obj: Obj) -> bytes:
    """One watch event line: {"type":..,"object":..} and a newline, as a watch stream sends it."""
    return _ENCODE({"type": type, "object": obj}) + b"\n"


def kubectl_json(items: Sequence[Obj]) -> bytes:
    """`kubectl get -o json` output: a v1 List, items with kind, keys sorted, 4-space indent."""
    doc = {
        "apiVersion": "v1",
        "items": list(items),
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }
    return msgspec.json.format(msgspec.json.encode(doc, order="sorted"), indent=4) + b"\n"


# ---------------------------------------------------------------------------------------------
# Small deterministic helpers

_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes generated name suffixes


_PAIRS = [a + b for a in _ALNUM for b in _ALNUM]


class _Rng(random.Random):
    """random.Random plus the few draws the generator makes per pod, kept cheap."""

    def uid(self) -> str:
        h = "%032x" % self.getrandbits(128)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def suffix(self, k: int = 5) -> str:
        out = ""
        while len(out) < k:
            x = int(self.random() * 19683)  # 27**3: three letters per draw
            out += _PAIRS[x % 729] + _ALNUM[x // 729]
        return out[:k]

    def hexstr(self, bits: int) -> str:
        return format(self.getrandbits(bits), f"0{bits // 4}x")

    def between(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]; cheaper than randint."""
        return lo + int(self.random() * (hi - lo + 1))


_DAYS: dict[int, str] = {}
_CLOCK: dict[int, str] = {}


def _ts(t: int) -> str:
    """RFC 3339 UTC seconds, as metav1.Time serialises. Cached by day and time of day."""
    day, sec = divmod(t, 86400)
    d = _DAYS.get(day)
    if d is None:
        d = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    c = _CLOCK.get(sec)
    if c is None:
        c = _CLOCK[sec] = "%02d:%02d:%02dZ" % (sec // 3600, sec // 60 % 60, sec % 60)
    return d + c


# Quantities as (spelling, value) pairs. Values: cpu in millicores, memory in bytes, others as
# integers. Spellings are canonical, as the API server returns them.
Q = tuple[str, int]


def cpu(milli: int) -> Q:
    return (str(milli // 1000) if milli % 1000 == 0 else f"{milli}m", milli)


def mem(n: int, decimal: bool = False) -> Q:
    """Memory in bytes, spelled as the API server canonicalises it: the largest suffix of the
    family it was written in (binary Ki/Mi/Gi, or decimal k/M/G) that divides it, else digits."""
    units = (
        (("G", 10**9), ("M", 10**6), ("k", 10**3))
        if decimal
        else (("Gi", GI), ("Mi", MI), ("Ki", KI))
    )
    for suffix, unit in units:
        if n >= unit and n % unit == 0:
            return (f"{n // unit}{suffix}", n)
    return (str(n), n)


def mib(n: int) -> Q:
    return mem(n * MI)


def count(n: int) -> Q:
    return (str(n), n)


# ---------------------------------------------------------------------------------------------
# Node catalogue

REGION = "us-east-1"
ZONES = [
    ("us-east-1a", "use1-az4"),
    ("us-east-1b", "use1-az6"),
    ("us-east-1c", "use1-az1"),
    ("us-east-1d", "use1-az2"),
    ("us-east-1f", "use1-az5"),
]
KUBELET = "v1.33.1-eks-b9364f6"
CLUSTER = "prod-use1"


@dataclass(frozen=True)
class Instance:
    name: str
    vcpu: int
    mem_gib: int
    max_pods: int
    gpus: int = 0
    gpu_model: str = ""
    efa: int = 0
    bandwidth: int = 12500  # Mbit/s, karpenter label


INSTANCES = {
    i.name: i
    for i in (
        Instance("m5.2xlarge", 8, 32, 58, bandwidth=2500),
        Instance("m5.4xlarge", 16, 64, 110, bandwidth=5000),
        Instance("m6i.4xlarge", 16, 64, 110, bandwidth=6250),
        Instance("m6i.8xlarge", 32, 128, 110, bandwidth=12500),
        Instance("m6i.12xlarge", 48, 192, 110, bandwidth=18750),
        Instance("g5.12xlarge", 48, 192, 110, 4, "A10G", bandwidth=40000),
        Instance("p4de.24xlarge", 96, 1152, 110, 8, "A100-80GB", efa=4, bandwidth=400000),
        Instance("p5.48xlarge", 192, 2048, 110, 8, "H100", efa=32, bandwidth=3200000),
    )
}

# GFD facts per model: product label, memory MiB, family, compute capability.
GPU_MODELS = {
    "A10G": ("NVIDIA-A10G", 23028, "ampere", 8, 6),
    "A100-80GB": ("NVIDIA-A100-SXM4-80GB", 81920, "ampere", 8, 0),
    "H100": ("NVIDIA-H100-80GB-HBM3", 81559, "hopper", 9, 0),
}

# MIG profile -> (compute slices, memory slices, GFD memory MiB, multiprocessors, engines:
# copy, decoder, encoder, jpeg, ofa). Memory and engine figures are illustrative.
MIG_PROFILES = {
    ("A100-80GB", "1g.10gb"): (1, 1, 9728, 14, (1, 0, 0, 0, 0)),
    ("A100-80GB", "2g.20gb"): (2, 2, 19968, 28, (2, 1, 0, 0, 0)),
    ("A100-80GB", "3g.40gb"): (3, 4, 40192, 42, (3, 2, 0, 0, 0)),
    ("H100", "1g.10gb"): (1, 1, 9856, 16, (1, 1, 0, 1, 0)),
}


@dataclass(frozen=True)
class Pool:
    """A node pool: one instance family and one way of exposing its GPUs."""

    name: str
    share: float  # of all nodes
    #: Instance types its nodes take in turn, so that even a small pool has the intended mix.
    instances: tuple[str, ...]
    karpenter: bool
    spot: float = 0.0  # share of spot nodes
    reserved: float = 0.0  # share of capacity-reservation nodes (karpenter "reserved")
    sharing: str = ""  # "" whole GPUs | "time-slicing" | "mig"
    replicas: int = 1  # time-slicing replicas per GPU
    mig_config: str = ""  # mig-parted config name
    mig_layout: tuple[tuple[str, int], ...] = ()  # per GPU: (profile, devices)


POOLS = (
    Pool(
        "general",
        0.0,
        ("m6i.8xlarge", "m5.4xlarge", "m6i.4xlarge", "m5.2xlarge", "m6i.12xlarge", "m6i.8xlarge")
        + ("m5.4xlarge", "m6i.4xlarge", "m5.2xlarge", "m6i.8xlarge", "m5.4xlarge", "m6i.4xlarge"),
        True,
        spot=0.35,
    ),
    # In the order small clusters receive them: one of each way of exposing GPUs first.
    Pool("gpu-a100", 0.03, ("p4de.24xlarge",), True),
    Pool("gpu-shared", 0.04, ("g5.12xlarge",), False, sharing="time-slicing", replicas=4),
    Pool(
        "gpu-mig-a100",
        0.02,
        ("p4de.24xlarge",),
        True,
        sharing="mig",
        mig_config="all-balanced",
        mig_layout=(("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)),
    ),
    Pool("gpu-h100", 0.02, ("p5.48xlarge",), True, reserved=0.6),
    Pool(
        "gpu-mig-h100",
        0.015,
        ("p5.48xlarge",),
        True,
        sharing="mig",
        mig_config="all-1g.10gb",
        mig_layout=(("1g.10gb", 7),),
    ),
    Pool("system", 0.03, ("m5.4xlarge",), False),
)

# Images the kubelet reports on every node; app images are added per node.
_SYSTEM_IMAGES = [
    ("602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni", "v1.19.4-eksbuild.1", 59804416),
    (
        "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni-init",
        "v1.19.4-eksbuild.1",
        62347201,
    ),
    (
        "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon/aws-network-policy-agent",
        "v1.2.1-eksbuild.1",
        40739177,
    ),
    (
        "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy",
        "v1.33.0-minimal-eksbuild.2",
        36741202,
    ),
    ("602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/aws-ebs-csi-driver", "v1.43.0", 99410921),
    (
        "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/csi-node-driver-registrar",
        "v2.13.0-eks-1-33-4",
        12938271,
    ),
    (
        "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/livenessprobe",
        "v2.15.0-eks-1-33-4",
        13311842,
    ),
    ("quay.io/prometheus/node-exporter", "v1.9.1", 12370123),
    ("cr.fluentbit.io/fluent/fluent-bit", "3.2.10", 41302291),
    ("docker.io/istio/proxyv2", "1.25.2", 100321334),
]
_GPU_IMAGES = [
    ("nvcr.io/nvidia/k8s-device-plugin", "v0.17.1", 197410277),
    ("nvcr.io/nvidia/k8s/dcgm-exporter", "4.1.1-4.0.4-ubuntu22.04", 485232718),
    ("nvcr.io/nvidia/cloud-native/k8s-mig-manager", "v0.12.1-ubuntu20.04", 152381765),
    ("nvcr.io/nvidia/pytorch", "25.04-py3", 10718331642),
    ("docker.io/vllm/vllm-openai", "v0.8.5", 9104827761),
    ("nvcr.io/nvidia/tritonserver", "25.04-py3", 8377129033),
]
_PAUSE: Obj = {
    "names": ["602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/pause:3.10"],
    "sizeBytes": 299513,
}


# ---------------------------------------------------------------------------------------------
# Containers and pod shapes


@dataclass
class _Ctr:
    """One container of a pod template, with the per-pod parts left out."""

    name: str
    spec: Obj  # volumeMounts without the service-account token mount
    mounts: list[Obj]
    status_mounts: list[Obj]
    image: str
    image_id: str
    resources: Obj
    requests: Obj
    demand: dict[str, int]
    sidecar: bool = False


_HTTP = "HTTP"
_SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_PROJECTED = {
    "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {
            "downwardAPI": {
                "items": [
                    {
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                    }
                ]
            }
        },
    ],
    "defaultMode": 420,
}
_DEFAULT_TOLERATIONS: list[Obj] = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]
_GPU_TOLERATION: Obj = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
# A catch-all from the chart, then what the DaemonSet controller adds; it adds the last one
# (network-unavailable) to host-network pods only.
_DS_TOLERATIONS = [
    {"operator": "Exists"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"},
]


def _env(*pairs: tuple[str, Any]) -> list[Obj]:
    """Env entries: a str value, ("field", path), ("secret", name, key) or ("resource", r)."""
    out: list[Obj] = []
    for name, value in pairs:
        if isinstance(value, str):
            out.append({"name": name, "value": value} if value else {"name": name})
        elif value[0] == "field":
            out.append(
                {
                    "name": name,
                    "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": value[1]}},
                }
            )
        elif value[0] == "secret":
            out.append(
                {"name": name, "valueFrom": {"secretKeyRef": {"name": value[1], "key": value[2]}}}
            )
        elif value[0] == "config":
            out.append(
                {
                    "name": name,
                    "valueFrom": {"configMapKeyRef": {"name": value[1], "key": value[2]}},
                }
            )
        else:
            out.append(
                {
                    "name": name,
                    "valueFrom": {"resourceFieldRef": {"resource": value[1], "divisor": "0"}},
                }
            )
    return out


def _http_probe(path: str, port: Any, delay: int = 0, period: int = 10, failure: int = 3) -> Obj:
    probe: Obj = {"httpGet": {"path": path, "port": port, "scheme": _HTTP}}
    if delay:
        probe["initialDelaySeconds"] = delay
    probe.update(
        timeoutSeconds=1, periodSeconds=period, successThreshold=1, failureThreshold=failure
    )
    return probe


def _container(
    name: str,
    image: tuple[str, str],
    *,
    command: list[str] | None = None,
    args: list[str] | None = None,
    ports: Iterable[tuple[str, int]] = (),
    env: list[Obj] | None = None,
    env_from: list[Obj] | None = None,
    requests: dict[str, Q] | None = None,
    limits: dict[str, Q] | None = None,
    mounts: Iterable[tuple[str, str, bool]] = (),
    liveness: Obj | None = None,
    readiness: Obj | None = None,
    startup: Obj | None = None,
    sidecar: bool = False,
    security: Obj | None = None,
    pull: str = "IfNotPresent",
) -> _Ctr:
    req = dict(requests or {})
    lim = dict(limits or {})
    for k, v in lim.items():  # the API server copies a limit into a missing request
        req.setdefault(k, v)
    resources: Obj = {}
    if lim:
        resources["limits"] = {k: lim[k][0] for k in sorted(lim)}
    if req:
        resources["requests"] = {k: req[k][0] for k in sorted(req)}
    spec: Obj = {"name": name, "image": f"{image[0]}:{image[1]}"}
    if command:
        spec["command"] = command
    if args:
        spec["args"] = args
    if ports:
        spec["ports"] = [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]
    if env_from:
        spec["envFrom"] = env_from
    if env:
        spec["env"] = env
    spec["resources"] = resources
    if sidecar:
        spec["restartPolicy"] = "Always"
    vm = [
        {"name": n, "readOnly": True, "mountPath": p} if ro else {"name": n, "mountPath": p}
        for n, p, ro in mounts
    ]
    spec["volumeMounts"] = vm
    for key, probe in (
        ("livenessProbe", liveness),
        ("readinessProbe", readiness),
        ("startupProbe", startup),
    ):
        if probe:
            spec[key] = probe
    spec["terminationMessagePath"] = "/dev/termination-log"
    spec["terminationMessagePolicy"] = "File"
    spec["imagePullPolicy"] = pull
    if security is not None:
        spec["securityContext"] = security
    status_mounts = [_status_mount(m) for m in vm]
    digest = _digest(image[0] + image[1])
    return _Ctr(
        name=name,
        spec=spec,
        mounts=vm,
        status_mounts=status_mounts,
        image=spec["image"],
        image_id=f"{image[0]}@sha256:{digest}",
        resources=resources,
        requests=resources.get("requests", {}),
        demand={k: v[1] for k, v in req.items()},
        sidecar=sidecar,
    )


def _digest(s: str) -> str:
    """A stable sha256 hex digest standing in for an image digest."""
    return hashlib.sha256(s.encode()).hexdigest()


def _status_mount(m: Obj) -> Obj:
    out = {"name": m["name"], "mountPath": m["mountPath"]}
    if m.get("readOnly"):
        out["readOnly"] = True
        out["recursiveReadOnly"] = "Disabled"
    return out


@dataclass
class _Shape:
    """A pod template: everything pods of one workload share."""

    pool: str
    labels: Obj
    annotations: Obj | None
    volumes: list[Obj]
    init: list[_Ctr]
    containers: list[_Ctr]
    spec: Obj  # ordered PodSpec with placeholders for the per-pod fields
    template_spec: Obj  # the PodSpec inside the owner's spec.template
    demand: dict[str, int]
    qos: str
    host_network: bool = False
    pinned: bool = False


def _shape(
    pool: str,
    labels: Obj,
    annotations: Obj | None,
    volumes: list[Obj],
    init: list[_Ctr],
    containers: list[_Ctr],
    *,
    restart: str = "Always",
    grace: int = 30,
    node_selector: Obj | None = None,
    sa: str = "default",
    host_network: bool = False,
    host_pid: bool = False,
    security: Obj | None = None,
    affinity: Obj | None = None,
    pinned: bool = False,
    tolerations: list[Obj] = _DEFAULT_TOLERATIONS,
    priority_class: str = "",
    priority: int = 0,
    runtime_class: str = "",
    overhead: dict[str, Q] | None = None,
    spread: list[Obj] | None = None,
    hostname_subdomain: str = "",
) -> _Shape:
    def spec_for(pod: bool) -> Obj:
        s: Obj = {"volumes": volumes}
        if init:
            s["initContainers"] = [c.spec for c in init]
        s["containers"] = [c.spec for c in containers]
        s["restartPolicy"] = restart
        s["terminationGracePeriodSeconds"] = grace
        s["dnsPolicy"] = "ClusterFirstWithHostNet" if host_network else "ClusterFirst"
        if node_selector:
            s["nodeSelector"] = node_selector
        s["serviceAccountName"] = sa
        s["serviceAccount"] = sa
        if pod:
            s["nodeName"] = ""
        if host_network:
            s["hostNetwork"] = True
        if host_pid:
            s["hostPID"] = True
        s["securityContext"] = security or {}
        if hostname_subdomain and pod:
            s["hostname"] = ""
            s["subdomain"] = hostname_subdomain
        if affinity:
            s["affinity"] = affinity
        elif pinned and pod:
            s["affinity"] = (
                None  # the DaemonSet controller pins each pod to its node: pod() fills it
            )
        s["schedulerName"] = "default-scheduler"
        if pod or tolerations is not _DEFAULT_TOLERATIONS:
            tol = tolerations if pod else [t for t in tolerations if t not in _DEFAULT_TOLERATIONS]
            if tol:
                s["tolerations"] = tol
        if priority_class:
            s["priorityClassName"] = priority_class
        if pod:
            s["priority"] = priority
        if runtime_class:
            s["runtimeClassName"] = runtime_class
        if pod:
            s["enableServiceLinks"] = True
            s["preemptionPolicy"] = "PreemptLowerPriority"
            if overhead:
                s["overhead"] = {k: overhead[k][0] for k in sorted(overhead)}
        if spread:
            s["topologySpreadConstraints"] = spread
        return s

    demand: dict[str, int] = {"pods": 1}
    for c in (*init, *containers):
        for k, v in c.demand.items():
            demand[k] = demand.get(k, 0) + v
    for k, (_, v) in (overhead or {}).items():
        demand[k] = demand.get(k, 0) + v
    all_c = [*init, *containers]
    if not any(c.requests for c in all_c):
        qos = "BestEffort"
    elif all(
        c.resources.get("limits", {}).get(r) == c.requests.get(r) and r in c.requests
        for c in all_c
        for r in ("cpu", "memory")
    ):
        qos = "Guaranteed"
    else:
        qos = "Burstable"
    return _Shape(
        pool,
        labels,
        annotations,
        volumes,
        init,
        containers,
        spec_for(True),
        spec_for(False),
        demand,
        qos,
        host_network,
        pinned,
    )


# ---------------------------------------------------------------------------------------------
# Namespaces, teams, applications

TEAMS = {
    "payments": ["checkout", "ledger", "fraud"],
    "search": ["query", "indexer"],
    "catalog": ["catalog", "pricing"],
    "identity": ["auth", "accounts"],
    "messaging": ["notifications", "email"],
    "growth": ["experiments", "referrals"],
    "ads": ["bidder", "targeting"],
    "logistics": ["shipping", "inventory"],
    "data-eng": ["pipelines", "lakehouse"],
    "analytics": ["reports", "dashboards"],
    "platform": ["gateway", "config"],
    "observability": ["tracing", "logs"],
    "mobile": ["mobile-api", "push"],
    "support": ["tickets", "chat"],
    "media": ["transcode", "thumbnails"],
    "recommendations": ["recs", "features"],
    "ml-research": ["llm-pretrain", "vision"],
    "ml-platform": ["feature-store", "model-serving"],
    "inference": ["chat-llm", "embeddings", "rerank"],
}
ML_TEAMS = ("ml-research", "ml-platform", "inference")
CUSTOMERS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"]
ENVS = ["prod", "staging", "dev", "canary", "perf"]
SYSTEM_NAMESPACES = [
    "default",
    "kube-node-lease",
    "kube-public",
    "kube-system",
    "gpu-operator",
    "monitoring",
    "logging",
    "istio-system",
    "karpenter",
    "kubeflow",
]
_LANGS = [
    ("python", ["python", "-m", "{app}.server"], ["--port=8080", "--workers=4"]),
    ("go", ["/app/{app}"], ["--listen=:8080", "--metrics-listen=:9090", "--log-format=json"]),
    ("java", ["java"], ["-XX:MaxRAMPercentage=75", "-jar", "/app/{app}.jar"]),
    ("node", ["node"], ["dist/server.js"]),
]
_ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
_CPU_REQ = [10, 25, 50, 50, 100, 100, 100, 100, 150, 200, 200, 250, 250, 300, 500, 500, 1000, 2000]
_MEM_REQ = [
    64 * MI,
    128 * MI,
    128 * MI,
    256 * MI,
    256 * MI,
    256 * MI,
    384 * MI,
    512 * MI,
    512 * MI,
    768 * MI,
    GI,
    GI,
    1536 * MI,
    2 * GI,
    3 * GI,
    4 * GI,
]
_MEM_REQ_DECIMAL = [500 * 10**6, 10**9, 2 * 10**9]  # written "500M", "1G", "2G"
_REPLICAS = [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64]


@dataclass
class _Ns:
    name: str
    team: str
    product: str
    customer: str
    istio: bool


@dataclass
class _Node:
    name: str
    ip: str
    pool: Pool
    created: int
    remaining: dict[str, int]
    obj: Obj


@dataclass
class _Owner:
    """What a pod's metadata takes from its controller."""

    refs: list[Obj]
    labels: Obj
    annotations: Obj | None
    finalizers: list[str] | None = None


# ---------------------------------------------------------------------------------------------
# The generator


class _Builder:
    def __init__(self, pods: int, nodes: int, seed: int) -> None:
        self.rng = _Rng(seed)
        self.pod_budget = pods
        # Small clusters run small deployments; keeps one big workload from dominating them.
        self.max_replicas = max(3, pods // 50)
        self.n_nodes = nodes
        self.rv = 48_210_000 + self.rng.randrange(1_000_000)
        self.pod_ip = self.rng.randrange(4096)
        self.nodes: list[_Node] = []
        self.pools: dict[str, list[_Node]] = {}
        self.cursor: dict[str, int] = {}
        self.pods: list[Obj] = []
        self.namespaces: list[Obj] = []
        self.ns: list[_Ns] = []
        self.replicasets: list[Obj] = []
        self.jobs: list[Obj] = []
        self.workloads: list[Obj] = []
        self.names: set[tuple[str, str]] = set()
        self.image_entries: dict[str, Obj] = {}
        self.app_images: list[tuple[str, str, int]] = []

    # -- shared bits ---------------------------------------------------------------------------

    def next_rv(self) -> str:
        self.rv += self.rng.between(1, 7)
        return str(self.rv)

    def meta(
        self,
        name: str,
        namespace: str | None,
        created: int,
        *,
        generate_name: str = "",
        labels: Obj | None = None,
        annotations: Obj | None = None,
        owners: list[Obj] | None = None,
        generation: int = 0,
        finalizers: list[str] | None = None,
    ) -> Obj:
        m: Obj = {"name": name}
        if generate_name:
            m["generateName"] = generate_name
        if namespace is not None:
            m["namespace"] = namespace
        m["uid"] = self.rng.uid()
        m["resourceVersion"] = self.next_rv()
        if generation:
            m["generation"] = generation
        m["creationTimestamp"] = _ts(created)
        if labels:
            m["labels"] = labels
        if annotations:
            m["annotations"] = annotations
        if owners:
            m["ownerReferences"] = owners
        if finalizers:
            m["finalizers"] = finalizers
        return m

    @staticmethod
    def ref(api_version: str, kind: str, meta: Obj) -> list[Obj]:
        return [
            {
                "apiVersion": api_version,
                "kind": kind,
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]

    def unique_name(self, ns: str, prefix: str) -> str:
        while True:
            name = prefix + self.rng.suffix()
            if (ns, name) not in self.names:
                self.names.add((ns, name))
                return name

    # -- namespaces ----------------------------------------------------------------------------

    def build_namespaces(self, n: int) -> None:
        rng = self.rng
        seen: set[str] = set()
        teams = list(TEAMS)
        # Every ML team gets a namespace first so that GPU workloads always have a home.
        order = [*ML_TEAMS, *teams]
        i = 0
        while len(self.ns) < n:
            team = order[i] if i < len(order) else rng.choice(teams)
            i += 1
            product = rng.choice(TEAMS[team])
            customer = rng.choice(CUSTOMERS) if rng.random() < 0.3 else ""
            env = ENVS[0] if rng.random() < 0.6 else rng.choice(ENVS)
            name = f"{product}-{customer}" if customer else f"{product}-{env}"
            if name in seen:
                continue
            seen.add(name)
            self.ns.append(_Ns(name, team, product, customer, False))
        # A service mesh in 4% of the namespaces: its sidecars double a pod's size.
        for ns in rng.sample(self.ns, round(0.04 * len(self.ns))):
            ns.istio = True
        for ns in self.ns:
            labels = {
                "kubernetes.io/metadata.name": ns.name,
                "product": ns.product,
                "team": ns.team,
            }
            if ns.customer:
                labels["customer"] = ns.customer
            if ns.istio:
                labels["istio-injection"] = "enabled"
            labels["pod-security.kubernetes.io/enforce"] = "baseline"
            self._namespace(
                ns.name,
                dict(sorted(labels.items())),
                {"argocd.argoproj.io/tracking-id": f"{ns.name}:/Namespace:{ns.name}/{ns.name}"},
            )
        for name in SYSTEM_NAMESPACES:
            self._namespace(name, {"kubernetes.io/metadata.name": name}, None)

    def _namespace(self, name: str, labels: Obj, annotations: Obj | None) -> None:
        created = NOW - self.rng.randrange(30 * 86400, 700 * 86400)
        self.namespaces.append(
            {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": self.meta(name, None, created, labels=labels, annotations=annotations),
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )

    # -- nodes ---------------------------------------------------------------------------------

    def build_nodes(self) -> None:
        rng, n = self.rng, self.n_nodes
        # Special pools get their share, at least one node each once the cluster has 8 nodes,
        # but never more than 40% of the nodes: the general pool must hold the services.
        plan: list[Pool] = []
        for pool in POOLS[1:]:
            k = max(round(pool.share * n), 1 if n >= 8 else 0)
            if len(plan) + k <= 0.4 * n:
                plan += [pool] * k
        plan += [POOLS[0]] * (n - len(plan))
        rng.shuffle(plan)
        app_images = [
            (
                f"{_ECR}/{t}/{p}",
                f"v1.{rng.randrange(40)}.{rng.randrange(20)}",
                rng.randrange(40, 900) * 10**6 + rng.randrange(10**6),
            )
            for t, ps in TEAMS.items()
            for p in ps
        ]
        self.app_images = app_images
        self.image_entries = {
            repo: self._image_entry(repo, tag, size)
            for repo, tag, size in _SYSTEM_IMAGES + _GPU_IMAGES + app_images
        }
        taken: dict[str, int] = {}
        for i, pool in enumerate(plan):
            k = taken[pool.name] = taken.get(pool.name, -1) + 1
            self._node(i, pool, INSTANCES[pool.instances[k % len(pool.instances)]])
        for node in sorted(self.nodes, key=lambda x: x.name):
            self.pools.setdefault(node.pool.name, []).append(node)
        self.cursor = {p: 0 for p in self.pools}

    def _image_entry(self, repo: str, tag: str, size: int) -> Obj:
        digest = _digest(repo + tag)
        return {"names": [f"{repo}@sha256:{digest}", f"{repo}:{tag}"], "sizeBytes": size}

    def _node(self, i: int, pool: Pool, inst: Instance) -> None:
        rng = self.rng
        b, c = divmod(i, 250)
        ip = f"10.{16 + b // 256}.{b % 256}.{c + 4}"
        name = f"ip-{ip.replace('.', '-')}.ec2.internal"
        zone, zone_id = ZONES[rng.randrange(len(ZONES))]
        instance_id = "i-0" + rng.hexstr(64)[:16]
        created = NOW - rng.randrange(600, 40 * 86400)
        if pool.reserved and rng.random() < pool.reserved:
            capacity_type = "reserved"
        elif rng.random() < pool.spot:
            capacity_type = "spot"
        else:
            capacity_type = "on-demand"

        labels: Obj = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/instance-type": inst.name,
            "beta.kubernetes.io/os": "linux",
            "failure-domain.beta.kubernetes.io/region": REGION,
            "failure-domain.beta.kubernetes.io/zone": zone,
            "k8s.io/cloud-provider-aws": "9f2c1d6b3e4a",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": inst.name,
            "topology.k8s.aws/zone-id": zone_id,
            "topology.kubernetes.io/region": REGION,
            "topology.kubernetes.io/zone": zone,
        }
        annotations: Obj = {
            "alpha.kubernetes.io/provided-node-ip": ip,
            "csi.volume.kubernetes.io/nodeid": '{"ebs.csi.aws.com":"%s"}' % instance_id,
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        }
        family, size = inst.name.split(".")
        if pool.karpenter:
            labels.update(
                {
                    "karpenter.k8s.aws/ec2nodeclass": "default",
                    "karpenter.k8s.aws/instance-category": family[0],
                    "karpenter.k8s.aws/instance-cpu": str(inst.vcpu),
                    "karpenter.k8s.aws/instance-cpu-manufacturer": "intel",
                    "karpenter.k8s.aws/instance-ebs-bandwidth": "19000",
                    "karpenter.k8s.aws/instance-encryption-in-transit-supported": "true",
                    "karpenter.k8s.aws/instance-family": family,
                    "karpenter.k8s.aws/instance-generation": family[1]
                    if family[1].isdigit()
                    else family[2],
                    "karpenter.k8s.aws/instance-hypervisor": "nitro",
                    "karpenter.k8s.aws/instance-memory": str(inst.mem_gib * 1024),
                    "karpenter.k8s.aws/instance-network-bandwidth": str(inst.bandwidth),
                    "karpenter.k8s.aws/instance-size": size,
                    "karpenter.sh/capacity-type": capacity_type,
                    "karpenter.sh/initialized": "true",
                    "karpenter.sh/nodepool": pool.name,
                    "karpenter.sh/registered": "true",
                }
            )
            annotations.update(
                {
                    "compatibility.karpenter.k8s.aws/cluster-name-tagged": "true",
                    "karpenter.k8s.aws/ec2nodeclass-hash": str(rng.getrandbits(63)),
                    "karpenter.k8s.aws/ec2nodeclass-hash-version": "v4",
                    "karpenter.sh/nodepool-hash": str(rng.getrandbits(63)),
                    "karpenter.sh/nodepool-hash-version": "v3",
                }
            )
        else:
            labels.update(
                {
                    "eks.amazonaws.com/capacityType": "SPOT"
                    if capacity_type == "spot"
                    else "ON_DEMAND",
                    "eks.amazonaws.com/nodegroup": f"{pool.name}-ng",
                    "eks.amazonaws.com/nodegroup-image": "ami-0c1f4e5d2b3a49870",
                    "eks.amazonaws.com/sourceLaunchTemplateId": "lt-0a5b8e2d4c1f3e6a7",
                    "eks.amazonaws.com/sourceLaunchTemplateVersion": "7",
                }
            )

        # kubelet capacity and allocatable, with EKS's kube-reserved formula.
        cap_ki = inst.mem_gib * MI - inst.mem_gib * 16 * KI - rng.randrange(64) * 4
        reserved_cpu = 60 + 10 + 10 + (inst.vcpu - 4) * 5 // 2
        reserved_mem_ki = (255 + 11 * inst.max_pods + 100) * KI
        disk_gib = 100 if not inst.gpus else 500
        disk_ki = disk_gib * MI - 3 * MI // 2 + rng.randrange(4096)
        capacity: dict[str, Q] = {
            "cpu": count(inst.vcpu),
            "ephemeral-storage": (f"{disk_ki}Ki", disk_ki * KI),
            "hugepages-1Gi": count(0),
            "hugepages-2Mi": count(0),
            "memory": (f"{cap_ki}Ki", cap_ki * KI),
            "pods": count(inst.max_pods),
        }
        alloc_disk = disk_ki * KI * 9 // 10 - GI
        allocatable: dict[str, Q] = dict(capacity)
        allocatable["cpu"] = cpu(inst.vcpu * 1000 - reserved_cpu)
        allocatable["memory"] = (f"{cap_ki - reserved_mem_ki}Ki", (cap_ki - reserved_mem_ki) * KI)
        allocatable["ephemeral-storage"] = count(alloc_disk)
        taints: list[Obj] = []
        if inst.efa:
            capacity["vpc.amazonaws.com/efa"] = allocatable["vpc.amazonaws.com/efa"] = count(
                inst.efa
            )
        if inst.gpus:
            taints.append({"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"})
            self._gpu_node(inst, pool, labels, capacity, allocatable)

        # The images of the node agents, then a few the node's pods pulled.
        images: list[Obj] = [_PAUSE] + [self.image_entries[r] for r, _, _ in _SYSTEM_IMAGES[:5]]
        if inst.gpus:
            picked = _GPU_IMAGES[:2] + rng.sample(_GPU_IMAGES[3:], 1)
        else:
            picked = rng.sample(self.app_images, rng.randint(1, 4))
        images += [self.image_entries[r] for r, _, _ in picked]
        images.sort(key=lambda e: -e["sizeBytes"])

        hb = _ts(NOW - rng.randrange(1, 50))
        up = _ts(created + rng.randrange(20, 90))
        boot = _ts(created + rng.randrange(5, 15))
        spec: Obj = {"providerID": f"aws:///{zone}/{instance_id}"}
        if taints:
            spec["taints"] = taints
        dns = name
        obj: Obj = {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": self.meta(
                name,
                None,
                created,
                labels=dict(sorted(labels.items())),
                annotations=dict(sorted(annotations.items())),
            ),
            "spec": spec,
            "status": {
                "capacity": {k: capacity[k][0] for k in sorted(capacity)},
                "allocatable": {k: allocatable[k][0] for k in sorted(allocatable)},
                "conditions": [
                    {
                        "type": "MemoryPressure",
                        "status": "False",
                        "lastHeartbeatTime": hb,
                        "lastTransitionTime": boot,
                        "reason": "KubeletHasSufficientMemory",
                        "message": "kubelet has sufficient memory available",
                    },
                    {
                        "type": "DiskPressure",
                        "status": "False",
                        "lastHeartbeatTime": hb,
                        "lastTransitionTime": boot,
                        "reason": "KubeletHasNoDiskPressure",
                        "message": "kubelet has no disk pressure",
                    },
                    {
                        "type": "PIDPressure",
                        "status": "False",
                        "lastHeartbeatTime": hb,
                        "lastTransitionTime": boot,
                        "reason": "KubeletHasSufficientPID",
                        "message": "kubelet has sufficient PID available",
                    },
                    {
                        "type": "Ready",
                        "status": "True",
                        "lastHeartbeatTime": hb,
                        "lastTransitionTime": up,
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                    },
                ],
                "addresses": [
                    {"type": "InternalIP", "address": ip},
                    {"type": "InternalDNS", "address": dns},
                    {"type": "Hostname", "address": dns},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": "ec2" + rng.hexstr(116)[:29],
                    "systemUUID": "ec2" + rng.uid()[3:],
                    "bootID": rng.uid(),
                    "kernelVersion": "6.1.134-152.225.amzn2023.x86_64",
                    "osImage": "Amazon Linux 2023.7.20250512",
                    "containerRuntimeVersion": "containerd://1.7.27",
                    "kubeletVersion": KUBELET,
                    "kubeProxyVersion": KUBELET,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
                "images": images,
                "runtimeHandlers": self._runtime_handlers(bool(inst.gpus)),
                "features": {"supplementalGroupsPolicy": True},
            },
        }
        remaining = {k: v[1] for k, v in allocatable.items() if v[1]}
        self.nodes.append(_Node(name, ip, pool, created, remaining, obj))

    @staticmethod
    def _runtime_handlers(gpu: bool) -> list[Obj]:
        features = {"recursiveReadOnlyMounts": True, "userNamespaces": True}
        names = ["nvidia", "", "runc"] if gpu else ["", "runc"]
        return [{"name": n, "features": features} for n in names]

    def _gpu_node(
        self,
        inst: Instance,
        pool: Pool,
        labels: Obj,
        capacity: dict[str, Q],
        allocatable: dict[str, Q],
    ) -> None:
        product, memory, fam, major, minor = GPU_MODELS[inst.gpu_model]
        shared = pool.sharing == "time-slicing"
        labels.update(
            {
                "feature.node.kubernetes.io/pci-10de.present": "true",
                "nvidia.com/cuda.driver-version.full": "570.133.20",
                "nvidia.com/cuda.driver-version.major": "570",
                "nvidia.com/cuda.driver-version.minor": "133",
                "nvidia.com/cuda.driver-version.revision": "20",
                "nvidia.com/cuda.driver.major": "570",
                "nvidia.com/cuda.driver.minor": "133",
                "nvidia.com/cuda.driver.rev": "20",
                "nvidia.com/cuda.runtime-version.full": "12.8",
                "nvidia.com/cuda.runtime-version.major": "12",
                "nvidia.com/cuda.runtime-version.minor": "8",
                "nvidia.com/gfd.timestamp": str(NOW - self.rng.randrange(86400)),
                "nvidia.com/gpu-driver-upgrade-state": "upgrade-done",
                "nvidia.com/gpu.compute.major": str(major),
                "nvidia.com/gpu.compute.minor": str(minor),
                "nvidia.com/gpu.count": str(inst.gpus),
                "nvidia.com/gpu.deploy.container-toolkit": "true",
                "nvidia.com/gpu.deploy.dcgm": "true",
                "nvidia.com/gpu.deploy.dcgm-exporter": "true",
                "nvidia.com/gpu.deploy.device-plugin": "true",
                "nvidia.com/gpu.deploy.driver": "pre-installed",
                "nvidia.com/gpu.deploy.gpu-feature-discovery": "true",
                "nvidia.com/gpu.deploy.mig-manager": "true"
                if inst.gpu_model != "A10G"
                else "false",
                "nvidia.com/gpu.deploy.node-status-exporter": "true",
                "nvidia.com/gpu.deploy.operator-validator": "true",
                "nvidia.com/gpu.family": fam,
                "nvidia.com/gpu.machine": inst.name.replace(".", "-"),
                "nvidia.com/gpu.memory": str(memory),
                "nvidia.com/gpu.mode": "compute",
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": product + ("-SHARED" if shared else ""),
                "nvidia.com/gpu.replicas": str(pool.replicas),
                "nvidia.com/gpu.sharing-strategy": "time-slicing" if shared else "none",
                "nvidia.com/mig.capable": "false" if inst.gpu_model == "A10G" else "true",
            }
        )
        if inst.gpu_model != "A10G":
            labels["nvidia.com/mig.config"] = pool.mig_config or "all-disabled"
            labels["nvidia.com/mig.config.state"] = "success"
            labels["nvidia.com/mig.strategy"] = "mixed"
        if shared:
            labels["nvidia.com/device-plugin.config"] = f"time-sliced-{pool.replicas}"
        if pool.sharing == "mig":
            for profile, per_gpu in pool.mig_layout:
                gi, _mem_slices, mig_mem, sms, engines = MIG_PROFILES[(inst.gpu_model, profile)]
                n = per_gpu * inst.gpus
                p = f"nvidia.com/mig-{profile}"
                labels.update(
                    {
                        f"{p}.count": str(n),
                        f"{p}.engines.copy": str(engines[0]),
                        f"{p}.engines.decoder": str(engines[1]),
                        f"{p}.engines.encoder": str(engines[2]),
                        f"{p}.engines.jpeg": str(engines[3]),
                        f"{p}.engines.ofa": str(engines[4]),
                        f"{p}.memory": str(mig_mem),
                        f"{p}.multiprocessors": str(sms),
                        f"{p}.product": f"{product}-MIG-{profile}",
                        f"{p}.replicas": "1",
                        f"{p}.sharing-strategy": "none",
                        f"{p}.slices.ci": str(gi),
                        f"{p}.slices.gi": str(gi),
                    }
                )
                capacity[p] = allocatable[p] = count(n)
            return
        units = inst.gpus * pool.replicas
        capacity["nvidia.com/gpu"] = allocatable["nvidia.com/gpu"] = count(units)
        if self.rng.random() < 0.03:  # an unhealthy device: capacity keeps it, allocatable not
            allocatable["nvidia.com/gpu"] = count(units - pool.replicas)

    # -- placement -----------------------------------------------------------------------------

    def place(self, pool: str, demand: dict[str, int]) -> _Node | None:
        nodes = self.pools.get(pool)
        if not nodes:
            return None
        n = len(nodes)
        start = self.cursor[pool]
        tries = n if pool != "general" else min(n, 48)
        for k in range(tries):
            node = nodes[(start + k) % n]
            rem = node.remaining
            for r, v in demand.items():
                if rem.get(r, 0) < v:
                    break
            else:
                for r, v in demand.items():
                    rem[r] -= v
                self.cursor[pool] = (start + k + 1) % n
                return node
        return None

    # -- pods ----------------------------------------------------------------------------------

    def pod(
        self,
        shape: _Shape,
        owner: _Owner,
        ns: str,
        name: str,
        generate_name: str,
        created: int,
        *,
        node: _Node | None = None,
        state: str = "",
        extra_volume: Obj | None = None,
        labels: Obj | None = None,
    ) -> Obj | None:
        """Make one pod. ``state``: "" (decide here), Running, Restarted, NotReady, Creating,
        Succeeded, Failed, Evicted, Terminating or Unschedulable."""
        rng = self.rng
        if self.pod_budget <= 0:
            return None
        self.pod_budget -= 1
        if not state:
            x = rng.random()
            state = (
                "Running"
                if x < 0.962
                else "Restarted"
                if x < 0.982
                else "NotReady"
                if x < 0.988
                else "Creating"
                if x < 0.995
                else "Terminating"
            )
        holds = state not in ("Succeeded", "Failed", "Evicted", "Unschedulable")
        if node is None and state != "Unschedulable":
            if holds:
                node = self.place(shape.pool, shape.demand)
            else:
                pool = self.pools.get(shape.pool)
                node = pool[rng.randrange(len(pool))] if pool else None
            if node is None:
                state = "Unschedulable"
        elif node is not None and holds:  # a DaemonSet pod: placed on its node, first
            rem = node.remaining
            for r, v in shape.demand.items():
                rem[r] = rem.get(r, 0) - v
        if state == "Unschedulable":
            node = None
        if node is not None:
            created = max(created, node.created + 60)

        token = "kube-api-access-" + rng.suffix()
        tok_mount = {"name": token, "readOnly": True, "mountPath": _SA_PATH}
        spec = dict(shape.spec)
        vols = [extra_volume, *shape.volumes] if extra_volume else list(shape.volumes)
        vols.append({"name": token, "projected": _PROJECTED})
        spec["volumes"] = vols
        if shape.init:
            spec["initContainers"] = [self._with_mount(c, tok_mount) for c in shape.init]
        spec["containers"] = [self._with_mount(c, tok_mount) for c in shape.containers]
        if "hostname" in spec:
            spec["hostname"] = name
        if node is None:
            del spec["nodeName"]
        else:
            spec["nodeName"] = node.name
            if shape.pinned:
                spec["affinity"] = {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchFields": [
                                        {
                                            "key": "metadata.name",
                                            "operator": "In",
                                            "values": [node.name],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                }

        meta = self.meta(
            name,
            ns,
            created,
            generate_name=generate_name,
            labels=labels if labels is not None else owner.labels,
            annotations=owner.annotations,
            owners=owner.refs,
            finalizers=owner.finalizers if state in ("Running", "Creating") else None,
        )
        if state == "Terminating":
            meta["deletionTimestamp"] = _ts(NOW - rng.randrange(1, 25))
            meta["deletionGracePeriodSeconds"] = spec["terminationGracePeriodSeconds"]
            meta["resourceVersion"] = self.next_rv()
        obj = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": spec,
            "status": self._status(shape, node, state, created, token),
        }
        self.pods.append(obj)
        return obj

    def _unschedulable_message(self, shape: _Shape) -> str:
        """The scheduler's FailedScheduling text: its pool is full, other nodes don't match."""
        n, k = self.n_nodes, len(self.pools.get(shape.pool, ()))
        short = next((r for r in shape.demand if "/" in r), "cpu")  # a GPU resource if any
        fit = f"{k} Insufficient {short}"
        victims = f"{k} No preemption victims found for incoming pod"
        if n > k:
            fit += f", {n - k} node(s) didn't match Pod's node affinity/selector"
            victims += f", {n - k} Preemption is not helpful for scheduling"
        return (
            f"0/{n} nodes are available: {fit}. preemption: 0/{n} nodes are available: {victims}."
        )

    @staticmethod
    def _with_mount(c: _Ctr, tok_mount: Obj) -> Obj:
        d = dict(c.spec)
        d["volumeMounts"] = [*c.mounts, tok_mount]
        return d

    def _status(
        self, shape: _Shape, node: _Node | None, state: str, created: int, token: str
    ) -> Obj:
        rng = self.rng
        if node is None:
            return {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": _ts(created),
                        "reason": "Unschedulable",
                        "message": self._unschedulable_message(shape),
                    }
                ],
                "qosClass": shape.qos,
            }
        # Nothing happens after NOW: a pod created moments ago is still starting.
        t_sched = min(created + rng.between(0, 2), NOW)
        t_start = min(t_sched + rng.between(1, 3), NOW)
        t_init = min(t_start + rng.between(2, 20), NOW)
        t_run = min(t_init + rng.between(1, 15), NOW)
        t_ready = min(t_run + rng.between(3, 40), NOW)
        t_end = min(t_run + rng.between(30, 3000), NOW)
        s_sched, s_start, s_init, s_run, s_ready = (
            _ts(t) for t in (t_sched, t_start, t_init, t_run, t_ready)
        )
        tok_status = {
            "name": token,
            "mountPath": _SA_PATH,
            "readOnly": True,
            "recursiveReadOnly": "Disabled",
        }
        host_ip = node.ip
        if shape.host_network:
            pod_ip = host_ip
        else:
            self.pod_ip += 1
            pod_ip = f"10.{64 + (self.pod_ip >> 16)}.{(self.pod_ip >> 8) & 255}.{self.pod_ip & 255}"
        done = state in ("Succeeded", "Failed", "Evicted")
        ready = state in ("Running", "Restarted", "Terminating")

        def cond(kind: str, ok: bool, t: str, reason: str = "") -> Obj:
            c: Obj = {
                "type": kind,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": t,
            }
            if reason:
                c["reason"] = reason
            return c

        if state == "Creating":
            conds = [
                cond("PodReadyToStartContainers", False, s_start),
                cond(
                    "Initialized",
                    not shape.init,
                    s_start,
                    "" if not shape.init else "ContainersNotInitialized",
                ),
                cond("Ready", False, s_start, "ContainersNotReady"),
                cond("ContainersReady", False, s_start, "ContainersNotReady"),
                cond("PodScheduled", True, s_sched),
            ]
        elif done:
            reason = "PodCompleted" if state == "Succeeded" else "PodFailed"
            conds = [
                cond("PodReadyToStartContainers", False, _ts(t_end)),
                cond("Initialized", True, s_init, reason if state == "Succeeded" else ""),
                cond("Ready", False, _ts(t_end), reason),
                cond("ContainersReady", False, _ts(t_end), reason),
                cond("PodScheduled", True, s_sched),
            ]
        else:
            conds = [
                cond("PodReadyToStartContainers", True, s_init),
                cond("Initialized", True, s_init),
                cond("Ready", ready, s_ready, "" if ready else "ContainersNotReady"),
                cond("ContainersReady", ready, s_ready, "" if ready else "ContainersNotReady"),
                cond("PodScheduled", True, s_sched),
            ]

        running = {"running": {"startedAt": s_run}}
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        final: Obj
        if state == "Succeeded":
            final = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": s_run,
                    "finishedAt": _ts(t_end),
                }
            }
        elif state in ("Failed", "Evicted"):
            final = {
                "terminated": {
                    "exitCode": 137 if state == "Evicted" else 1,
                    "reason": "Error",
                    "startedAt": s_run,
                    "finishedAt": _ts(t_end),
                }
            }
        else:
            final = running

        def cstatus(
            c: _Ctr,
            st: Obj,
            is_ready: bool,
            started: bool,
            restarts: int = 0,
            last: Obj | None = None,
            cid: bool = True,
        ) -> Obj:
            d: Obj = {
                "name": c.name,
                "state": st,
                "lastState": last or {},
                "ready": is_ready,
                "restartCount": restarts,
                "image": c.image,
                "imageID": c.image_id if cid else "",
            }
            if cid:
                d["containerID"] = "containerd://" + rng.hexstr(256)
            d["started"] = started
            if c.requests:
                d["allocatedResources"] = c.requests
            d["resources"] = c.resources
            if cid:
                d["volumeMounts"] = [*c.status_mounts, tok_status]
            return d

        status: Obj = {"phase": "Running"}
        status["conditions"] = conds
        if state == "Evicted":
            status["message"] = (
                "The node was low on resource: memory. Threshold quantity: 100Mi, "
                "available: 91872Ki. "
            )
            status["reason"] = "Evicted"
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
        if state != "Creating" and state != "Evicted":
            status["podIP"] = pod_ip
            status["podIPs"] = [{"ip": pod_ip}]
        status["startTime"] = s_start
        if shape.init:
            inits = []
            for c in shape.init:
                if state == "Creating":
                    inits.append(
                        cstatus(
                            c, {"waiting": {"reason": "PodInitializing"}}, False, False, cid=False
                        )
                    )
                elif c.sidecar:
                    inits.append(
                        cstatus(
                            c,
                            final if done else {"running": {"startedAt": s_start}},
                            not done,
                            not done,
                        )
                    )
                else:
                    inits.append(
                        cstatus(
                            c,
                            {
                                "terminated": {
                                    "exitCode": 0,
                                    "reason": "Completed",
                                    "startedAt": s_start,
                                    "finishedAt": s_init,
                                }
                            },
                            True,
                            False,
                        )
                    )
            status["initContainerStatuses"] = inits
        css = []
        for i, c in enumerate(shape.containers):
            if state == "Creating":
                css.append(cstatus(c, waiting, False, False, cid=False))
            elif state == "Restarted" and i == 0:
                last = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "OOMKilled" if rng.random() < 0.5 else "Error",
                        "startedAt": s_init,
                        "finishedAt": s_run,
                        "containerID": "containerd://" + rng.hexstr(256),
                    }
                }
                css.append(cstatus(c, running, True, True, rng.randint(1, 9), last))
            elif state == "NotReady" and i == 0:
                css.append(cstatus(c, running, False, True))
            else:
                css.append(cstatus(c, final, not done, not done))
        status["containerStatuses"] = css
        status["qosClass"] = shape.qos
        if state == "Creating":
            status["phase"] = "Pending"
        elif done:
            status["phase"] = "Succeeded" if state == "Succeeded" else "Failed"
        return status

    # -- workload templates --------------------------------------------------------------------

    def app_shape(
        self,
        ns: _Ns,
        app: str,
        kind: str,
        *,
        pool: str = "general",
        gpu: dict[str, Q] | None = None,
        extra_labels: Obj | None = None,
    ) -> _Shape:
        """A typical service container, with istio or a log sidecar, a migration init step."""
        rng = self.rng
        lang, cmd, args = rng.choice(_LANGS)
        registry = _ECR if rng.random() < 0.5 else "ghcr.io/example-corp"
        image = (f"{registry}/{ns.team}/{app}", f"v1.{rng.randrange(60)}.{rng.randrange(20)}")
        version = image[1].lstrip("v")
        cpu_m = rng.choice(_CPU_REQ)
        decimal = rng.random() < 0.15
        mem_b = rng.choice(_MEM_REQ_DECIMAL if decimal else _MEM_REQ)
        vpa = rng.random() < 0.1
        if vpa:  # VPA writes odd values back: "587m", "272061154"
            cpu_m = rng.randint(11, 1200)
            mem_b = rng.randint(90 * MI, 3 * GI)
            decimal = False
        requests = {"cpu": cpu(cpu_m), "memory": mem(mem_b, decimal)}
        x = rng.random()
        if x < 0.15:
            limits: dict[str, Q] = dict(requests)  # Guaranteed
        elif x < 0.75:
            limits = {"memory": mem(mem_b * 2 if mem_b < 2 * GI else mem_b, decimal)}
        else:
            limits = {"cpu": cpu(cpu_m * 4), "memory": mem(mem_b * 2, decimal)}
        if rng.random() < 0.05:
            requests["ephemeral-storage"] = mem(GI)
            limits["ephemeral-storage"] = mem(2 * GI)
        if gpu:
            requests.update(gpu)
            limits.update(gpu)
        env = _env(
            ("APP_ENV", "production"),
            ("LOG_LEVEL", rng.choice(["info", "warn", "debug"])),
            ("PORT", "8080"),
            ("POD_NAME", ("field", "metadata.name")),
            ("POD_NAMESPACE", ("field", "metadata.namespace")),
            ("DATABASE_PASSWORD", ("secret", f"{app}-db", "password")),
            ("LOG_FORMAT", "json"),
            ("OTEL_SERVICE_NAME", app),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.observability:4317"),
            ("NODE_NAME", ("field", "spec.nodeName")),
            ("FEATURE_FLAGS", ("config", f"{app}-config", "flags")),
        )[: rng.choice([3, 5, 8, 11])]
        irsa = rng.random() < 0.3  # the EKS pod-identity webhook adds these to the pod
        if irsa:
            env += _env(
                ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
                ("AWS_DEFAULT_REGION", REGION),
                ("AWS_REGION", REGION),
                ("AWS_ROLE_ARN", f"arn:aws:iam::123456789012:role/{app}"),
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
                ),
            )
        if lang == "java":
            env.append({"name": "JAVA_TOOL_OPTIONS", "value": "-XX:+UseG1GC -Dfile.encoding=UTF-8"})
        if lang == "go":
            env.append(
                {
                    "name": "GOMAXPROCS",
                    "valueFrom": {
                        "resourceFieldRef": {
                            "containerName": app,
                            "resource": "limits.cpu",
                            "divisor": "0",
                        }
                    },
                }
            )
        mounts = [("config", "/etc/app", True), ("tmp", "/tmp", False)][: rng.choice([0, 1, 2, 2])]
        volumes: list[Obj] = []
        if irsa:
            mounts.append(
                ("aws-iam-token", "/var/run/secrets/eks.amazonaws.com/serviceaccount", True)
            )
            volumes.append(
                {
                    "name": "aws-iam-token",
                    "projected": {
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "audience": "sts.amazonaws.com",
                                    "expirationSeconds": 86400,
                                    "path": "token",
                                }
                            }
                        ],
                        "defaultMode": 420,
                    },
                }
            )
        volumes += [
            {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
            {"name": "tmp", "emptyDir": {}},
        ][: len(mounts)]
        if rng.random() < 0.4:
            mounts.append(("tls", "/etc/tls", True))
            volumes.append(
                {"name": "tls", "secret": {"secretName": f"{app}-tls", "defaultMode": 420}}
            )
        if gpu:
            mounts.append(("dshm", "/dev/shm", False))
            volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}})
        # Not every team writes probes, a hardened securityContext or an explicit command.
        probes = rng.random()
        hardened = rng.random() < 0.5
        main = _container(
            app,
            image,
            command=[c.format(app=app) for c in cmd] if rng.random() < 0.6 else None,
            args=[a.format(app=app) for a in args] if rng.random() < 0.6 else None,
            ports=[("http", 8080), ("metrics", 9090)] if rng.random() < 0.5 else [("http", 8080)],
            env=env,
            requests=requests,
            limits=limits,
            mounts=mounts,
            liveness=_http_probe("/healthz", "http", 10, 10) if probes < 0.6 else None,
            readiness=_http_probe("/ready", "http", 0, 5) if probes < 0.8 else None,
            security={
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
            }
            if hardened
            else None,
        )
        containers = [main]
        init: list[_Ctr] = []
        if rng.random() < 0.08 and kind != "Job":
            init.append(
                _container(
                    "migrate",
                    image,
                    command=["/app/migrate"],
                    args=["up"],
                    env=env[:6],
                    requests={"cpu": cpu(100), "memory": mib(128)},
                    limits={"memory": mib(256)},
                    mounts=mounts[:1],
                )
            )
        istio = ns.istio and kind in ("Deployment", "StatefulSet") and not gpu
        labels: Obj = {"app.kubernetes.io/instance": app, "app.kubernetes.io/name": app}
        if rng.random() < 0.5:
            labels["app.kubernetes.io/part-of"] = ns.product
            labels["app.kubernetes.io/version"] = version
        if rng.random() < 0.7:
            labels["team"] = ns.team
            labels["product"] = ns.product
            if ns.customer:
                labels["customer"] = ns.customer
        annotations: Obj = (
            {
                "prometheus.io/path": "/metrics",
                "prometheus.io/port": "9090",
                "prometheus.io/scrape": "true",
            }
            if rng.random() < 0.5
            else {}
        )
        if rng.random() < 0.3:
            annotations["kubectl.kubernetes.io/restartedAt"] = _ts(NOW - rng.randrange(90 * 86400))
        if vpa:
            annotations["vpaObservedContainers"] = app
            annotations["vpaUpdates"] = (
                f"Pod resources updated by {app}-vpa: container 0: cpu request, memory request"
            )
        if istio:
            init += self._istio(app, ns)
            labels.update(
                {
                    "security.istio.io/tlsMode": "istio",
                    "service.istio.io/canonical-name": app,
                    "service.istio.io/canonical-revision": version,
                }
            )
            annotations.update(
                {
                    "istio.io/rev": "default",
                    "kubectl.kubernetes.io/default-container": app,
                    "kubectl.kubernetes.io/default-logs-container": app,
                    "prometheus.io/path": "/stats/prometheus",
                    "prometheus.io/port": "15020",
                    "sidecar.istio.io/status": _ISTIO_STATUS,
                }
            )
            volumes += _ISTIO_VOLUMES
        elif rng.random() < 0.08:
            init.append(
                _container(
                    "log-shipper",
                    ("cr.fluentbit.io/fluent/fluent-bit", "3.2.10"),
                    args=["--config=/fluent-bit/etc/fluent-bit.yaml"],
                    env=_env(("FLUENT_ELASTICSEARCH_HOST", "logs.observability"), ("APP", app)),
                    requests={"cpu": cpu(50), "memory": mib(64)},
                    limits={"memory": mib(128)},
                    mounts=[("tmp", "/var/log/app", True)],
                    sidecar=True,
                )
            )
        tolerations: list[Obj] = _DEFAULT_TOLERATIONS
        node_selector: Obj | None = None
        affinity = None
        spread = None
        if gpu:
            tolerations = [_GPU_TOLERATION, *_DEFAULT_TOLERATIONS]
            p = _pool(pool)
            model = INSTANCES[p.instances[0]].gpu_model
            node_selector = (
                {"karpenter.sh/nodepool": pool}
                if p.karpenter
                else {"eks.amazonaws.com/nodegroup": f"{pool}-ng"}
            )
            node_selector["nvidia.com/gpu.family"] = GPU_MODELS[model][2]
        elif kind == "Deployment" and rng.random() < 0.3:
            sel = {
                "matchLabels": {"app.kubernetes.io/instance": app, "app.kubernetes.io/name": app}
            }
            if rng.random() < 0.5:
                affinity = {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": sel,
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    }
                }
            else:
                spread = [
                    {
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": sel,
                    }
                ]
        labels.update(extra_labels or {})
        return _shape(
            pool,
            dict(sorted(labels.items())),
            dict(sorted(annotations.items())),
            volumes,
            init,
            containers,
            restart="Never" if kind == "Job" else "Always",
            grace=30 if not gpu else 120,
            node_selector=node_selector,
            sa=app,
            security={
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            }
            if hardened
            else None,
            affinity=affinity,
            tolerations=tolerations,
            spread=spread,
            hostname_subdomain=app if kind == "StatefulSet" else "",
        )

    def _istio(self, app: str, ns: _Ns) -> list[_Ctr]:
        img = ("docker.io/istio/proxyv2", "1.25.2")
        env = _env(
            ("PILOT_CERT_PROVIDER", "istiod"),
            ("CA_ADDR", "istiod.istio-system.svc:15012"),
            ("POD_NAME", ("field", "metadata.name")),
            ("POD_NAMESPACE", ("field", "metadata.namespace")),
            ("INSTANCE_IP", ("field", "status.podIP")),
            ("SERVICE_ACCOUNT", ("field", "spec.serviceAccountName")),
            ("HOST_IP", ("field", "status.hostIP")),
            ("ISTIO_CPU_LIMIT", ("resource", "limits.cpu")),
            ("PROXY_CONFIG", "{}\n"),
            (
                "ISTIO_META_POD_PORTS",
                '[\n    {"name":"http","containerPort":8080,"protocol":"TCP"}\n]',
            ),
            ("ISTIO_META_APP_CONTAINERS", app),
            ("GOMEMLIMIT", ("resource", "limits.memory")),
            ("GOMAXPROCS", ("resource", "limits.cpu")),
            ("ISTIO_META_CLUSTER_ID", "Kubernetes"),
            ("ISTIO_META_NODE_NAME", ("field", "spec.nodeName")),
            ("ISTIO_META_INTERCEPTION_MODE", "REDIRECT"),
            ("ISTIO_META_WORKLOAD_NAME", app),
            (
                "ISTIO_META_OWNER",
                f"kubernetes://apis/apps/v1/namespaces/{ns.name}/deployments/{app}",
            ),
            ("ISTIO_META_MESH_ID", "cluster.local"),
            ("TRUST_DOMAIN", "cluster.local"),
        )
        limits = {"cpu": cpu(2000), "memory": mib(1024)}
        requests = {"cpu": cpu(100), "memory": mib(128)}
        init = _container(
            "istio-init",
            img,
            args=[
                "istio-iptables",
                "-p",
                "15001",
                "-z",
                "15006",
                "-u",
                "1337",
                "-m",
                "REDIRECT",
                "-i",
                "*",
                "-x",
                "",
                "-b",
                "*",
                "-d",
                "15090,15021,15020",
                "--log_output_level=default:info",
            ],
            requests=requests,
            limits=limits,
            security={
                "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                "runAsUser": 0,
                "runAsGroup": 0,
                "runAsNonRoot": False,
            },
        )
        proxy = _container(
            "istio-proxy",
            img,
            args=[
                "proxy",
                "sidecar",
                "--domain",
                f"{ns.name}.svc.cluster.local",
                "--proxyLogLevel=warning",
                "--proxyComponentLogLevel=misc:error",
                "--log_output_level=default:info",
            ],
            ports=[("http-envoy-prom", 15090)],
            env=env,
            requests=requests,
            limits=limits,
            mounts=[
                ("workload-socket", "/var/run/secrets/workload-spiffe-uds", False),
                ("credential-socket", "/var/run/secrets/credential-uds", False),
                ("workload-certs", "/var/run/secrets/workload-spiffe-credentials", False),
                ("istiod-ca-cert", "/var/run/secrets/istio", False),
                ("istio-data", "/var/lib/istio/data", False),
                ("istio-envoy", "/etc/istio/proxy", False),
                ("istio-token", "/var/run/secrets/tokens", False),
                ("istio-podinfo", "/etc/istio/pod", False),
            ],
            readiness=_http_probe("/healthz/ready", 15021, 0, 15, 4),
            startup=_http_probe("/healthz/ready", 15021, 0, 1, 600),
            sidecar=True,
            security={
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "runAsGroup": 1337,
                "runAsNonRoot": True,
                "runAsUser": 1337,
            },
        )
        return [init, proxy]

    # -- workloads -----------------------------------------------------------------------------

    def created_between(self, lo_days: float, hi_days: float) -> int:
        return NOW - self.rng.randrange(int(lo_days * 86400), int(hi_days * 86400) + 1)

    def _selector(self, shape: _Shape) -> Obj:
        keys = ("app.kubernetes.io/instance", "app.kubernetes.io/name")
        return {"matchLabels": {k: shape.labels[k] for k in keys if k in shape.labels}}

    def _template(self, labels: Obj, shape: _Shape) -> Obj:
        meta: Obj = {"labels": labels}
        if shape.annotations:
            meta["annotations"] = shape.annotations
        return {"metadata": meta, "spec": shape.template_spec}

    def _workload(
        self, kind: str, ns: str, name: str, created: int, labels: Obj, spec: Obj, status: Obj
    ) -> Obj:
        api = API[kind][0]
        obj = {
            "kind": kind,
            "apiVersion": api,
            "metadata": self.meta(
                name, ns, created, labels=labels, generation=self.rng.randint(1, 30)
            ),
            "spec": spec,
            "status": status,
        }
        self.workloads.append(obj)
        return obj

    def deployment(self, ns: _Ns, app: str, replicas: int, shape: _Shape) -> None:
        rng = self.rng
        created = self.created_between(30, 400)
        selector = self._selector(shape)
        dep = self._workload(
            "Deployment",
            ns.name,
            app,
            created,
            shape.labels,
            {
                "replicas": replicas,
                "selector": selector,
                "template": self._template(shape.labels, shape),
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            {
                "observedGeneration": 1,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
            },
        )
        dep_ref = self.ref("apps/v1", "Deployment", dep["metadata"])
        revision = rng.randint(1, 40)
        old = min(rng.choice([0, 1, 2, 3, 4, 6, 9]), revision - 1)
        for r in range(revision - old, revision + 1):
            current = r == revision
            rs_created = (
                NOW - rng.randrange(3600, 20 * 86400) if current else self.created_between(20, 30)
            )
            pth = rng.suffix(10)
            labels = dict(shape.labels)
            labels["pod-template-hash"] = pth
            labels = dict(sorted(labels.items()))
            sel = {"matchLabels": {**selector["matchLabels"], "pod-template-hash": pth}}
            n = replicas if current else 0
            rs_name = f"{app}-{pth}"
            rs_meta = self.meta(
                rs_name,
                ns.name,
                rs_created,
                labels=labels,
                annotations={
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + (replicas + 3) // 4),
                    "deployment.kubernetes.io/revision": str(r),
                },
                owners=dep_ref,
                generation=rng.randint(1, 4),
            )
            rs = {
                "kind": "ReplicaSet",
                "apiVersion": "apps/v1",
                "metadata": rs_meta,
                "spec": {"replicas": n, "selector": sel, "template": self._template(labels, shape)},
                "status": {
                    "replicas": n,
                    "fullyLabeledReplicas": n,
                    "readyReplicas": n,
                    "availableReplicas": n,
                    "observedGeneration": rs_meta["generation"],
                }
                if n
                else {"replicas": 0, "observedGeneration": rs_meta["generation"]},
            }
            self.replicasets.append(rs)
            if not current:
                continue
            owner = _Owner(self.ref("apps/v1", "ReplicaSet", rs_meta), labels, shape.annotations)
            for _ in range(replicas):
                self.pod(
                    shape,
                    owner,
                    ns.name,
                    self.unique_name(ns.name, rs_name + "-"),
                    rs_name + "-",
                    rs_created + rng.between(0, 600),
                )
            if rng.random() < 0.03 and self.pod_budget > 0:  # an evicted leftover
                self.pod(
                    shape,
                    owner,
                    ns.name,
                    self.unique_name(ns.name, rs_name + "-"),
                    rs_name + "-",
                    rs_created + rng.randrange(600),
                    state="Evicted",
                )

    def statefulset(
        self, ns: _Ns, app: str, replicas: int, shape: _Shape, pvc: bool = True
    ) -> None:
        rng = self.rng
        created = self.created_between(30, 400)
        rev = f"{app}-{rng.suffix(10)}"
        sts = self._workload(
            "StatefulSet",
            ns.name,
            app,
            created,
            shape.labels,
            {
                "replicas": replicas,
                "selector": self._selector(shape),
                "template": self._template(shape.labels, shape),
                "serviceName": app,
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "persistentVolumeClaimRetentionPolicy": {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                },
            },
            {
                "observedGeneration": 1,
                "replicas": replicas,
                "readyReplicas": replicas,
                "currentReplicas": replicas,
                "updatedReplicas": replicas,
                "currentRevision": rev,
                "updateRevision": rev,
                "collisionCount": 0,
                "availableReplicas": replicas,
            },
        )
        refs = self.ref("apps/v1", "StatefulSet", sts["metadata"])
        for i in range(replicas):
            name = f"{app}-{i}"
            self.names.add((ns.name, name))
            labels = dict(
                sorted(
                    {
                        **shape.labels,
                        "apps.kubernetes.io/pod-index": str(i),
                        "controller-revision-hash": rev,
                        "statefulset.kubernetes.io/pod-name": name,
                    }.items()
                )
            )
            vol = (
                {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{name}"}}
                if pvc
                else None
            )
            self.pod(
                shape,
                _Owner(refs, labels, shape.annotations),
                ns.name,
                name,
                app + "-",
                created + i * 40 + rng.randrange(40),
                labels=labels,
                extra_volume=vol,
            )

    def cronjob(self, ns: _Ns, app: str, shape: _Shape, parallelism: int = 1) -> None:
        rng = self.rng
        every = rng.choice([5, 10, 15, 30, 60, 360, 1440])
        schedule = {
            5: "*/5 * * * *",
            10: "*/10 * * * *",
            15: "*/15 * * * *",
            30: "*/30 * * * *",
            60: "0 * * * *",
            360: "0 */6 * * *",
            1440: "30 2 * * *",
        }[every]
        created = self.created_between(30, 300)
        last = (NOW // 60 // every) * every * 60
        cj = self._workload(
            "CronJob",
            ns.name,
            app,
            created,
            shape.labels,
            {
                "schedule": schedule,
                "concurrencyPolicy": "Forbid",
                "suspend": False,
                "jobTemplate": {
                    "metadata": {},
                    "spec": {"backoffLimit": 2, "template": self._template(shape.labels, shape)},
                },
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
            },
            {"lastScheduleTime": _ts(last), "lastSuccessfulTime": _ts(last - every * 60 + 40)},
        )
        refs = self.ref("batch/v1", "CronJob", cj["metadata"])
        runs = 4 if rng.random() < 0.5 else 3
        for k in range(runs):
            start = last - (runs - 1 - k) * every * 60
            running = k == runs - 1 and rng.random() < 0.5
            if self.pod_budget <= 0:
                return
            self.job(
                ns,
                f"{app}-{start // 60}",
                shape,
                parallelism,
                start,
                refs,
                running,
                scheduled=_ts(start),
            )

    def job(
        self,
        ns: _Ns,
        name: str,
        shape: _Shape,
        parallelism: int,
        start: int,
        owner_refs: list[Obj] | None,
        running: bool,
        scheduled: str = "",
        failed: bool = False,
    ) -> None:
        rng = self.rng
        uid = self.rng.uid()
        ctl = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        labels = dict(sorted({**shape.labels, **ctl}.items()))
        ann: Obj = {"batch.kubernetes.io/job-tracking": ""}
        if scheduled:
            ann["batch.kubernetes.io/cronjob-scheduled-timestamp"] = scheduled
        meta = self.meta(
            name,
            ns.name,
            start,
            labels=labels,
            annotations=dict(sorted(ann.items())),
            owners=owner_refs,
            generation=1,
        )
        meta["uid"] = uid
        end = min(start + rng.randint(20, 1800), NOW - 1)
        if running:
            status: Obj = {
                "startTime": _ts(start),
                "active": parallelism,
                "terminating": 0,
                "uncountedTerminatedPods": {},
                "ready": parallelism,
            }
        elif failed:
            status = {
                "conditions": [
                    {
                        "type": "FailureTarget",
                        "status": "True",
                        "lastProbeTime": _ts(end),
                        "lastTransitionTime": _ts(end),
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    },
                    {
                        "type": "Failed",
                        "status": "True",
                        "lastProbeTime": _ts(end),
                        "lastTransitionTime": _ts(end),
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    },
                ],
                "startTime": _ts(start),
                "failed": parallelism,
                "terminating": 0,
                "uncountedTerminatedPods": {},
                "ready": 0,
            }
        else:
            status = {
                "conditions": [
                    {
                        "type": "SuccessCriteriaMet",
                        "status": "True",
                        "lastProbeTime": _ts(end),
                        "lastTransitionTime": _ts(end),
                        "reason": "CompletionsReached",
                        "message": "Reached expected number of succeeded pods",
                    },
                    {
                        "type": "Complete",
                        "status": "True",
                        "lastProbeTime": _ts(end),
                        "lastTransitionTime": _ts(end),
                        "reason": "CompletionsReached",
                        "message": "Reached expected number of succeeded pods",
                    },
                ],
                "startTime": _ts(start),
                "completionTime": _ts(end),
                "succeeded": parallelism,
                "terminating": 0,
                "uncountedTerminatedPods": {},
                "ready": 0,
            }
        self.jobs.append(
            {
                "kind": "Job",
                "apiVersion": "batch/v1",
                "metadata": meta,
                "spec": {
                    "parallelism": parallelism,
                    "completions": parallelism,
                    "backoffLimit": 2,
                    "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                    "manualSelector": False,
                    "template": self._template(labels, shape),
                    "completionMode": "NonIndexed",
                    "suspend": False,
                    "podReplacementPolicy": "TerminatingOrFailed",
                },
                "status": status,
            }
        )
        owner = _Owner(
            self.ref("batch/v1", "Job", meta), labels, None, ["batch.kubernetes.io/job-tracking"]
        )
        state = "" if running else ("Failed" if failed else "Succeeded")
        for _ in range(parallelism):
            self.pod(
                shape,
                owner,
                ns.name,
                self.unique_name(ns.name, name + "-"),
                name + "-",
                start + rng.randint(0, 3),
                state=state,
            )

    def daemonset(self, ds: _DsSpec) -> None:
        rng = self.rng
        pools = [p for p in self.pools if p.startswith(ds.scope)]
        nodes = [n for p in pools for n in self.pools[p]]
        if len(nodes) > self.pod_budget:
            return
        shape = ds.shape
        created = self.created_between(100, 500)
        rev = rng.suffix(10)
        obj = self._workload(
            "DaemonSet",
            ds.namespace,
            ds.name,
            created,
            ds.labels,
            {
                "selector": {"matchLabels": {"app.kubernetes.io/name": ds.name}},
                "template": self._template(ds.labels, shape),
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0},
                },
                "revisionHistoryLimit": 10,
            },
            {
                "currentNumberScheduled": len(nodes),
                "numberMisscheduled": 0,
                "desiredNumberScheduled": len(nodes),
                "numberReady": len(nodes),
                "observedGeneration": 1,
                "updatedNumberScheduled": len(nodes),
                "numberAvailable": len(nodes),
            },
        )
        labels = dict(
            sorted(
                {
                    **ds.labels,
                    "controller-revision-hash": rev,
                    "pod-template-generation": "1",
                }.items()
            )
        )
        owner = _Owner(self.ref("apps/v1", "DaemonSet", obj["metadata"]), labels, shape.annotations)
        for node in nodes:
            self.pod(
                shape,
                owner,
                ds.namespace,
                self.unique_name(ds.namespace, ds.name + "-"),
                ds.name + "-",
                node.created + rng.randint(5, 60),
                node=node,
                state="Running",
            )


@dataclass
class _DsSpec:
    namespace: str
    name: str
    labels: Obj
    shape: _Shape
    scope: str  # the pools it runs in, by name prefix: "" for every pool


def _pool(name: str) -> Pool:
    return next(p for p in POOLS if p.name == name)


# The injector's record of what it added, as one JSON string annotation.
_ISTIO_STATUS = (
    '{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["workload-socket",'
    '"credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token",'
    '"istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}'
)
_ISTIO_VOLUMES = [
    {"name": "workload-socket", "emptyDir": {}},
    {"name": "credential-socket", "emptyDir": {}},
    {"name": "workload-certs", "emptyDir": {}},
    {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
    {"name": "istio-data", "emptyDir": {}},
    {
        "name": "istio-podinfo",
        "downwardAPI": {
            "items": [
                {
                    "path": "labels",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"},
                },
                {
                    "path": "annotations",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"},
                },
            ],
            "defaultMode": 420,
        },
    },
    {
        "name": "istio-token",
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": "istio-ca",
                        "expirationSeconds": 43200,
                        "path": "istio-token",
                    }
                }
            ],
            "defaultMode": 420,
        },
    },
    {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert", "defaultMode": 420}},
]


def _host_mounts(*pairs: tuple[str, str]) -> tuple[list[Obj], list[tuple[str, str, bool]]]:
    vols = [{"name": n, "hostPath": {"path": p, "type": ""}} for n, p in pairs]
    return vols, [(n, p, False) for n, p in pairs]


def _daemonsets() -> list[_DsSpec]:
    """The node agents of an EKS cluster with the GPU operator, one pod per node of their scope."""
    everywhere, gpu_only, mig_only = "", "gpu", "gpu-mig"
    ecr = "602401143452.dkr.ecr.us-east-1.amazonaws.com"
    out = []

    def ds(
        ns: str,
        name: str,
        containers: list[_Ctr],
        init: list[_Ctr],
        vols: list[Obj],
        scope: str,
        host_network: bool = True,
        priority: str = "system-node-critical",
    ) -> None:
        labels = {"app.kubernetes.io/instance": name, "app.kubernetes.io/name": name}
        shape = _shape(
            "",
            labels,
            None,
            vols,
            init,
            containers,
            host_network=host_network,
            priority_class=priority,
            priority=2000001000 if priority == "system-node-critical" else 2000000000,
            tolerations=_DS_TOLERATIONS if host_network else _DS_TOLERATIONS[:-1],
            pinned=True,
            sa=name,
            grace=30,
        )
        out.append(_DsSpec(ns, name, labels, shape, scope))

    cni_env = _env(
        ("ENABLE_IPv6", "false"),
        ("AWS_VPC_ENI_MTU", "9001"),
        ("AWS_VPC_K8S_CNI_EXTERNALSNAT", "false"),
        ("AWS_VPC_K8S_CNI_LOG_FILE", "/host/var/log/aws-routed-eni/ipamd.log"),
        ("AWS_VPC_K8S_CNI_RANDOMIZESNAT", "prng"),
        ("AWS_VPC_K8S_CNI_VETHPREFIX", "eni"),
        ("AWS_VPC_K8S_PLUGIN_LOG_FILE", "/var/log/aws-routed-eni/plugin.log"),
        ("CLUSTER_NAME", CLUSTER),
        ("ENABLE_PREFIX_DELEGATION", "false"),
        ("NETWORK_POLICY_ENFORCING_MODE", "standard"),
        ("VPC_CNI_VERSION", "v1.19.4"),
        ("WARM_ENI_TARGET", "1"),
        ("MY_NODE_NAME", ("field", "spec.nodeName")),
        ("MY_POD_NAME", ("field", "metadata.name")),
    )
    vols, mounts = _host_mounts(
        ("cni-bin-dir", "/opt/cni/bin"),
        ("cni-net-dir", "/etc/cni/net.d"),
        ("log-dir", "/var/log/aws-routed-eni"),
        ("run-dir", "/var/run/aws-node"),
        ("xtables-lock", "/run/xtables.lock"),
    )
    ds(
        "kube-system",
        "aws-node",
        [
            _container(
                "aws-node",
                (f"{ecr}/amazon-k8s-cni", "v1.19.4-eksbuild.1"),
                ports=[("metrics", 61678)],
                env=cni_env,
                requests={"cpu": cpu(25)},
                mounts=mounts,
                liveness=_status_probe(60),
                readiness=_status_probe(1),
                security={"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
            ),
            _container(
                "aws-eks-nodeagent",
                (f"{ecr}/amazon/aws-network-policy-agent", "v1.2.1-eksbuild.1"),
                args=[
                    "--enable-network-policy=false",
                    "--metrics-bind-addr=:8162",
                    "--health-probe-bind-addr=:8163",
                ],
                env=_env(("MY_NODE_NAME", ("field", "spec.nodeName"))),
                requests={"cpu": cpu(25)},
                mounts=mounts[2:4],
                security={"capabilities": {"add": ["NET_ADMIN"]}, "privileged": True},
            ),
        ],
        [
            _container(
                "aws-vpc-cni-init",
                (f"{ecr}/amazon-k8s-cni-init", "v1.19.4-eksbuild.1"),
                env=cni_env[:2],
                requests={"cpu": cpu(25)},
                mounts=mounts[:2],
                security={"privileged": True},
            )
        ],
        vols,
        everywhere,
    )
    kp_vols = [
        {"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
        {"name": "lib-modules", "hostPath": {"path": "/lib/modules", "type": ""}},
        {"name": "kubeconfig", "configMap": {"name": "kube-proxy", "defaultMode": 420}},
        {"name": "config", "configMap": {"name": "kube-proxy-config", "defaultMode": 420}},
    ]
    ds(
        "kube-system",
        "kube-proxy",
        [
            _container(
                "kube-proxy",
                (f"{ecr}/eks/kube-proxy", "v1.33.0-minimal-eksbuild.2"),
                command=[
                    "kube-proxy",
                    "--v=2",
                    "--config=/var/lib/kube-proxy-config/config",
                    "--hostname-override=$(NODE_NAME)",
                ],
                env=_env(("NODE_NAME", ("field", "spec.nodeName"))),
                requests={"cpu": cpu(100)},
                mounts=[
                    ("varlog", "/var/log", False),
                    ("xtables-lock", "/run/xtables.lock", False),
                    ("lib-modules", "/lib/modules", True),
                    ("kubeconfig", "/var/lib/kube-proxy/", False),
                    ("config", "/var/lib/kube-proxy-config/", False),
                ],
                security={"privileged": True},
            ),
        ],
        [],
        kp_vols,
        everywhere,
    )
    csi_vols, csi_mounts = _host_mounts(
        ("kubelet-dir", "/var/lib/kubelet"),
        ("plugin-dir", "/var/lib/kubelet/plugins/ebs.csi.aws.com/"),
        ("registration-dir", "/var/lib/kubelet/plugins_registry/"),
        ("device-dir", "/dev"),
    )
    small = {"cpu": cpu(10), "memory": mib(40)}
    ds(
        "kube-system",
        "ebs-csi-node",
        [
            _container(
                "ebs-plugin",
                (f"{ecr}/eks/aws-ebs-csi-driver", "v1.43.0"),
                args=["node", "--endpoint=$(CSI_ENDPOINT)", "--v=2"],
                ports=[("healthz", 9808)],
                env=_env(
                    ("CSI_ENDPOINT", "unix:/csi/csi.sock"),
                    ("CSI_NODE_NAME", ("field", "spec.nodeName")),
                ),
                requests=small,
                limits={"memory": mib(256)},
                mounts=csi_mounts,
                liveness=_http_probe("/healthz", "healthz", 10, 10, 5),
                security={"privileged": True},
            ),
            _container(
                "node-driver-registrar",
                (f"{ecr}/eks/csi-node-driver-registrar", "v2.13.0-eks-1-33-4"),
                args=[
                    "--csi-address=$(ADDRESS)",
                    "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)",
                    "--v=2",
                ],
                env=_env(
                    ("ADDRESS", "/csi/csi.sock"),
                    ("DRIVER_REG_SOCK_PATH", "/var/lib/kubelet/plugins/ebs.csi.aws.com/csi.sock"),
                ),
                requests=small,
                limits={"memory": mib(256)},
                mounts=csi_mounts[1:3],
            ),
            _container(
                "liveness-probe",
                (f"{ecr}/eks/livenessprobe", "v2.15.0-eks-1-33-4"),
                args=["--csi-address=/csi/csi.sock"],
                requests=small,
                limits={"memory": mib(256)},
                mounts=csi_mounts[1:2],
            ),
        ],
        [],
        csi_vols,
        everywhere,
        host_network=False,
    )
    ne_vols, ne_mounts = _host_mounts(("proc", "/proc"), ("sys", "/sys"), ("root", "/"))
    ds(
        "monitoring",
        "node-exporter",
        [
            _container(
                "node-exporter",
                ("quay.io/prometheus/node-exporter", "v1.9.1"),
                args=[
                    "--path.procfs=/host/proc",
                    "--path.sysfs=/host/sys",
                    "--path.rootfs=/host/root",
                    "--path.udev.data=/host/root/run/udev/data",
                    "--web.listen-address=[$(HOST_IP)]:9100",
                    "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|var/lib/docker/.+|"
                    "var/lib/kubelet/.+)($|/)",
                ],
                ports=[("http-metrics", 9100)],
                env=_env(("HOST_IP", "0.0.0.0")),
                requests={"cpu": cpu(50), "memory": mib(64)},
                limits={"cpu": cpu(250), "memory": mib(180)},
                mounts=[(n, "/host/" + n, True) for n, _, _ in ne_mounts],
                liveness=_http_probe("/", 9100),
                readiness=_http_probe("/", 9100),
                security={"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
            ),
        ],
        [],
        ne_vols,
        everywhere,
        priority="system-node-critical",
    )
    fb_vols, fb_mounts = _host_mounts(
        ("varlog", "/var/log"),
        ("varlibcontainers", "/var/lib/containerd"),
        ("etcmachineid", "/etc/machine-id"),
    )
    ds(
        "logging",
        "fluent-bit",
        [
            _container(
                "fluent-bit",
                ("cr.fluentbit.io/fluent/fluent-bit", "3.2.10"),
                command=["/fluent-bit/bin/fluent-bit"],
                args=["--workdir=/fluent-bit/etc", "--config=/fluent-bit/etc/conf/fluent-bit.conf"],
                ports=[("http", 2020)],
                env=_env(
                    ("NODE_NAME", ("field", "spec.nodeName")),
                    ("AWS_REGION", REGION),
                    ("CLUSTER_NAME", CLUSTER),
                ),
                requests={"cpu": cpu(100), "memory": mib(128)},
                limits={"memory": mib(512)},
                mounts=[*fb_mounts, ("config", "/fluent-bit/etc/conf", False)],
                liveness=_http_probe("/", "http"),
                readiness=_http_probe("/api/v1/health", "http"),
            ),
        ],
        [],
        [*fb_vols, {"name": "config", "configMap": {"name": "fluent-bit", "defaultMode": 420}}],
        everywhere,
        host_network=False,
        priority="system-node-critical",
    )
    dp_vols, dp_mounts = _host_mounts(
        ("device-plugin", "/var/lib/kubelet/device-plugins"),
        ("run-nvidia", "/run/nvidia"),
        ("host-root", "/"),
    )
    ds(
        "gpu-operator",
        "nvidia-device-plugin-daemonset",
        [
            _container(
                "nvidia-device-plugin",
                ("nvcr.io/nvidia/k8s-device-plugin", "v0.17.1"),
                command=["/bin/bash", "-c"],
                args=["/bin/entrypoint.sh"],
                env=_env(
                    ("PASS_DEVICE_SPECS", "true"),
                    ("FAIL_ON_INIT_ERROR", "true"),
                    ("DEVICE_LIST_STRATEGY", "envvar"),
                    ("DEVICE_ID_STRATEGY", "uuid"),
                    ("NVIDIA_VISIBLE_DEVICES", "all"),
                    ("NVIDIA_DRIVER_CAPABILITIES", "all"),
                    ("MIG_STRATEGY", "mixed"),
                    ("NVIDIA_MIG_MONITOR_DEVICES", "all"),
                    ("CONFIG_FILE", "/config/config.yaml"),
                    ("NODE_NAME", ("field", "spec.nodeName")),
                ),
                mounts=dp_mounts,
                security={"privileged": True},
            ),
        ],
        [],
        dp_vols,
        gpu_only,
        host_network=False,
    )
    ds(
        "gpu-operator",
        "gpu-feature-discovery",
        [
            _container(
                "gpu-feature-discovery",
                ("nvcr.io/nvidia/k8s-device-plugin", "v0.17.1"),
                command=["gpu-feature-discovery"],
                env=_env(
                    ("GFD_SLEEP_INTERVAL", "60s"),
                    ("GFD_FAIL_ON_INIT_ERROR", "true"),
                    ("MIG_STRATEGY", "mixed"),
                    ("NVIDIA_MIG_MONITOR_DEVICES", "all"),
                    ("NODE_NAME", ("field", "spec.nodeName")),
                ),
                mounts=[
                    ("output-dir", "/etc/kubernetes/node-feature-discovery/features.d", False),
                    ("host-sys", "/sys", False),
                ],
                security={"privileged": True},
            ),
        ],
        [],
        _host_mounts(
            ("output-dir", "/etc/kubernetes/node-feature-discovery/features.d"),
            ("host-sys", "/sys"),
        )[0],
        gpu_only,
        host_network=False,
    )
    ds(
        "gpu-operator",
        "nvidia-dcgm-exporter",
        [
            _container(
                "nvidia-dcgm-exporter",
                ("nvcr.io/nvidia/k8s/dcgm-exporter", "4.1.1-4.0.4-ubuntu22.04"),
                ports=[("metrics", 9400)],
                env=_env(
                    ("DCGM_EXPORTER_LISTEN", ":9400"),
                    ("DCGM_EXPORTER_KUBERNETES", "true"),
                    ("DCGM_EXPORTER_COLLECTORS", "/etc/dcgm-exporter/dcp-metrics-included.csv"),
                    ("NODE_NAME", ("field", "spec.nodeName")),
                ),
                requests={"cpu": cpu(100), "memory": mib(512)},
                limits={"memory": mib(1024)},
                mounts=[("pod-gpu-resources", "/var/lib/kubelet/pod-resources", True)],
                liveness=_http_probe("/health", 9400, 45, 5),
                readiness=_http_probe("/health", 9400, 45),
                security={"privileged": True},
            ),
        ],
        [],
        _host_mounts(("pod-gpu-resources", "/var/lib/kubelet/pod-resources"))[0],
        gpu_only,
        host_network=False,
    )
    ds(
        "gpu-operator",
        "nvidia-mig-manager",
        [
            _container(
                "nvidia-mig-manager",
                ("nvcr.io/nvidia/cloud-native/k8s-mig-manager", "v0.12.1-ubuntu20.04"),
                env=_env(
                    ("NODE_NAME", ("field", "spec.nodeName")),
                    ("CONFIG_FILE", "/mig-parted-config/config.yaml"),
                    ("DEFAULT_GPU_CLIENTS_NAMESPACE", "gpu-operator"),
                    ("WITH_REBOOT", "false"),
                ),
                mounts=[
                    ("host-root", "/host", False),
                    ("mig-parted-config", "/mig-parted-config", False),
                ],
                security={"privileged": True},
            ),
        ],
        [],
        [
            *_host_mounts(("host-root", "/"))[0],
            {
                "name": "mig-parted-config",
                "configMap": {"name": "default-mig-parted-config", "defaultMode": 420},
            },
        ],
        mig_only,
        host_network=False,
    )
    return out


def _status_probe(delay: int) -> Obj:
    return {
        "exec": {"command": ["/app/grpc-health-probe", "-addr=:50051"]},
        "initialDelaySeconds": delay,
        "timeoutSeconds": 10,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


# ---------------------------------------------------------------------------------------------
# GPU workloads


def _gpu_workloads(b: _Builder, budget: int) -> None:
    """Fill each GPU pool to about 85% with workloads that fit its resource, ``budget`` pods
    shared evenly between the pools; pods that do not fit stay Pending, as GPU queues do."""
    rng = b.rng
    ml = [ns for ns in b.ns if ns.team in ML_TEAMS] or b.ns
    pools = [p.name for p in POOLS if p.name in b.pools and p.name.startswith("gpu")]

    def full(pool: str, resource: str) -> bool:
        nodes = b.pools[pool]
        total = sum(int(n.obj["status"]["allocatable"].get(resource, 0)) for n in nodes)
        left = sum(n.remaining.get(resource, 0) for n in nodes)
        return total == 0 or left <= total * 0.15

    for i, pool in enumerate(pools):
        share = budget // len(pools) + (i < budget % len(pools))
        stop_at = max(b.pod_budget - max(share, 1), 0)  # the budget spent (by DaemonSets): none
        spec = _pool(pool)
        resources = (
            [f"nvidia.com/mig-{p}" for p, _ in spec.mig_layout]
            if spec.sharing == "mig"
            else ["nvidia.com/gpu"]
        )
        first = True
        while b.pod_budget > stop_at:
            open_ = [r for r in resources if not full(pool, r)]
            if not open_:
                break
            before = len(b.pods)
            ns = rng.choice(ml)
            room = b.pod_budget - stop_at
            if spec.sharing == "mig":  # inference on slices, one profile per workload
                profile = rng.choice(open_).removeprefix("nvidia.com/mig-")
                shape = b.app_shape(
                    ns,
                    f"mig-{profile.split('.')[0]}-{rng.suffix(4)}",
                    "Deployment",
                    pool=pool,
                    gpu={f"nvidia.com/mig-{profile}": count(1)},
                )
                b.deployment(
                    ns,
                    shape.labels["app.kubernetes.io/name"],
                    min(rng.choice([1, 2, 4, 8, 12]), room),
                    shape,
                )
            elif spec.sharing == "time-slicing":  # notebooks and small inference, one unit each
                gpu = {"nvidia.com/gpu": count(1)}
                if rng.random() < 0.5:
                    shape = b.app_shape(
                        ns, f"notebook-{rng.suffix(4)}", "StatefulSet", pool=pool, gpu=gpu
                    )
                    b.statefulset(
                        ns,
                        shape.labels["app.kubernetes.io/name"],
                        min(rng.choice([1, 1, 2]), room),
                        shape,
                    )
                else:
                    shape = b.app_shape(
                        ns, f"whisper-{rng.suffix(4)}", "Deployment", pool=pool, gpu=gpu
                    )
                    b.deployment(
                        ns,
                        shape.labels["app.kubernetes.io/name"],
                        min(rng.choice([2, 4, 8]), room),
                        shape,
                    )
            elif first or rng.random() < 0.5:  # training: 8 GPUs and the EFA adapters per pod
                inst = INSTANCES[spec.instances[0]]
                workers = min(rng.choice([1, 1, 2, 3, 4, 8]), max(len(b.pools[pool]) // 3, 1), room)
                _pytorchjob(b, ns, pool, workers, inst)
            else:
                shape = b.app_shape(
                    ns,
                    f"{rng.choice(['llm', 'embed', 'rerank', 'asr'])}-{rng.suffix(4)}",
                    "Deployment",
                    pool=pool,
                    gpu={"nvidia.com/gpu": count(rng.choice([1, 1, 1, 2, 4]))},
                )
                b.deployment(
                    ns,
                    shape.labels["app.kubernetes.io/name"],
                    min(rng.choice([1, 2, 2, 4, 6, 8]), room),
                    shape,
                )
            first = False
            if any("nodeName" not in p["spec"] for p in b.pods[before:]):
                break  # the pool is full: what did not fit waits


def _pytorchjob(b: _Builder, ns: _Ns, pool: str, workers: int, inst: Instance) -> None:
    rng = b.rng
    name = f"{rng.choice(['pretrain', 'sft', 'dpo', 'vit'])}-{rng.suffix(5)}"
    created = NOW - rng.randrange(3600, 10 * 86400)
    image = ("nvcr.io/nvidia/pytorch", "25.04-py3")
    res = {
        "cpu": cpu(inst.vcpu * 1000 * 3 // 4),
        "memory": mem(inst.mem_gib * GI * 3 // 4),
        "nvidia.com/gpu": count(inst.gpus),
        "vpc.amazonaws.com/efa": count(inst.efa),
    }
    size = workers + 1
    job = b._workload(
        "PyTorchJob",
        ns.name,
        name,
        created,
        {"team": ns.team, "product": ns.product},
        {
            "runPolicy": {"cleanPodPolicy": "None", "suspend": False},
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure"},
                "Worker": {"replicas": workers, "restartPolicy": "OnFailure"},
            },
        },
        {
            "conditions": [
                {
                    "type": "Created",
                    "status": "True",
                    "reason": "PyTorchJobCreated",
                    "lastUpdateTime": _ts(created),
                    "lastTransitionTime": _ts(created),
                },
                {
                    "type": "Running",
                    "status": "True",
                    "reason": "PyTorchJobRunning",
                    "lastUpdateTime": _ts(created + 90),
                    "lastTransitionTime": _ts(created + 90),
                },
            ],
            "replicaStatuses": {"Master": {"active": 1}, "Worker": {"active": workers}},
            "startTime": _ts(created),
        },
    )
    refs = b.ref("kubeflow.org/v1", "PyTorchJob", job["metadata"])
    for role, n in (("master", 1), ("worker", workers)):
        for i in range(n):
            rank = i if role == "master" else i + 1
            env = _env(
                ("MASTER_PORT", "23456"),
                ("MASTER_ADDR", f"{name}-master-0"),
                ("WORLD_SIZE", str(size)),
                ("RANK", str(rank)),
                ("PYTHONUNBUFFERED", "1"),
                ("NCCL_DEBUG", "WARN"),
                ("NCCL_SOCKET_IFNAME", "eth0"),
                ("FI_PROVIDER", "efa"),
                ("FI_EFA_USE_DEVICE_RDMA", "1"),
                ("NCCL_PROTO", "simple"),
                ("HF_HOME", "/cache/hf"),
                ("WANDB_PROJECT", name),
                ("WANDB_API_KEY", ("secret", "wandb", "api-key")),
            )
            main = _container(
                "pytorch",
                image,
                command=["torchrun"],
                args=[
                    "--nnodes",
                    str(size),
                    "--nproc_per_node",
                    str(inst.gpus),
                    "train.py",
                    "--config=/etc/train/config.yaml",
                ],
                ports=[("pytorchjob-port", 23456)],
                env=env,
                requests=res,
                limits=res,
                mounts=[
                    ("dshm", "/dev/shm", False),
                    ("cache", "/cache", False),
                    ("config", "/etc/train", True),
                ],
            )
            labels = {
                "team": ns.team,
                "product": ns.product,
                "training.kubeflow.org/job-name": name,
                "training.kubeflow.org/operator-name": "pytorchjob-controller",
                "training.kubeflow.org/replica-index": str(i),
                "training.kubeflow.org/replica-type": role,
            }
            if role == "master":
                labels["training.kubeflow.org/job-role"] = "master"
            vols = [
                {"name": "dshm", "emptyDir": {"medium": "Memory"}},
                {"name": "cache", "persistentVolumeClaim": {"claimName": f"{ns.name}-cache"}},
                {"name": "config", "configMap": {"name": f"{name}-config", "defaultMode": 420}},
            ]
            shape = _shape(
                pool,
                dict(sorted(labels.items())),
                None,
                vols,
                [],
                [main],
                restart="OnFailure",
                node_selector={"node.kubernetes.io/instance-type": inst.name},
                tolerations=[_GPU_TOLERATION, *_DEFAULT_TOLERATIONS],
                grace=300,
                priority_class="training",
                priority=1000,
            )
            pod_name = f"{name}-{role}-{i}"
            b.names.add((ns.name, pod_name))
            b.pod(
                shape,
                _Owner(refs, shape.labels, None),
                ns.name,
                pod_name,
                "",
                created + rng.randrange(60),
                state="Running" if rng.random() < 0.98 else "Creating",
            )


# ---------------------------------------------------------------------------------------------
# CPU workloads


def _batch_shape(b: _Builder, ns: _Ns, app: str) -> _Shape:
    rng = b.rng
    image = (f"{_ECR}/{ns.team}/{app}", f"v2.{rng.randrange(30)}.{rng.randrange(9)}")
    req = {
        "cpu": cpu(rng.choice([100, 250, 500, 1000, 2000])),
        "memory": mib(rng.choice([256, 512, 1024, 2048])),
    }
    c = _container(
        app,
        image,
        command=["python", "-m", f"jobs.{app.replace('-', '_')}"],
        args=["--date=$(RUN_DATE)", "--output=s3://data-lake/" + ns.product],
        env=_env(
            ("RUN_DATE", "today"),
            ("AWS_REGION", REGION),
            ("LOG_LEVEL", "info"),
            ("S3_BUCKET", f"{ns.name}-data"),
            ("BATCH_SIZE", "5000"),
            ("DB_HOST", f"{ns.product}-db.{ns.name}.svc"),
            ("DB_PORT", "5432"),
            ("DB_USER", ("secret", f"{ns.product}-db", "username")),
            ("DB_PASSWORD", ("secret", f"{ns.product}-db", "password")),
            ("JOB_NAME", ("field", "metadata.labels['job-name']")),
            ("POD_NAME", ("field", "metadata.name")),
        ),
        requests=req,
        limits={"memory": req["memory"]},
        mounts=[("config", "/etc/job", True), ("scratch", "/scratch", False)],
    )
    labels = dict(
        sorted(
            {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/instance": app,
                "team": ns.team,
                "product": ns.product,
            }.items()
        )
    )
    vols = [
        {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "10Gi"}},
    ]
    return _shape("general", labels, None, vols, [], [c], restart="Never", sa=app)


def _db_shape(b: _Builder, ns: _Ns, app: str) -> _Shape:
    rng = b.rng
    engine, image, port = rng.choice(
        [
            ("postgres", ("docker.io/library/postgres", "16.8"), 5432),
            ("redis", ("docker.io/library/redis", "7.4.2"), 6379),
            ("kafka", ("docker.io/bitnami/kafka", "3.9.0"), 9092),
        ]
    )
    big = rng.choice([500, 1000, 2000])
    req = {"cpu": cpu(big), "memory": mib(big * 4)}
    main = _container(
        engine,
        image,
        ports=[(engine, port)],
        env=_env(
            ("POSTGRES_DB" if engine == "postgres" else "APP", ns.product),
            ("PGDATA", "/var/lib/data/pgdata"),
            ("PASSWORD", ("secret", f"{app}-auth", "password")),
            ("POD_NAME", ("field", "metadata.name")),
            ("POD_IP", ("field", "status.podIP")),
            ("TZ", "UTC"),
            ("MAX_CONNECTIONS", "400"),
            ("SHARED_BUFFERS", "1GB"),
            ("CLUSTER_DOMAIN", "cluster.local"),
            ("HEADLESS_SERVICE", app),
        ),
        requests=req,
        limits=req if rng.random() < 0.5 else {"memory": req["memory"]},
        mounts=[("data", "/var/lib/data", False), ("config", "/etc/" + engine, True)],
        liveness=_tcp_probe(port, 30),
        readiness=_tcp_probe(port, 5),
    )
    exporter = _container(
        "metrics",
        (f"quay.io/prometheuscommunity/{engine}-exporter", "v0.17.1"),
        ports=[("metrics", 9187)],
        env=_env(
            ("DATA_SOURCE_URI", f"localhost:{port}"),
            ("DATA_SOURCE_PASS", ("secret", f"{app}-auth", "password")),
        ),
        requests={"cpu": cpu(50), "memory": mib(64)},
        limits={"memory": mib(128)},
    )
    labels = dict(
        sorted(
            {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/instance": app,
                "app.kubernetes.io/component": engine,
                "team": ns.team,
                "product": ns.product,
            }.items()
        )
    )
    vols = [{"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}}]
    return _shape(
        "general",
        labels,
        {"prometheus.io/port": "9187", "prometheus.io/scrape": "true"},
        vols,
        [],
        [main, exporter],
        sa=app,
        hostname_subdomain=app,
        security={"fsGroup": 999, "runAsUser": 999},
    )


def _tcp_probe(port: int, delay: int) -> Obj:
    return {
        "tcpSocket": {"port": port},
        "initialDelaySeconds": delay,
        "timeoutSeconds": 5,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 6,
    }


def _cpu_workloads(b: _Builder) -> None:
    rng = b.rng
    apps = [
        "api",
        "web",
        "worker",
        "consumer",
        "scheduler",
        "gateway",
        "frontend",
        "backend",
        "sync",
        "indexer",
        "router",
        "cache-warmer",
        "webhook",
        "grpc",
        "admin",
    ]
    tenant = [ns for ns in b.ns if ns.team not in ML_TEAMS] or b.ns
    used: set[tuple[str, str]] = set()
    while b.pod_budget > 0:
        ns = rng.choice(tenant)
        x = rng.random()
        base = f"{ns.product}-{rng.choice(apps)}"
        app = base if (ns.name, base) not in used else f"{base}-{rng.suffix(3)}"
        if (ns.name, app) in used:
            continue
        used.add((ns.name, app))
        if x < 0.78:
            shape = b.app_shape(ns, app, "Deployment")
            b.deployment(ns, app, min(rng.choice(_REPLICAS), b.pod_budget, b.max_replicas), shape)
        elif x < 0.86:
            b.statefulset(
                ns, app, min(rng.choice([1, 2, 3, 3, 3, 5]), b.pod_budget), _db_shape(b, ns, app)
            )
        elif x < 0.96:
            b.cronjob(ns, app, _batch_shape(b, ns, app))
        elif x < 0.99:
            name = f"{app}-backfill-{rng.randrange(10**4)}"
            parallel = rng.choice([1, 2, 4])
            b.job(
                ns,
                name,
                _batch_shape(b, ns, app),
                min(parallel, b.pod_budget),
                NOW - rng.randrange(86400 * 3),
                None,
                rng.random() < 0.4,
                failed=rng.random() < 0.1,
            )
        else:
            # A sandboxed runtime: the RuntimeClass adds pod overhead on top of the containers.
            shape = b.app_shape(ns, app, "Deployment")
            shape = _shape(
                "general",
                shape.labels,
                shape.annotations,
                shape.volumes,
                shape.init,
                shape.containers,
                runtime_class="kata-qemu",
                sa=app,
                overhead={"cpu": cpu(250), "memory": mib(160)},
            )
            b.deployment(ns, app, min(rng.choice([1, 2, 3]), b.pod_budget), shape)


# ---------------------------------------------------------------------------------------------


def generate(pods: int, nodes: int | None = None, seed: int = 0, *, dra: bool = False) -> Cluster:
    """Build a cluster of exactly ``pods`` pods on ``nodes`` nodes (default pods // 30, at least 1).

    Same arguments, same objects, same bytes. With ``dra``, GPUs are allocated through Dynamic
    Resource Allocation instead of device plugins: one ResourceClaim per GPU pod, one
    ResourceSlice per GPU node (bench/synth_dra.py).

    The result is moved to the garbage collector's permanent generation (gc.freeze()): at
    150,000 pods it holds about 4 million tracked dicts and lists, and every later collection would
    otherwise walk them, stalling the code being measured for seconds at a time. They are
    acyclic, so reference counting still frees them once dropped.
    """
    if pods < 0:
        raise ValueError("pods must be >= 0")
    n_nodes = max(pods // 30, 1) if nodes is None else nodes
    with _gc_paused():
        cluster = _generate(pods, n_nodes, seed)
        if dra:
            from bench.synth_dra import to_dra  # it builds on this module

            cluster = to_dra(cluster)
        gc.freeze()
    return cluster


def _generate(pods: int, n_nodes: int, seed: int) -> Cluster:
    b = _Builder(pods, n_nodes, seed)
    b.build_namespaces(min(200, max(4, pods // 40)))
    b.build_nodes()
    for ds in _daemonsets():
        b.daemonset(ds)
    _gpu_workloads(b, budget=int(b.pod_budget * 0.08))
    if b.pod_budget > 0:
        # A bare debug pod: no owner at all.
        ns = b.ns[0]
        shape = _batch_shape(b, ns, "debug")
        b.names.add((ns.name, "debug-shell"))
        b.pod(shape, _Owner([], {"run": "debug"}, None), ns.name, "debug-shell", "", NOW - 3600)
    _cpu_workloads(b)
    key = _ns_name
    return Cluster(
        nodes=sorted((n.obj for n in b.nodes), key=key),
        pods=sorted(b.pods, key=key),
        namespaces=sorted(b.namespaces, key=key),
        replicasets=sorted(b.replicasets, key=key),
        jobs=sorted(b.jobs, key=key),
        workloads=sorted(b.workloads, key=lambda o: (o["kind"], *_ns_name(o))),
        resource_version=str(b.rv),
    )


def _ns_name(o: Obj) -> tuple[str, str]:
    m = o["metadata"]
    return (m.get("namespace", ""), m["name"])


# ---------------------------------------------------------------------------------------------
# Watch traffic


def modified_events(cluster: Cluster, n: int, seed: int = 0) -> list[bytes]:
    """``n`` pod MODIFIED watch events with increasing resourceVersions after the cluster's.

    Changes are the everyday ones: a container restarts, readiness flips, a label or annotation
    changes, or a container's CPU request is resized down in place (never up, so no node ends up
    over-committed). Successive events on one pod build on each other.
    """
    rng = _Rng(seed)
    live = [
        p for p in cluster.pods if p["status"]["phase"] == "Running" and "nodeName" in p["spec"]
    ]
    if not live and n:
        raise ValueError("cluster has no running pods to modify")
    latest: dict[str, Obj] = {}
    rv = int(cluster.resource_version)
    out = []
    for i in range(n):
        orig = live[rng.randrange(len(live))]
        uid = orig["metadata"]["uid"]
        pod = latest.get(uid, orig)
        rv += rng.randint(1, 5)
        meta = dict(pod["metadata"])
        meta["resourceVersion"] = str(rv)
        new = dict(pod)
        new["metadata"] = meta
        status = dict(pod["status"])
        new["status"] = status
        x = rng.random()
        now = _ts(NOW + 1 + i // 50)
        if x < 0.45:
            css = list(status["containerStatuses"])
            k = rng.randrange(len(css))
            cs = dict(css[k])
            cs["lastState"] = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "OOMKilled" if rng.random() < 0.4 else "Error",
                    "startedAt": cs["state"].get("running", {}).get("startedAt", now),
                    "finishedAt": now,
                    "containerID": cs.get("containerID", ""),
                }
            }
            cs["state"] = {"running": {"startedAt": now}}
            cs["restartCount"] = cs["restartCount"] + 1
            cs["containerID"] = "containerd://" + rng.hexstr(256)
            css[k] = cs
            status["containerStatuses"] = css
        elif x < 0.75:
            css = list(status["containerStatuses"])
            cs = dict(css[0])
            cs["ready"] = not cs["ready"]
            css[0] = cs
            status["containerStatuses"] = css
            ok = all(c["ready"] for c in css)
            conds = []
            for c in status["conditions"]:
                if c["type"] in ("Ready", "ContainersReady"):
                    c = {
                        "type": c["type"],
                        "status": "True" if ok else "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": now,
                    }
                    if not ok:
                        c["reason"] = "ContainersNotReady"
                conds.append(c)
            status["conditions"] = conds
        elif x < 0.9:
            ann = dict(meta.get("annotations") or {})
            ann["gpucost.example/last-seen"] = now
            meta["annotations"] = dict(sorted(ann.items()))
            labels = dict(meta.get("labels") or {})
            labels["rollout"] = f"wave-{rng.randrange(8)}"
            meta["labels"] = dict(sorted(labels.items()))
        else:
            _resize_down(new, status, rng)
        latest[uid] = new
        out.append(watch_event_bytes("MODIFIED", new))
    return out


def _milli(text: str) -> int:
    # Only for the canonical cpu spellings this module writes ("250m", "2").
    return int(text[:-1]) if text.endswith("m") else int(text) * 1000


def _resize_down(pod: Obj, status: Obj, rng: _Rng) -> None:
    """Halve the first resizable container's CPU request (and keep limits >= request)."""
    spec = dict(pod["spec"])
    containers = list(spec["containers"])
    for k, c in enumerate(containers):
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        if "cpu" not in req or lim.get("cpu") == req["cpu"]:
            continue  # Guaranteed containers would change QoS class; leave them alone
        milli = _milli(req["cpu"])
        if milli < 20:
            continue
        new_req = dict(req)
        new_req["cpu"] = cpu(max(milli // 2 // 10 * 10, 10))[0]
        new_res = dict(res)
        new_res["requests"] = new_req
        c = dict(c)
        c["resources"] = new_res
        containers[k] = c
        spec["containers"] = containers
        pod["spec"] = spec
        css = list(status["containerStatuses"])
        for j, cs in enumerate(css):
            if cs["name"] == c["name"]:
                cs = dict(cs)
                cs["allocatedResources"] = new_req
                cs["resources"] = new_res
                css[j] = cs
        status["containerStatuses"] = css
        return
    # Nothing resizable: touch an annotation instead so the event still changes something.
    ann = dict(pod["metadata"].get("annotations") or {})
    ann["gpucost.example/resize-skipped"] = "true"
    pod["metadata"]["annotations"] = dict(sorted(ann.items()))


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.synth", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dra", action="store_true", help="GPUs through DRA claims and slices")
    parser.add_argument(
        "--out", type=Path, default=None, help="directory for kubectl-style List files"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    cluster = generate(args.pods, args.nodes, args.seed, dra=args.dra)
    built = time.perf_counter() - t0
    print(
        f"generated {len(cluster.pods)} pods on {len(cluster.nodes)} nodes in {built:.1f}s "
        f"(seed {args.seed}, resourceVersion {cluster.resource_version})"
    )
    print(f"{'resource':<12} {'count':>8} {'list bytes':>14} {'mean bytes':>11}")
    for resource, (kind, items) in cluster.lists().items():
        body = list_bytes(kind, items, cluster.resource_version)
        mean = sum(len(_ENCODE(o)) for o in items) / max(len(items), 1)
        print(f"{resource:<12} {len(items):>8} {len(body):>14,} {mean:>11,.0f}")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{resource}.json").write_bytes(kubectl_json(items))
    phases: dict[str, int] = {}
    for p in cluster.pods:
        phase = p["status"]["phase"] + ("" if "nodeName" in p["spec"] else "/unbound")
        phases[phase] = phases.get(phase, 0) + 1
    print("pod phases:", ", ".join(f"{k} {v}" for k, v in sorted(phases.items())))
    if args.out:
        print(f"wrote {args.out}/{{{','.join(cluster.lists())}}}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

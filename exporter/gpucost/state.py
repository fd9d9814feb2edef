"""The cluster as the cost model sees it, kept current incrementally, with pre-rendered series.

Sources (snapshot files, the Kubernetes watch) call `upsert`, `delete` and `replace`. Each call
updates the node's running reservation sums and marks what must be recomputed; `flush()` then
recomputes only the dirty nodes' rates and the dirty pods' costs and re-renders their lines.
A pod change therefore costs one pod and one node; a node change costs that node and its pods.
A scrape (`render`) joins the pre-rendered lines family by family.

Cost rules (see docs/costs.md): a pod pays, per resource, request x node cost / allocatable;
where reservations exceed allocatable the denominator becomes the sum of reservations, so
pods + idle = node cost always holds and idle never goes negative.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Union

import msgspec

from . import __version__, catalog
from .costs import RESOURCES, NodeCost, PodCost, Rates, node_cost, node_rates, pod_cost
from .exposition import (
    BlockedFamily,
    MetricFamily,
    Sample,
    block_of,
    escape_label_value,
    format_value,
    header,
    render_family,
    sample_line,
)
from .gpu import CatalogGpus, NodeGpus, is_gpu_resource, node_gpus
from .objects import Controller, Namespace, Node, ObjectMeta, Pod, object_name
from .pricing import NodeFacts, NodePrice, PricingConfig, resolve_node_price
from .quantity import QuantityError, milli_value, parse_quantity, value
from .requests import RequestError, pod_requests

log = logging.getLogger("gpucost.state")

GIB = 2**30
_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
_INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
_REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
_ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")

# Families rendered per object, in exposition order. (name, help)
POD_FAMILIES = (
    ("gpucost_pod_cpu_cost_per_hour",
     "Hourly cost of the CPU a pod reserves (effective request x node CPU cost / allocatable), in {currency} per hour."),
    ("gpucost_pod_memory_cost_per_hour",
     "Hourly cost of the memory a pod reserves (effective request x node memory cost / allocatable), in {currency} per hour."),
    ("gpucost_pod_gpu_reserved_cost_per_hour",
     "Hourly cost of the physical-GPU share a pod reserves (whole, time-sliced, MPS or MIG) x the node's per-GPU price, in {currency} per hour."),
    ("gpucost_pod_gpu_reserved",
     "Physical-GPU equivalents a pod reserves, per GPU resource name (1 per whole GPU, 1/R per time-sliced replica, g/7 per MIG slice)."),
)
NODE_FAMILIES = (
    ("gpucost_node_cost_per_hour", "gauge",
     "Hourly cost of a node by resource (cpu, memory, gpu), in {currency} per hour."),
    ("gpucost_node_idle_cost_per_hour", "gauge",
     "Hourly cost of a node's resources that no pod reserves (node cost minus the pods' costs), in {currency} per hour."),
    ("gpucost_node_info", "gauge",
     "Node metadata used for pricing; value 1. price_source is node_rule, instance_type, catalog or default."),
    ("gpucost_node_gpus", "gauge", "Physical GPUs on a node."),
    ("gpucost_node_gpu_info", "gauge",
     "How a node's GPUs are shared and where the inventory came from; value 1."),
    ("gpucost_gpu_price_defaulted", "gauge",
     "1 when a node's GPU model has no configured price and default.gpu_hour was used."),
    ("gpucost_node_gpu_unit_weight", "gauge",
     "Physical-GPU equivalents one unit of a GPU resource a node advertises is worth (1 whole, 1/R time-sliced or MPS, g/7 MIG, 1/N AMD partition, inferred or configured)."),
)


@dataclass(frozen=True)
class Shard:
    """This process's share of the series: pods by UID hash, nodes by name hash."""

    index: int = 0
    total: int = 1

    def owns(self, key: str) -> bool:
        return self.total == 1 or zlib.crc32(key.encode()) % self.total == self.index


class _PodEntry(msgspec.Struct, gc=False):
    """A counted pod, reduced to what costing and labelling need. Not tracked by the cyclic
    garbage collector (it holds no cycles): at 150,000 pods, full collections would otherwise
    walk every entry again and again while the cluster syncs."""

    key: str
    block: int  # hash block of the key in every pod family
    namespace: str = ""
    name: str = ""
    node: str = ""
    owner_uid: str = ""
    owner_kind: str = ""
    owner_name: str = ""
    dims: tuple[str, ...] = ()  # dimension label values found on the pod ("" = ask the namespace)
    cpu_m: int = 0
    memory_b: int = 0
    gpu_units: dict[str, int] = {}  # GPU resource name -> units requested


_IDLE = 1  # index of gpucost_node_idle_cost_per_hour in NODE_FAMILIES


class _NodeEntry:
    """A node, priced. `rates` are the hourly cost per reserved millicore, byte and GPU."""

    __slots__ = (
        "alloc_cpu_m",
        "alloc_memory_b",
        "capacity_type",
        "facts",
        "gpu_resources",
        "gpus",
        "instance_type",
        "labels",
        "name",
        "obj",
        "price",
        "rates",
        "region",
        "rendered",
        "zone",
    )
    obj: Node  # as last seen, to re-derive inventory and price when NVML's answer changes
    name: str
    labels: dict[str, str]
    facts: NodeFacts
    gpus: NodeGpus
    gpu_resources: tuple[str, ...]  # GPU resource names the node advertises
    price: NodePrice
    alloc_cpu_m: int
    alloc_memory_b: int
    rates: Rates | None
    rendered: bool  # all its families rendered since this version of the node arrived
    instance_type: str
    region: str
    zone: str
    capacity_type: str


class _Reserved:
    """Running sums of the reservations of counted pods bound to one node."""

    __slots__ = ("cpu_m", "gpu_units", "memory_b", "pods")

    def __init__(self) -> None:
        self.cpu_m = 0
        self.memory_b = 0
        self.gpu_units: dict[str, int] = {}
        self.pods: dict[str, None] = {}  # an insertion-ordered set: stable output order


class _Controller:
    __slots__ = ("kind", "name", "owner")

    def __init__(self, kind: str, name: str, owner: tuple[str, str, str] | None) -> None:
        self.kind, self.name, self.owner = kind, name, owner


def _controller_ref(meta: ObjectMeta) -> tuple[str, str, str] | None:
    for ref in meta.owner_references or ():
        if ref.controller:
            return ref.kind, ref.name, ref.uid
    return None


def _first_label(labels: Mapping[str, str], keys: Iterable[str]) -> str:
    for k in keys:
        v = labels.get(k)
        if v is not None:
            return v
    return ""


def capacity_type(labels: Mapping[str, str]) -> str:
    """spot | on-demand | reserved from the provisioner's or provider's labels; "" if unknown."""
    v = labels.get("karpenter.sh/capacity-type")
    if v:
        return v
    v = labels.get("eks.amazonaws.com/capacityType")
    if v:
        return {"ON_DEMAND": "on-demand", "SPOT": "spot"}.get(v, v.lower())
    if labels.get("cloud.google.com/gke-spot") == "true" or labels.get("cloud.google.com/gke-preemptible") == "true":
        return "spot"
    v = labels.get("kubernetes.azure.com/scalesetpriority")
    if v:
        return "spot" if v == "spot" else "on-demand"
    return ""


def _log_sharing(node: str, gpus: NodeGpus, capacity: Mapping[str, object]) -> None:
    """Say once, per change, that a node's GPU units were read by inference or not at all."""
    units = {k: str(v) for k, v in capacity.items() if is_gpu_resource(k)}
    if gpus.sharing == "inferred":
        ratios = ", ".join(f"{k} = 1/{1 / w}" if w.numerator == 1 else f"{k} = {w}" for k, w in gpus.inferred.items())
        log.warning(
            "Node %s: advertises %s on %d physical GPUs (%s) and no label says how they are shared; "
            "costing each unit as %s of a GPU. Set gpu_weights in the pricing file to override.",
            node, units, gpus.physical, gpus.source, ratios,
        )
    else:
        log.warning(
            "Node %s: advertises %s but nothing says how many physical GPUs stand behind the shared "
            "units (no GPU Feature Discovery, Karpenter or catalog entry); they cost nothing until "
            "gpu_weights in the pricing file or a count label says.",
            node, units,
        )


Sink = Union[Node, Pod, Namespace, Controller]

_NO_OWNER = ("", "", "")
_CONTROLLER_KINDS = ("ReplicaSet", "Job")  # intermediate owners, followed to the workload
#: Whether any of these characters occurs (then label values need escaping).
_NEEDS_ESCAPE = re.compile(r'["\\\n]').search
_LWS_NAME = "leaderworkerset.sigs.k8s.io/name"
_NO_GPUS: dict[str, int] = {}
_intern = sys.intern


_gpu_names: dict[str, bool] = {}


def _is_gpu(name: str) -> bool:
    known = _gpu_names.get(name)
    if known is None:
        known = _gpu_names[name] = is_gpu_resource(name)
    return known


class Relist:
    """One streamed full list of a kind into a CostState (see CostState.relist)."""

    def __init__(self, state: CostState, kind: str) -> None:
        self._state = state
        self._kind = kind
        self._seen: set[str] = set()

    def add(self, obj: Sink) -> None:
        self._seen.add(self._state._key(self._kind, obj.metadata))
        self._state.upsert(self._kind, obj)

    def finish(self) -> None:
        state = self._state
        for key in state._keys_of(self._kind) - self._seen:
            state._delete_key(self._kind, key)


class CostState:
    """The incremental cost engine. Not thread-safe: one event loop owns it."""

    def __init__(
        self,
        pricing: PricingConfig,
        *,
        shard: Shard = Shard(),
        clock: Callable[[], float] = time.time,
        nvml_inventory: Callable[[str], tuple[int, str]] | None = None,
    ) -> None:
        self.pricing = pricing
        self.shard = shard
        self._clock = clock
        self._nvml = nvml_inventory
        self._dims = tuple(pricing.labels.items())
        self._dim_keys = frozenset(k for _, keys in self._dims for k in keys)
        self._no_dims = ("",) * len(self._dims)
        self._dim_names = tuple(label for label, _ in self._dims)
        # (namespace, pod's own dimension values) -> rendered dimension labels
        self._dims_text: dict[tuple[str, tuple[str, ...]], str] = {}
        # the common case, one Kubernetes key per dimension, takes a faster path
        self._dim_first_keys = (
            tuple(keys[0] for _, keys in self._dims) if all(len(k) == 1 for _, k in self._dims) else None
        )
        self._nodes: dict[str, _NodeEntry] = {}
        self._pods: dict[str, _PodEntry] = {}
        self._reserved: dict[str, _Reserved] = {}
        self._ns_labels: dict[str, dict[str, str]] = {}
        self._pods_by_ns: dict[str, dict[str, None]] = {}
        self._controllers: dict[str, _Controller] = {}
        self._pods_by_owner: dict[str, dict[str, None]] = {}
        self._skipped: dict[str, tuple[str, str]] = {}  # object key -> (kind, reason)
        self._skip_events: dict[tuple[str, str], int] = {}  # (kind, reason) -> times left out
        # insertion-ordered sets (dicts), so the exposition order does not depend on hashing
        self._dirty_nodes: dict[str, None] = {}
        self._dirty_pods: dict[str, None] = {}
        self._overcommitted: dict[str, set[str]] = {r: set() for r in RESOURCES}
        cur = pricing.currency
        self._pod_families = tuple(
            BlockedFamily(header(n, "gauge", h.format(currency=cur))) for n, h in POD_FAMILIES
        )
        self._node_families = tuple(
            BlockedFamily(header(n, t, h.format(currency=cur))) for n, t, h in NODE_FAMILIES
        )
        #: When sources can vouch for freshness (live watches), the time they last did.
        self.confirmed: Callable[[], float] | None = None
        self.last_update = 0.0

    # ------------------------------------------------------------------ sink interface

    def upsert(self, kind: str, obj: Sink) -> None:
        """Add or update one object (wire kind: Node, Pod, Namespace, ReplicaSet, Job)."""
        if kind == "Pod":
            self._upsert_pod(obj)  # type: ignore[arg-type]
        elif kind == "Node":
            self._upsert_node(obj)  # type: ignore[arg-type]
        elif kind == "Namespace":
            self._upsert_namespace(obj.metadata)
        elif kind in _CONTROLLER_KINDS:
            self._upsert_controller(kind, obj.metadata)

    def delete(self, kind: str, obj: Sink) -> None:
        """Remove one object, given as last seen."""
        self._delete_key(kind, self._key(kind, obj.metadata))

    def replace(self, kind: str, objs: Iterable[Sink]) -> None:
        """Make the objects of one kind exactly `objs`: upsert each, delete the rest."""
        relist = self.relist(kind)
        for obj in objs:
            relist.add(obj)
        relist.finish()

    def relist(self, kind: str) -> Relist:
        """A full list of one kind, streamed: objects are applied as they arrive (no need to
        hold 150,000 decoded pods at once), and only `finish()` deletes what the list lacked.
        An abandoned relist (the list failed half way) deletes nothing."""
        return Relist(self, kind)

    def skip(self, kind: str, key: str, reason: str, message: str) -> None:
        """Record an object left out (e.g. undecodable), logging it once."""
        if self._skipped.get(key) != (kind, reason):
            log.warning("%s left out (%s): %s", key, reason, message)
            self._skip_events[kind, reason] = self._skip_events.get((kind, reason), 0) + 1
        self._skipped[key] = (kind, reason)

    # ------------------------------------------------------------------ keys

    @staticmethod
    def _key(kind: str, meta: ObjectMeta) -> str:
        if kind in ("Node", "Namespace"):
            return meta.name
        return meta.uid or f"{meta.namespace or 'default'}/{meta.name}"

    def _keys_of(self, kind: str) -> set[str]:
        skipped = {k for k, (kd, _) in self._skipped.items() if kd == kind}
        if kind == "Pod":
            return set(self._pods) | skipped
        if kind == "Node":
            return set(self._nodes) | skipped
        if kind == "Namespace":
            return set(self._ns_labels)
        return {k for k, c in self._controllers.items() if c.kind == kind} | skipped

    def _delete_key(self, kind: str, key: str) -> None:
        self._skipped.pop(key, None)
        if kind == "Pod":
            self._remove_pod(key)
        elif kind == "Node":
            if self._nodes.pop(key, None) is not None:
                self._dirty_nodes[key] = None
        elif kind == "Namespace":
            if self._ns_labels.pop(key, None) is not None:
                self._forget_dims(key)
                self._dirty_pods |= self._pods_by_ns.get(key, {})
        elif kind in _CONTROLLER_KINDS:
            if self._controllers.pop(key, None) is not None:
                self._dirty_pods |= self._pods_by_owner.get(key, {})

    # ------------------------------------------------------------------ pods

    def _upsert_pod(self, pod: Pod) -> None:
        meta = pod.metadata
        key = self._key("Pod", meta)
        node = pod.spec.node_name
        if not node or pod.status.phase in _TERMINAL_PHASES:
            self._skipped.pop(key, None)
            self._remove_pod(key)  # unbound or finished: holds nothing
            return
        try:
            amounts = pod_requests(pod)
        except RequestError as exc:
            self._remove_pod(key)
            self.skip("Pod", key, "invalid_quantity", f"{object_name('Pod', meta)}: {exc}")
            return
        if self._skipped:
            self._skipped.pop(key, None)
        namespace = meta.namespace or "default"
        owner_kind, owner_name, owner_uid = _controller_ref(meta) or _NO_OWNER
        labels = meta.labels
        if labels and owner_kind == "StatefulSet" and _LWS_NAME in labels:
            # LeaderWorkerSet pods are owned by StatefulSets the LWS owns; StatefulSets are
            # not watched (RBAC stays minimal), but the LWS controller labels its pods.
            owner_kind, owner_name = "LeaderWorkerSet", labels[_LWS_NAME]
        if not labels:
            dims = self._no_dims
        elif self._dim_first_keys is not None:
            dims = tuple([labels.get(k, "") for k in self._dim_first_keys])
        else:
            dims = tuple([_first_label(labels, keys) for _, keys in self._dims])
        cpu_m = milli_value(amounts.get("cpu", 0))
        memory_b = value(amounts.get("memory", 0))
        if len(amounts) > ("cpu" in amounts) + ("memory" in amounts):  # anything else may be a GPU
            gpu_units = {
                name: value(amount) for name, amount in amounts.items() if amount > 0 and _is_gpu(name)
            } or _NO_GPUS
        else:
            gpu_units = _NO_GPUS
        entry = self._pods.get(key)
        if entry is not None:
            if (
                entry.node == node and entry.cpu_m == cpu_m and entry.memory_b == memory_b
                and entry.gpu_units == gpu_units and entry.dims == dims and entry.name == meta.name
                and entry.namespace == namespace and entry.owner_uid == owner_uid
                and entry.owner_kind == owner_kind and entry.owner_name == owner_name
            ):
                return  # a status-only change (conditions, restarts): nothing to recompute
            self._unreserve(entry)
            self._index_remove(self._pods_by_ns, entry.namespace, key)
            if entry.owner_uid:
                self._index_remove(self._pods_by_owner, entry.owner_uid, key)
        else:
            entry = self._pods[key] = _PodEntry(key, block_of(key))
        # Interned: one shared string per namespace, node and owner, not one per pod.
        namespace = entry.namespace = _intern(namespace)
        entry.name = meta.name
        entry.node = _intern(node)
        owner_uid = entry.owner_uid = _intern(owner_uid)
        entry.owner_kind, entry.owner_name = _intern(owner_kind), _intern(owner_name)
        entry.dims = dims
        entry.cpu_m = cpu_m
        entry.memory_b = memory_b
        entry.gpu_units = gpu_units
        self._pods_by_ns.setdefault(namespace, {})[key] = None
        if owner_uid:
            self._pods_by_owner.setdefault(owner_uid, {})[key] = None
        self._reserve(entry)
        self._dirty_pods[key] = None

    def _reserve(self, entry: _PodEntry) -> None:
        r = self._reserved.get(entry.node)
        if r is None:
            r = self._reserved[entry.node] = _Reserved()
        r.cpu_m += entry.cpu_m
        r.memory_b += entry.memory_b
        for name, units in entry.gpu_units.items():
            r.gpu_units[name] = r.gpu_units.get(name, 0) + units
        r.pods[entry.key] = None
        self._dirty_nodes[entry.node] = None

    def _unreserve(self, entry: _PodEntry) -> None:
        r = self._reserved[entry.node]
        r.cpu_m -= entry.cpu_m
        r.memory_b -= entry.memory_b
        for name, units in entry.gpu_units.items():
            left = r.gpu_units[name] - units
            if left:
                r.gpu_units[name] = left
            else:
                del r.gpu_units[name]
        r.pods.pop(entry.key, None)
        if not r.pods and entry.node not in self._nodes:
            del self._reserved[entry.node]
        self._dirty_nodes[entry.node] = None

    def _remove_pod(self, key: str) -> None:
        entry = self._pods.pop(key, None)
        if entry is None:
            return
        self._unreserve(entry)
        self._index_remove(self._pods_by_ns, entry.namespace, key)
        if entry.owner_uid:
            self._index_remove(self._pods_by_owner, entry.owner_uid, key)
        self._dirty_pods[key] = None

    @staticmethod
    def _index_remove(index: dict[str, dict[str, None]], group: str, key: str) -> None:
        members = index.get(group)
        if members is not None:
            members.pop(key, None)
            if not members:
                del index[group]

    # ------------------------------------------------------------------ nodes

    def _upsert_node(self, node: Node) -> None:
        meta = node.metadata
        name = meta.name
        try:
            capacity = {k: parse_quantity(v) for k, v in (node.status.capacity or {}).items()}
            allocatable = {k: parse_quantity(v) for k, v in (node.status.allocatable or {}).items()}
        except QuantityError as exc:
            if self._nodes.pop(name, None) is not None:
                self._dirty_nodes[name] = None
            self.skip("Node", name, "invalid_quantity", f"{object_name('Node', meta)}: status: {exc}")
            return
        self._skipped.pop(name, None)
        if not allocatable:
            allocatable = capacity  # manifests may omit status.allocatable
        labels = dict(meta.labels or {})
        instance_type = _first_label(labels, _INSTANCE_TYPE_LABELS)
        hardware = catalog.INSTANCE_GPUS.get(instance_type)
        nvml_count, nvml_model = self._nvml(name) if self._nvml else (0, "")
        gpus = node_gpus(
            labels,
            {k: value(v) for k, v in capacity.items() if is_gpu_resource(k)},
            overrides=self.pricing.gpu_weights,
            nvml_count=nvml_count,
            nvml_model=nvml_model,
            catalog=CatalogGpus(*hardware) if hardware else None,
        )
        old_entry = self._nodes.get(name)
        if gpus.sharing in ("inferred", "unknown") and (old_entry is None or old_entry.gpus.sharing != gpus.sharing):
            _log_sharing(name, gpus, capacity)
        facts = NodeFacts(
            name=name,
            labels=labels,
            cpu_cores=milli_value(capacity.get("cpu", 0)) / 1000,
            memory_gib=value(capacity.get("memory", 0)) / GIB,
            gpus=gpus.physical,
            gpu_model=gpus.model,
            instance_type=instance_type,
        )
        entry = _NodeEntry()
        entry.obj = node
        entry.name = name
        entry.labels = labels
        entry.facts = facts
        entry.gpus = gpus
        entry.gpu_resources = tuple(sorted(k for k, v in capacity.items() if is_gpu_resource(k) and value(v) > 0))
        entry.price = resolve_node_price(self.pricing, facts)
        entry.alloc_cpu_m = milli_value(allocatable.get("cpu", 0))
        entry.alloc_memory_b = value(allocatable.get("memory", 0))
        entry.instance_type = instance_type
        entry.region = _first_label(labels, _REGION_LABELS)
        entry.zone = _first_label(labels, _ZONE_LABELS)
        entry.capacity_type = capacity_type(labels)
        old = self._nodes.get(name)
        entry.rates = old.rates if old is not None else None
        entry.rendered = False
        self._nodes[name] = entry
        self._reserved.setdefault(name, _Reserved())
        self._dirty_nodes[name] = None

    def refresh_nodes(self) -> None:
        """Re-derive every node's GPU inventory and price (e.g. after an NVML re-read)."""
        for entry in list(self._nodes.values()):
            self._upsert_node(entry.obj)

    # ------------------------------------------------------------------ namespaces, owners

    def _upsert_namespace(self, meta: ObjectMeta) -> None:
        labels = {k: v for k, v in (meta.labels or {}).items() if k in self._dim_keys}
        if self._ns_labels.get(meta.name) != labels or meta.name not in self._ns_labels:
            self._ns_labels[meta.name] = labels
            self._forget_dims(meta.name)
            self._dirty_pods |= self._pods_by_ns.get(meta.name, {})

    def _upsert_controller(self, kind: str, meta: ObjectMeta) -> None:
        key = self._key(kind, meta)
        owner = _controller_ref(meta)
        old = self._controllers.get(key)
        if old is None or (old.kind, old.name, old.owner) != (kind, meta.name, owner):
            self._controllers[key] = _Controller(kind, meta.name, owner)
            self._dirty_pods |= self._pods_by_owner.get(key, {})

    def _workload(self, entry: _PodEntry) -> tuple[str, str]:
        """The pod's top-level controller: Pod→ReplicaSet→Deployment, Pod→Job→CronJob, …"""
        kind, name, uid = entry.owner_kind, entry.owner_name, entry.owner_uid
        for _ in range(8):  # owner chains are short; a cycle must not hang the exporter
            ctrl = self._controllers.get(uid)
            if ctrl is None or ctrl.owner is None:
                break
            kind, name, uid = ctrl.owner
        return kind, name

    # ------------------------------------------------------------------ recompute

    def flush(self, budget: int | None = None) -> bool:
        """Recompute dirty nodes and pods and re-render their series; True when nothing is
        left. With a `budget`, render at most that many pods, so a caller on the event loop
        can yield between slices (after a 150,000-pod sync a full flush takes seconds)."""
        worked = bool(self._dirty_nodes or self._dirty_pods)
        if self._dirty_nodes:
            dirty_nodes, self._dirty_nodes = self._dirty_nodes, {}
            for name in dirty_nodes:
                self._refresh_node(name, self._dirty_pods)
        dirty_pods = self._dirty_pods
        if budget is None or budget >= len(dirty_pods):
            self._dirty_pods = {}
            keys: Iterable[str] = dirty_pods
        else:
            keys = list(islice(dirty_pods, budget))
            for key in keys:
                del dirty_pods[key]
        for key in keys:
            self._render_pod(key)
        if self._dirty_pods:
            return False
        if worked:
            self.last_update = self._clock()
        return True

    def _refresh_node(self, name: str, dirty_pods: dict[str, None]) -> None:
        entry = self._nodes.get(name)
        r = self._reserved.get(name)
        for res in RESOURCES:
            self._overcommitted[res].discard(name)
        if entry is None:
            block = block_of(name)
            for family in self._node_families:
                family.pop(block, name)
            if r is not None:
                dirty_pods |= r.pods  # their node is gone: drop their series
                if not r.pods:
                    del self._reserved[name]
            return
        assert r is not None
        rates = node_rates(
            entry.price, entry.gpus, entry.alloc_cpu_m, entry.alloc_memory_b, r.cpu_m, r.memory_b, r.gpu_units
        )
        if rates != entry.rates:
            entry.rates = rates
            dirty_pods |= r.pods
        cost = self.node_cost(name)
        owned = self.shard.owns(name)
        if owned:  # counted by the shard that serves the node, so shards sum to the whole
            for res in cost.overcommitted:
                self._overcommitted[res].add(name)
        if owned:
            self._render_node(entry, cost, idle_only=entry.rendered)
            entry.rendered = True
        else:
            block = block_of(name)
            for family in self._node_families:
                family.pop(block, name)

    def node_cost(self, name: str) -> NodeCost:
        """A node's hourly cost and idle cost by resource (call flush() first)."""
        entry = self._nodes[name]
        r = self._reserved[name]
        return node_cost(
            entry.price, entry.gpus, entry.alloc_cpu_m, entry.alloc_memory_b, r.cpu_m, r.memory_b, r.gpu_units
        )

    def pod_cost(self, key: str) -> PodCost | None:
        """A counted pod's hourly costs (call flush() first); None if not costed."""
        entry = self._pods.get(key)
        node = self._nodes.get(entry.node) if entry is not None else None
        if entry is None or node is None or node.rates is None:
            return None
        return pod_cost(node.rates, entry.cpu_m, entry.memory_b, entry.gpu_units)

    # ------------------------------------------------------------------ rendering

    def _render_pod(self, key: str) -> None:
        entry = self._pods.get(key)
        node = self._nodes.get(entry.node) if entry is not None else None
        if entry is None or node is None or node.rates is None or not self.shard.owns(key):
            block = entry.block if entry is not None else block_of(key)
            for family in self._pod_families:
                family.pop(block, key)
            return
        owner_kind, owner_name = self._workload(entry)
        dims = self._dims_text.get((entry.namespace, entry.dims))
        if dims is None:
            dims = self._dims_text[entry.namespace, entry.dims] = self._render_dims(entry)
        namespace, name, node_name = entry.namespace, entry.name, entry.node
        if _NEEDS_ESCAPE(namespace + name + node_name + owner_kind + owner_name):
            namespace, name, node_name, owner_kind, owner_name = map(
                escape_label_value, (namespace, name, node_name, owner_kind, owner_name)
            )
        labels = (
            f'{{namespace="{namespace}",pod="{name}",node="{node_name}",'
            f'owner_kind="{owner_kind}",owner_name="{owner_name}"{dims}'
        )
        rates = node.rates
        cpu, mem, gpu_cost, gpu = self._pod_families
        block = entry.block
        # Costs are finite and non-negative: repr() is the shortest round-trip text.
        cpu.set(block, key, f"gpucost_pod_cpu_cost_per_hour{labels}}} {entry.cpu_m * rates.cpu!r}\n")
        mem.set(block, key, f"gpucost_pod_memory_cost_per_hour{labels}}} {entry.memory_b * rates.memory!r}\n")
        if entry.gpu_units:
            cost = pod_cost(rates, entry.cpu_m, entry.memory_b, entry.gpu_units)
            gpu_cost.set(block, key, f"gpucost_pod_gpu_reserved_cost_per_hour{labels}}} {format_value(cost.gpu)}\n")
            gpu.set(block, key, "".join(
                f'gpucost_pod_gpu_reserved{labels},resource="{escape_label_value(res)}"}} {format_value(share)}\n'
                for res, share in sorted(cost.gpus.items())
            ))
        elif gpu_cost.get(block, key) is not None:
            gpu_cost.pop(block, key)
            gpu.pop(block, key)

    def _forget_dims(self, namespace: str) -> None:
        for cached in [k for k in self._dims_text if k[0] == namespace]:
            del self._dims_text[cached]

    def _dim_values(self, entry: _PodEntry) -> tuple[str, ...]:
        """Dimension label values: the pod's own label, else its namespace's."""
        ns_labels = self._ns_labels.get(entry.namespace) or {}
        return tuple(
            v or _first_label(ns_labels, keys) for (_, keys), v in zip(self._dims, entry.dims, strict=True)
        )

    def _render_dims(self, entry: _PodEntry) -> str:
        """`,team="a",product="b"` for the pod."""
        return "".join(
            f',{label}="{escape_label_value(v)}"'
            for label, v in zip(self._dim_names, self._dim_values(entry), strict=True)
        )

    def _node_series(self, entry: _NodeEntry, cost: NodeCost) -> list[list[Sample]]:
        """Per node family (NODE_FAMILIES order), the node's samples."""
        node = ("node", entry.name)
        gpus = entry.gpus
        out: list[list[Sample]] = [
            [((node, ("resource", res)), v) for res, v in cost.cost.items()],
            [((node, ("resource", res)), v) for res, v in cost.idle.items()],
            [((node, ("instance_type", entry.instance_type), ("region", entry.region),
               ("zone", entry.zone), ("capacity_type", entry.capacity_type),
               ("gpu_model", gpus.model if gpus.physical else ""),
               ("price_source", entry.price.source)), 1)],
            [], [], [], [],
        ]
        if gpus.physical:
            out[3].append(((node,), gpus.physical))
            out[4].append(((node, ("gpu_model", gpus.model), ("vendor", gpus.vendor),
                            ("sharing", gpus.sharing), ("mig_strategy", gpus.mig_strategy),
                            ("source", gpus.source)), 1))
        if entry.price.gpu_price_defaulted:
            out[5].append(((node, ("gpu_model", gpus.model)), 1))
        out[6].extend(((node, ("resource", r)), float(gpus.weight(r))) for r in entry.gpu_resources)
        return out

    def _render_node(self, entry: _NodeEntry, cost: NodeCost, idle_only: bool = False) -> None:
        """Render the node's families; after a pod change only its idle cost can differ."""
        block = block_of(entry.name)
        for i, (family, (name, _, _), samples) in enumerate(zip(
            self._node_families, NODE_FAMILIES, self._node_series(entry, cost), strict=True
        )):
            if idle_only and i != _IDLE:
                continue
            if samples:
                family.set(block, entry.name, "".join(sample_line(name, labels, v) for labels, v in samples))
            else:
                family.pop(block, entry.name)

    def series(self) -> Iterator[tuple[str, Sequence[tuple[str, str]], float]]:
        """Every per-object sample this shard serves, as (family, labels, value), computed
        afresh from the state. The scrape path renders the same samples from cached text;
        this is the straightforward way, used to check it and as the benchmark's baseline."""
        self.flush()
        label_names = ("namespace", "pod", "node", "owner_kind", "owner_name") + self._dim_names
        cpu, mem, gpu_cost, gpu = (name for name, _ in POD_FAMILIES)
        for key, entry in self._pods.items():
            node = self._nodes.get(entry.node)
            if node is None or node.rates is None or not self.shard.owns(key):
                continue
            cost = pod_cost(node.rates, entry.cpu_m, entry.memory_b, entry.gpu_units)
            labels = tuple(zip(label_names, self._pod_label_values(entry), strict=True))
            yield cpu, labels, cost.cpu
            yield mem, labels, cost.memory
            if cost.gpus:
                yield gpu_cost, labels, cost.gpu
                for res, share in sorted(cost.gpus.items()):
                    yield gpu, (*labels, ("resource", res)), share
        for name, node_entry in self._nodes.items():
            if not self.shard.owns(name) or node_entry.rates is None:
                continue
            node_samples = self._node_series(node_entry, self.node_cost(name))
            for (family, _, _), samples in zip(NODE_FAMILIES, node_samples, strict=True):
                for node_labels, v in samples:
                    yield family, node_labels, float(v)

    def _pod_label_values(self, entry: _PodEntry) -> tuple[str, ...]:
        owner_kind, owner_name = self._workload(entry)
        return (entry.namespace, entry.name, entry.node, owner_kind, owner_name, *self._dim_values(entry))

    def skipped_counts(self) -> dict[tuple[str, str], int]:
        """Objects this shard would serve that are left out, by (kind, reason); pods on
        unknown nodes included."""
        counts: dict[tuple[str, str], int] = {}
        owns = self.shard.owns  # each shard counts its own objects, so shards sum to the whole
        for key, (kind, reason) in self._skipped.items():
            if owns(key):
                counts[kind, reason] = counts.get((kind, reason), 0) + 1
        orphans = sum(
            sum(1 for key in r.pods if owns(key)) for name, r in self._reserved.items() if name not in self._nodes
        )
        if orphans:
            counts["Pod", "node_not_found"] = orphans
        return counts

    def info_families(self) -> Iterator[MetricFamily]:
        """Per-deployment families: pricing and build info, budgets, the engine's health."""
        yield MetricFamily(
            "gpucost_pricing_info", "gauge",
            "Pricing in effect; value 1. Every cost series is in this currency.",
            [((("currency", self.pricing.currency), ("source", self.pricing.source),
               ("catalog_date", catalog.CATALOG_DATE if self.pricing.builtin_catalog else "")), 1)],
        )
        yield MetricFamily("gpucost_build_info", "gauge", "gpucost build; value 1.",
                           [((("version", __version__),), 1)])
        if self.pricing.budgets:
            yield MetricFamily(
                "gpucost_budget_per_month", "gauge",
                f"Monthly budget from the pricing file, in {self.pricing.currency} per month.",
                [((("budget", b.name), ("dimension", b.dimension), (b.dimension, b.value),
                   ("resource", b.resource)), b.monthly) for b in self.pricing.budgets],
            )
        yield MetricFamily(
            "gpucost_objects_skipped", "gauge",
            "Objects currently left out of the cost model, by kind and reason (see the log).",
            [((("kind", k), ("reason", r)), n) for (k, r), n in sorted(self.skipped_counts().items())],
        )
        yield MetricFamily(
            "gpucost_objects_skipped_total", "counter",
            "Times an object was left out of the cost model (malformed quantity, undecodable object), by kind and reason.",
            [((("kind", k), ("reason", r)), n) for (k, r), n in sorted(self._skip_events.items())],
        )
        yield MetricFamily(
            "gpucost_overcommitted_nodes", "gauge",
            "Nodes whose reservations exceed allocatable, so their pods' costs of that resource are scaled down.",
            [((("resource", r),), len(self._overcommitted[r])) for r in RESOURCES],
        )
        yield MetricFamily(
            "gpucost_last_update_timestamp_seconds", "gauge",
            "Unix time the cost model was last known current: files loaded, or (live) the oldest "
            "of the watched resources' last list, event or bookmark.",
            [((), self.confirmed() if self.confirmed is not None else self.last_update)],
        )

    def families(self) -> tuple[BlockedFamily, ...]:
        """The per-object families, in exposition order (call flush() first)."""
        return self._pod_families + self._node_families

    def tail(self, extra: Iterable[MetricFamily] = (), started: float | None = None) -> bytes:
        """The small families rendered per scrape; the scrape duration counts from `started`."""
        parts = [render_family(f) for f in self.info_families()]
        parts.extend(render_family(f) for f in extra)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        parts.append(render_family(MetricFamily(
            "gpucost_scrape_duration_seconds", "gauge", "Seconds spent building this exposition.",
            [((), elapsed)],
        )))
        return "".join(parts).encode()

    def render_bytes(self, extra: Iterable[MetricFamily] = ()) -> bytes:
        """The whole exposition: per-object families, then info and self-metrics."""
        started = time.perf_counter()
        self.flush()
        body = b"".join(f.text() for f in self.families())
        return body + self.tail(extra, started)

    def render(self, extra: Iterable[MetricFamily] = ()) -> str:
        """The whole exposition as text (--once, tests)."""
        return self.render_bytes(extra).decode()

"""The cluster as the cost model sees it, kept current incrementally, with pre-rendered series.

Sources (snapshot files, the Kubernetes watch) call `upsert`, `delete` and `replace`. Each call
updates the node's running reservation sums and marks what must be recomputed; `flush()` then
recomputes only the dirty nodes' rates and the dirty pods' costs and re-renders their lines.
A pod change therefore costs one pod and one node; a node change costs that node and its pods.
A scrape (`render`) joins the pre-rendered lines family by family.

Concerns live in their own modules: `records` (the pod, node and reservation records),
`nodeinfo` (a Node priced), `workloads` (owner chains and dimension labels), `dra` (slices and
claims), `allocators` (DRA, HAMi, KAI shares of a pod), `rendering` (families and lines),
`keys` (object keys, shards), `relist` (streamed full lists), `skipped` (objects left out),
`samples` (samples computed afresh, the check on the cached text). This class does the
bookkeeping between them: running sums, what is dirty.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from itertools import chain, islice
from zlib import crc32

from .allocators import NVIDIA_GPU, read_pod_sources
from .costs import RESOURCES, NodeCost, PodCost, node_cost, node_rates, pod_cost
from .exposition import BLOCKS, BlockedFamily, MetricFamily
from .gpu import is_gpu_resource
from .keys import Shard, object_key, pod_key
from .nodeinfo import GpuInventories, InvalidNode, NvmlInventory, capacity_type, describe_node
from .objects import Node, Pod, object_name
from .pricing import PricingConfig
from .quantity import QuantityError, value
from .records import NodeEntry, PodEntry, Reserved
from .relist import CONTROLLER_KINDS, Relist, Sink
from .rendering import NODE_FAMILIES, POD_FAMILIES, Renderer, info_families, scrape_tail
from .requests import RequestError, pod_requests, simple_requests
from .samples import fresh_series
from .shares import SharedGpus, may_use_allocators
from .skipped import Skipped
from .workloads import Workloads

__all__ = ["NODE_FAMILIES", "POD_FAMILIES", "CostState", "Shard", "capacity_type", "pod_key"]

_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
_NO_OWNER = ("", "", "")
_LWS_NAME = "leaderworkerset.sigs.k8s.io/name"
_NO_GPUS: dict[str, int] = {}
_NO_SHARES: dict[str, Fraction] = {}
_WHOLE = Shard()  # one process serves every series


class CostState:
    """The incremental cost engine. Not thread-safe: one event loop owns it."""

    def __init__(
        self,
        pricing: PricingConfig,
        *,
        shard: Shard = _WHOLE,
        clock: Callable[[], float] = time.time,
        nvml_inventory: NvmlInventory | None = None,
    ) -> None:
        self.pricing = pricing
        self.shard = shard
        self._clock = clock
        self._nvml = nvml_inventory
        self._inventories = GpuInventories()  # node GPU inventories by shape
        self._workloads = Workloads(pricing.labels)
        self._render = Renderer(pricing, self._workloads)
        self._shares = SharedGpus()  # DRA index, claim users, KAI groups, stale pods
        self._nodes: dict[str, NodeEntry] = {}
        self._pods: dict[str, PodEntry] = {}  # by pod_key(namespace, name)
        self._reserved: dict[str, Reserved] = {}
        self._node_names: dict[str, str] = {}  # names of the nodes in _reserved, shared by their pods
        self._left_out = Skipped()
        self._skipped = self._left_out.by_key  # the same dict: the pod path asks it directly
        # insertion-ordered sets (dicts), so the exposition order does not depend on hashing
        self._dirty_nodes: dict[str, None] = {}
        self._dirty_pods: dict[str, None] = {}
        #: No flush has taken dirty pods yet, so every pod is dirty (a pod is marked when it
        #: arrives): the first flush after a cold sync need not mark a node's pods again.
        self._all_pods_dirty = True
        self._overcommitted: dict[str, set[str]] = {r: set() for r in RESOURCES}
        #: When sources can vouch for freshness (live watches), the time they last did.
        self.confirmed: Callable[[], float] | None = None
        self.last_update = 0.0

    # ------------------------------------------------------------------ sink interface

    def upsert(self, kind: str, obj: Sink) -> None:
        """Add or update one object (wire kind: Node, Pod, Namespace, ReplicaSet, Job,
        ResourceClaim, ResourceSlice)."""
        if kind == "Pod":
            self._upsert_pod(obj)  # type: ignore[arg-type]
        elif kind == "Node":
            self._upsert_node(obj)  # type: ignore[arg-type]
        elif kind == "Namespace":
            self._dirty_pods |= self._workloads.upsert_namespace(obj.metadata)
        elif kind in CONTROLLER_KINDS:
            self._dirty_pods |= self._workloads.upsert_controller(kind, self._key(kind, obj.metadata), obj.metadata)
        elif kind == "ResourceClaim":
            key = self._key(kind, obj.metadata)
            if self._shares.dra.upsert_claim(key, obj):  # type: ignore[arg-type]
                self._shares.claim_changed(key)
        elif kind == "ResourceSlice":
            self._slice_changed(self._shares.dra.upsert_slice(self._key(kind, obj.metadata), obj))  # type: ignore[arg-type]

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
        self._left_out.add(kind, key, reason, message)

    # ------------------------------------------------------------------ keys

    _key = staticmethod(object_key)

    def _keys_of(self, kind: str) -> Iterable[str]:
        """The keys of one kind in the state, skipped objects included (read before changing)."""
        skipped = self._left_out.keys_of(kind)
        if kind == "Pod":
            return chain(self._pods, skipped) if skipped else self._pods.keys()
        if kind == "Node":
            return set(self._nodes) | skipped
        if kind == "Namespace":
            return set(self._workloads.ns_labels)
        if kind == "ResourceClaim":
            return set(self._shares.dra.claims) | skipped
        if kind == "ResourceSlice":
            return self._shares.dra.slice_keys() | skipped
        return self._workloads.controller_keys(kind) | skipped

    def _delete_key(self, kind: str, key: str) -> None:
        self._skipped.pop(key, None)
        if kind == "Pod":
            self._remove_pod(key)
        elif kind == "Node":
            if self._nodes.pop(key, None) is not None:
                self._dirty_nodes[key] = None
        elif kind == "Namespace":
            self._dirty_pods |= self._workloads.delete_namespace(key)
        elif kind in CONTROLLER_KINDS:
            self._dirty_pods |= self._workloads.delete_controller(key)
        elif kind == "ResourceClaim":
            if self._shares.dra.delete_claim(key):
                self._shares.claim_changed(key)
        elif kind == "ResourceSlice":
            self._slice_changed(self._shares.dra.delete_slice(key))

    # ------------------------------------------------------------------ pods

    def _upsert_pod(self, pod: Pod) -> str:
        """Apply one pod; its key. The hot path of every sync and watch: a pod that changes
        nothing the cost model reads returns before anything is allocated or interned."""
        meta = pod.metadata
        namespace = meta.namespace or "default"
        key = f"{namespace}/{meta.name}"  # pod_key, inline: this runs for every pod
        node = pod.spec.node_name
        if not node or pod.status.phase in _TERMINAL_PHASES:
            if self._skipped:
                self._skipped.pop(key, None)
            self._remove_pod(key)  # unbound or finished: holds nothing
            return key
        if not meta.name:  # no name, no series: an empty pod="" label would collide
            self.skip("Pod", key, "invalid_value", f"a Pod in namespace {namespace!r} on node {node!r} has no metadata.name")
            return key
        try:
            spec = pod.spec  # pod_requests' one-pass path, asked directly (one call less a pod)
            amounts = simple_requests(pod) if spec.resources is None and not spec.overhead else None
            if amounts is None:
                amounts = pod_requests(pod)
        except RequestError as exc:
            self._remove_pod(key)
            self.skip("Pod", key, "invalid_quantity", f"{object_name('Pod', meta)}: {exc}")
            return key
        if self._skipped:
            self._skipped.pop(key, None)
        owner_kind, owner_name, owner_uid = _NO_OWNER
        refs = meta.owner_references
        if refs:
            for ref in refs:
                if ref.controller:
                    owner_kind, owner_name, owner_uid = ref.kind, ref.name, ref.uid
                    break
        labels = meta.labels
        if labels and owner_kind == "StatefulSet" and _LWS_NAME in labels:
            # LeaderWorkerSet pods are owned by StatefulSets the LWS owns; StatefulSets are
            # not watched (RBAC stays minimal), but the LWS controller labels its pods.
            owner_kind, owner_name = "LeaderWorkerSet", labels[_LWS_NAME]
        group_key = (namespace, owner_uid, owner_kind, owner_name, self._workloads.pod_dims(labels))
        # milli_value and value, inline: amounts in nano-units rounded up
        cpu_m = -(-amounts["cpu"] // 1_000_000) if "cpu" in amounts else 0
        memory_b = -(-amounts["memory"] // 1_000_000_000) if "memory" in amounts else 0
        if len(amounts) > ("cpu" in amounts) + ("memory" in amounts):  # anything else may be a GPU
            gpu_units = {
                name: value(amount) for name, amount in amounts.items() if amount > 0 and is_gpu_resource(name)
            } or _NO_GPUS
        else:
            gpu_units = _NO_GPUS
        sources: tuple[object, ...] = ()
        if may_use_allocators(pod, namespace, amounts):
            sources = read_pod_sources(pod, namespace, gpu_units)
        uid = meta.uid if sources else ""
        entry = self._pods.get(key)
        if entry is not None:
            if (
                entry.node == node and entry.cpu_m == cpu_m and entry.memory_b == memory_b
                and entry.gpu_units == gpu_units and entry.group.key == group_key
                and entry.gpu_sources == sources and (not sources or self._shares.uid(key) == uid)
            ):
                return key  # a status-only change (conditions, restarts): nothing to recompute
            self._unreserve(entry)
            if entry.gpu_sources:
                self._shares.unlink(entry)
            self._workloads.leave(key, entry.group)
            entry.group = self._workloads.join(key, group_key)
            # One shared string per node, not one per pod: a dict of the nodes' names is
            # smaller (faster to search) than the interpreter's table of interned strings.
            entry.node = self._node_names.setdefault(node, node)
            entry.cpu_m = cpu_m
            entry.memory_b = memory_b
            entry.gpu_units = gpu_units
            entry.gpu_sources = sources
        else:  # every pod of a cold sync: one constructor call, block_of(key) inline, and
            # every field given (a Struct copies its empty-dict defaults: two dicts per pod that
            # _reserve would replace at once)
            entry = self._pods[key] = PodEntry(
                key, crc32(key.encode()) % BLOCKS, self._workloads.join(key, group_key),
                self._node_names.setdefault(node, node), cpu_m, memory_b, gpu_units, sources, gpu_units, _NO_SHARES,
            )
        if sources:
            self._shares.link(entry, uid)
        if sources or gpu_units:
            self._reserve(entry)
        else:  # _reserve, inline for the pod without GPUs (most of a sync)
            name = entry.node
            r = self._reserved.get(name)
            if r is None:
                r = self._reserved[name] = Reserved()
            entry.held_units = gpu_units
            entry.gpu_shares = _NO_SHARES
            r.cpu_m += cpu_m
            r.memory_b += memory_b
            r.pods[key] = None
            self._dirty_nodes[name] = None
        self._dirty_pods[key] = None
        return key

    def _reserve(self, entry: PodEntry) -> None:
        name = entry.node
        r = self._reserved.get(name)
        if r is None:
            r = self._reserved[name] = Reserved()
        units = entry.gpu_units
        if entry.gpu_sources or (units and NVIDIA_GPU in units and self._on_hami(name)):
            entry.held_units, entry.gpu_shares = self._shares.resolve(entry, self._nodes.get(name), self._pods)
            r.allocated[entry.key] = None
            for share in entry.gpu_shares.values():
                r.gpu_shares = r.gpu_shares + share if r.gpu_shares else share  # 0 + x is x
        else:
            entry.held_units = units
            entry.gpu_shares = _NO_SHARES
        r.cpu_m += entry.cpu_m
        r.memory_b += entry.memory_b
        if entry.held_units:
            gpu_units = r.gpu_units
            for resource, n in entry.held_units.items():
                gpu_units[resource] = gpu_units.get(resource, 0) + n
        r.pods[entry.key] = None
        self._dirty_nodes[name] = None

    def _on_hami(self, name: str) -> bool:
        node = self._nodes.get(name)
        return node is not None and bool(node.allocators.hami)

    def _unreserve(self, entry: PodEntry) -> None:
        r = self._reserved[entry.node]
        r.cpu_m -= entry.cpu_m
        r.memory_b -= entry.memory_b
        for name, units in entry.held_units.items():
            left = r.gpu_units[name] - units
            if left:
                r.gpu_units[name] = left
            else:
                del r.gpu_units[name]
        for share in entry.gpu_shares.values():
            r.gpu_shares -= share
        r.pods.pop(entry.key, None)
        r.allocated.pop(entry.key, None)
        if not r.pods and entry.node not in self._nodes:
            del self._reserved[entry.node]
            self._node_names.pop(entry.node, None)
        self._dirty_nodes[entry.node] = None

    def _remove_pod(self, key: str) -> None:
        entry = self._pods.pop(key, None)
        if entry is None:
            return
        self._unreserve(entry)
        if entry.gpu_sources:
            self._shares.unlink(entry)
        self._workloads.leave(key, entry.group)
        self._dirty_pods[key] = None

    # ------------------------------------------------------------------ allocators

    def _slice_changed(self, nodes: set[str]) -> None:
        """Slices changed on these nodes: their GPU inventory and their DRA pods' shares."""
        for name in nodes:
            entry = self._nodes.get(name)
            if entry is not None:
                self._upsert_node(entry.obj)  # type: ignore[arg-type]
            r = self._reserved.get(name)
            if r is not None:
                self._shares.stale |= r.allocated

    def _resolve_stale(self) -> None:
        """Re-resolve allocator shares: KAI fractions before the reservation pods that pay
        what they leave."""
        while self._shares.stale:
            for entry in self._shares.take_stale(self._pods):
                self._re_reserve(entry)

    def _re_reserve(self, entry: PodEntry) -> None:
        before = (entry.held_units, entry.gpu_shares)
        self._unreserve(entry)
        self._reserve(entry)
        if (entry.held_units, entry.gpu_shares) != before:
            self._dirty_pods[entry.key] = None
            self._shares.share_changed(entry, self._pods)

    # ------------------------------------------------------------------ nodes

    def _upsert_node(self, node: Node) -> None:
        name = node.metadata.name
        old = self._nodes.get(name)
        try:
            entry = describe_node(
                node, self.pricing, nvml=self._nvml, dra=self._shares.dra.node_inventory(name), previous=old,
                inventories=self._inventories,
            )
        except QuantityError as exc:
            if self._nodes.pop(name, None) is not None:
                self._dirty_nodes[name] = None
            reason = "invalid_value" if isinstance(exc, InvalidNode) else "invalid_quantity"
            self.skip("Node", name, reason, f"{object_name('Node', node.metadata)}: status: {exc}")
            return
        self._skipped.pop(name, None)
        # The state's one string of this name, the Node's own: its pods' entries hold the same
        # object, so their lookups in these tables match by identity, not by comparing text.
        name = self._node_names.setdefault(name, name)
        self._nodes[name] = entry
        r = self._reserved.get(name)
        if r is None:
            r = self._reserved[name] = Reserved()
        self._dirty_nodes[name] = None
        if r.allocated or (entry.allocators.hami and r.pods):
            # Shares depend on the node (HAMi devices, GPU memory, unit weights): resolve again.
            self._shares.stale |= r.pods if entry.allocators.hami else r.allocated

    def reprice(self, pricing: PricingConfig) -> None:
        """Swap in reloaded prices (same currency and dimension labels) and re-price every node;
        pods, reservations and watches are untouched."""
        self.pricing = pricing
        self.refresh_nodes()

    def refresh_nodes(self) -> None:
        """Re-derive every node's GPU inventory and price (e.g. after an NVML re-read)."""
        for entry in list(self._nodes.values()):
            self._upsert_node(entry.obj)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ recompute

    def flush(self, budget: int | None = None) -> bool:
        """Recompute dirty nodes and pods and re-render their series; True when nothing is
        left. With a `budget`, render at most that many pods, so a caller on the event loop
        can yield between slices (after a 150,000-pod sync a full flush takes seconds)."""
        if self._shares.stale:
            self._resolve_stale()
        worked = bool(self._dirty_nodes or self._dirty_pods)
        if self._dirty_nodes:
            dirty_nodes, self._dirty_nodes = self._dirty_nodes, {}
            for name in dirty_nodes:
                self._refresh_node(name, self._dirty_pods)
        dirty_pods = self._dirty_pods
        if budget is None or budget >= len(dirty_pods):
            self._dirty_pods = {}
            self._all_pods_dirty = False
            keys: Iterable[str] = dirty_pods
        else:
            keys = list(islice(dirty_pods, budget))
            for key in keys:
                del dirty_pods[key]
            self._all_pods_dirty = False
        self._render.render_pods(keys, self._pods, self._nodes, self.shard.owns if self.shard.total > 1 else None)
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
            self._render.drop_node(name)
            if r is not None:
                dirty_pods |= r.pods  # their node is gone: drop their series
                if not r.pods:
                    del self._reserved[name]
                    self._node_names.pop(name, None)
            return
        assert r is not None
        rates = node_rates(
            entry.price, entry.gpus, entry.alloc_cpu_m, entry.alloc_memory_b, r.cpu_m, r.memory_b,
            r.gpu_units, r.gpu_shares,
        )
        old = entry.rates
        # Rates compare their GPUs without the per-node weights (NodeGpus.inferred and
        # .overrides): a reload that only changes gpu_weights must re-cost the pods too.
        if rates != old or rates.gpus.overrides != old.gpus.overrides or rates.gpus.inferred != old.gpus.inferred:
            entry.rates = rates
            if not self._all_pods_dirty:
                dirty_pods |= r.pods
        cost = self.node_cost(name)
        if self.shard.owns(name):  # counted by the shard that serves the node, so shards sum to the whole
            for res in cost.overcommitted:
                self._overcommitted[res].add(name)
            self._render.render_node(entry, cost, idle_only=entry.rendered)
            entry.rendered = True
        else:
            self._render.drop_node(name)

    def node_cost(self, name: str) -> NodeCost:
        """A node's hourly cost and idle cost by resource (call flush() first)."""
        entry = self._nodes[name]
        r = self._reserved[name]
        return node_cost(
            entry.price, entry.gpus, entry.alloc_cpu_m, entry.alloc_memory_b, r.cpu_m, r.memory_b,
            r.gpu_units, r.gpu_shares,
        )

    def pod_cost(self, key: str) -> PodCost | None:
        """A counted pod's hourly costs (call flush() first); None if not costed."""
        entry = self._pods.get(key)
        node = self._nodes.get(entry.node) if entry is not None else None
        if entry is None or node is None or node.rates is None:
            return None
        return pod_cost(node.rates, entry.cpu_m, entry.memory_b, entry.held_units, entry.gpu_shares)

    # ------------------------------------------------------------------ reading out

    def series(self) -> Iterator[tuple[str, Sequence[tuple[str, str]], float]]:
        """Every per-object sample this shard serves, as (family, labels, value), computed
        afresh from the state (see `samples.fresh_series`)."""
        self.flush()
        return fresh_series(self._pods, self._nodes, self._workloads, self.node_cost, self.shard.owns)

    def skipped_counts(self) -> dict[tuple[str, str], int]:
        """Objects this shard would serve that are left out, by (kind, reason); pods on
        unknown nodes included (each shard counts its own, so shards sum to the whole)."""
        return self._left_out.counts(self.shard.owns, self._reserved, self._nodes)

    def info_families(self) -> Iterator[MetricFamily]:
        """Per-deployment families: pricing and build info, budgets, the engine's health."""
        return info_families(
            self.pricing, self.skipped_counts(), self._left_out.events, self._overcommitted,
            lambda: self.confirmed() if self.confirmed is not None else self.last_update,
        )

    def families(self) -> tuple[BlockedFamily, ...]:
        """The per-object families, in exposition order (call flush() first)."""
        return self._render.families()

    def tail(self, extra: Iterable[MetricFamily] = (), started: float | None = None) -> bytes:
        """The small families rendered per scrape; the scrape duration counts from `started`."""
        return scrape_tail(self.info_families(), extra, started)

    def render_bytes(self, extra: Iterable[MetricFamily] = ()) -> bytes:
        """The whole exposition: per-object families, then info and self-metrics."""
        started = time.perf_counter()
        self.flush()
        body = b"".join(f.text() for f in self.families())
        return body + self.tail(extra, started)

    def render(self, extra: Iterable[MetricFamily] = ()) -> str:
        """The whole exposition as text (--once, tests)."""
        return self.render_bytes(extra).decode()

"""Who a pod belongs to: its top-level workload (through ReplicaSets and Jobs) and its dimension
labels (team, product, customer, ...: the pod's own label, else its namespace's).

Pods that share a namespace, a controller and their own dimension values share one `PodGroup`:
the owner chain and the labels after `node` are resolved and rendered once per group. Groups are
indexed by namespace and by owner, which says which pods a namespace or controller change
touches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import msgspec

from .exposition import escape_label_value
from .objects import ObjectMeta
from .records import GroupKey, PodGroup, group_of

Pods = dict[str, None]  # an insertion-ordered set of pod keys


def first_label(labels: Mapping[str, str], keys: Iterable[str]) -> str:
    for k in keys:
        v = labels.get(k)
        if v is not None:
            return v
    return ""


def controller_ref(meta: ObjectMeta) -> tuple[str, str, str] | None:
    for ref in meta.owner_references or ():
        if ref.controller:
            return ref.kind, ref.name, ref.uid
    return None


class _Controller(msgspec.Struct, gc=False):
    """A ReplicaSet or Job as the owner chain needs it. Not tracked by the cyclic garbage
    collector: at 150,000 pods there are tens of thousands, and every full collection during
    a sync would walk them all."""

    kind: str
    name: str
    owner: tuple[str, str, str] | None


class Workloads:
    """Owner chains and dimension labels, and the pods each namespace and controller holds."""

    def __init__(self, dims: Mapping[str, tuple[str, ...]]) -> None:
        self.dims = tuple(dims.items())
        self.dim_keys = frozenset(k for _, keys in self.dims for k in keys)
        self.dim_names = tuple(label for label, _ in self.dims)
        #: Dimension values found on a pod's own labels ("" = ask the namespace), by a reader
        #: made for these dimensions: every pod of a sync is read.
        self.pod_dims: Callable[[Mapping[str, str] | None], tuple[str, ...]] = _dims_reader(self.dims)
        self.controllers: dict[str, _Controller] = {}
        self.ns_labels: dict[str, dict[str, str]] = {}
        self._groups: dict[GroupKey, PodGroup] = {}
        self._groups_by_ns: dict[str, dict[GroupKey, PodGroup]] = {}
        self._groups_by_owner: dict[str, dict[GroupKey, PodGroup]] = {}
        #: The group the last pod joined: a list returns a controller's pods one after another
        #: (by namespace and name), so most pods of a sync find their group by comparing its
        #: labels, without hashing them. Always a group in the indexes (or None).
        self._last: PodGroup | None = None

    # --- pods --------------------------------------------------------------------------------

    def join(self, key: str, group_key: GroupKey) -> PodGroup:
        """Add a pod to the group of these labels (made on the group's first pod)."""
        group = self._last
        if group is None or group.key != group_key:
            group = self._groups.get(group_key)
            if group is None:
                group = self._groups[group_key] = group_of(group_key)
                self._groups_by_ns.setdefault(group.namespace, {})[group_key] = group
                if group.owner_uid:
                    self._groups_by_owner.setdefault(group.owner_uid, {})[group_key] = group
            self._last = group
        group.pods[key] = None
        return group

    def leave(self, key: str, group: PodGroup) -> None:
        """Take a pod out of its group; the last one out removes the group."""
        group.pods.pop(key, None)
        if not group.pods and self._groups.get(group.key) is group:
            del self._groups[group.key]
            if self._last is group:
                self._last = None
            _index_remove(self._groups_by_ns, group.namespace, group.key)
            if group.owner_uid:
                _index_remove(self._groups_by_owner, group.owner_uid, group.key)

    # --- namespaces and controllers: each returns the pods whose labels may change -------------

    def upsert_namespace(self, meta: ObjectMeta) -> Pods:
        labels = {k: v for k, v in (meta.labels or {}).items() if k in self.dim_keys}
        if meta.name in self.ns_labels and self.ns_labels[meta.name] == labels:
            return {}
        self.ns_labels[meta.name] = labels
        return _relabel(self._groups_by_ns.get(meta.name))

    def delete_namespace(self, name: str) -> Pods:
        if self.ns_labels.pop(name, None) is None:
            return {}
        return _relabel(self._groups_by_ns.get(name))

    def upsert_controller(self, kind: str, key: str, meta: ObjectMeta) -> Pods:
        owner = controller_ref(meta)
        old = self.controllers.get(key)
        if old is not None and (old.kind, old.name, old.owner) == (kind, meta.name, owner):
            return {}
        self.controllers[key] = _Controller(kind, meta.name, owner)
        return _relabel(self._groups_by_owner.get(key))

    def delete_controller(self, key: str) -> Pods:
        if self.controllers.pop(key, None) is None:
            return {}
        return _relabel(self._groups_by_owner.get(key))

    def controller_keys(self, kind: str) -> set[str]:
        return {k for k, c in self.controllers.items() if c.kind == kind}

    # --- what a pod's series say ---------------------------------------------------------------

    def workload(self, group: PodGroup) -> tuple[str, str]:
        """The pods' top-level controller: Pod→ReplicaSet→Deployment, Pod→Job→CronJob, …"""
        kind, name, uid = group.owner_kind, group.owner_name, group.owner_uid
        for _ in range(8):  # owner chains are short; a cycle must not hang the exporter
            ctrl = self.controllers.get(uid)
            if ctrl is None or ctrl.owner is None:
                break
            kind, name, uid = ctrl.owner
        return kind, name

    def dim_values(self, group: PodGroup) -> tuple[str, ...]:
        """Dimension label values: the pod's own label, else its namespace's."""
        ns_labels = self.ns_labels.get(group.namespace) or {}
        return tuple(
            v or first_label(ns_labels, keys) for (_, keys), v in zip(self.dims, group.dims, strict=True)
        )

    def labels_text(self, group: PodGroup) -> str:
        """`,owner_kind="…",owner_name="…",team="…"`: the group's labels after `node`, escaped
        (cached on the group until its owner chain or namespace changes)."""
        text = group.text
        if text is None:
            kind, name = self.workload(group)
            text = f',owner_kind="{escape_label_value(kind)}",owner_name="{escape_label_value(name)}"'
            if self.dims:  # dim_values, inline: one group in ten pods renders here in a sync
                ns_labels = self.ns_labels.get(group.namespace) or {}
                for (label, keys), v in zip(self.dims, group.dims, strict=True):
                    text += f',{label}="{escape_label_value(v or first_label(ns_labels, keys))}"'
            group.text = text
        return text


def _dims_reader(dims: tuple[tuple[str, tuple[str, ...]], ...]) -> Callable[[Mapping[str, str] | None], tuple[str, ...]]:
    """A function from a pod's labels to its dimension values. The common configurations (up to
    three dimensions, one Kubernetes key each) get a reader without a loop: a quarter of the
    time of the general one, per pod."""
    none = ("",) * len(dims)
    keys = tuple(k[0] for _, k in dims)
    if all(len(k) == 1 for _, k in dims) and len(keys) <= 3:
        if not keys:
            return lambda labels: none
        if len(keys) == 1:
            (a,) = keys
            return lambda labels: (labels.get(a, ""),) if labels else none
        if len(keys) == 2:
            a, b = keys
            return lambda labels: (labels.get(a, ""), labels.get(b, "")) if labels else none
        a, b, c = keys
        return lambda labels: (labels.get(a, ""), labels.get(b, ""), labels.get(c, "")) if labels else none

    def read(labels: Mapping[str, str] | None) -> tuple[str, ...]:
        if not labels:
            return none
        return tuple([first_label(labels, keys) for _, keys in dims])

    return read


def _relabel(groups: Mapping[GroupKey, PodGroup] | None) -> Pods:
    """The pods of these groups, whose labels are rendered again (and the groups' text too)."""
    pods: Pods = {}
    for group in (groups or {}).values():
        group.text = None
        pods.update(group.pods)
    return pods


def _index_remove(index: dict[str, dict[GroupKey, PodGroup]], by: str, key: GroupKey) -> None:
    members = index.get(by)
    if members is not None:
        members.pop(key, None)
        if not members:
            del index[by]

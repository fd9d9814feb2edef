"""Who a pod belongs to: its top-level workload (through ReplicaSets and Jobs) and its dimension
labels (team, product, customer, ...: the pod's own label, else its namespace's). Keeps the
indexes that say which pods a namespace or controller change touches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .exposition import escape_label_value
from .objects import ObjectMeta
from .records import PodEntry

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


class _Controller:
    __slots__ = ("kind", "name", "owner")

    def __init__(self, kind: str, name: str, owner: tuple[str, str, str] | None) -> None:
        self.kind, self.name, self.owner = kind, name, owner


class Workloads:
    """Owner chains and dimension labels, and the pods each namespace and controller holds."""

    def __init__(self, dims: Mapping[str, tuple[str, ...]]) -> None:
        self.dims = tuple(dims.items())
        self.dim_keys = frozenset(k for _, keys in self.dims for k in keys)
        self.no_dims = ("",) * len(self.dims)
        self.dim_names = tuple(label for label, _ in self.dims)
        # the common case, one Kubernetes key per dimension, takes a faster path
        self.first_keys = (
            tuple(keys[0] for _, keys in self.dims) if all(len(k) == 1 for _, k in self.dims) else None
        )
        self.controllers: dict[str, _Controller] = {}
        self.ns_labels: dict[str, dict[str, str]] = {}
        self._pods_by_ns: dict[str, Pods] = {}
        self._pods_by_owner: dict[str, Pods] = {}
        # (namespace, pod's own dimension values) -> rendered dimension labels
        self._dims_text: dict[tuple[str, tuple[str, ...]], str] = {}

    # --- pods --------------------------------------------------------------------------------

    def pod_dims(self, labels: Mapping[str, str] | None) -> tuple[str, ...]:
        """Dimension values found on the pod itself ("" = ask the namespace)."""
        if not labels:
            return self.no_dims
        if self.first_keys is not None:
            return tuple([labels.get(k, "") for k in self.first_keys])
        return tuple([first_label(labels, keys) for _, keys in self.dims])

    def add_pod(self, key: str, namespace: str, owner_uid: str) -> None:
        self._pods_by_ns.setdefault(namespace, {})[key] = None
        if owner_uid:
            self._pods_by_owner.setdefault(owner_uid, {})[key] = None

    def remove_pod(self, key: str, namespace: str, owner_uid: str) -> None:
        _index_remove(self._pods_by_ns, namespace, key)
        if owner_uid:
            _index_remove(self._pods_by_owner, owner_uid, key)

    # --- namespaces and controllers: each returns the pods whose labels may change -------------

    def upsert_namespace(self, meta: ObjectMeta) -> Pods:
        labels = {k: v for k, v in (meta.labels or {}).items() if k in self.dim_keys}
        if meta.name in self.ns_labels and self.ns_labels[meta.name] == labels:
            return {}
        self.ns_labels[meta.name] = labels
        self._forget_dims(meta.name)
        return self._pods_by_ns.get(meta.name, {})

    def delete_namespace(self, name: str) -> Pods:
        if self.ns_labels.pop(name, None) is None:
            return {}
        self._forget_dims(name)
        return self._pods_by_ns.get(name, {})

    def upsert_controller(self, kind: str, key: str, meta: ObjectMeta) -> Pods:
        owner = controller_ref(meta)
        old = self.controllers.get(key)
        if old is not None and (old.kind, old.name, old.owner) == (kind, meta.name, owner):
            return {}
        self.controllers[key] = _Controller(kind, meta.name, owner)
        return self._pods_by_owner.get(key, {})

    def delete_controller(self, key: str) -> Pods:
        if self.controllers.pop(key, None) is None:
            return {}
        return self._pods_by_owner.get(key, {})

    def controller_keys(self, kind: str) -> set[str]:
        return {k for k, c in self.controllers.items() if c.kind == kind}

    # --- what a pod's series say ---------------------------------------------------------------

    def workload(self, entry: PodEntry) -> tuple[str, str]:
        """The pod's top-level controller: Pod→ReplicaSet→Deployment, Pod→Job→CronJob, …"""
        kind, name, uid = entry.owner_kind, entry.owner_name, entry.owner_uid
        for _ in range(8):  # owner chains are short; a cycle must not hang the exporter
            ctrl = self.controllers.get(uid)
            if ctrl is None or ctrl.owner is None:
                break
            kind, name, uid = ctrl.owner
        return kind, name

    def dim_values(self, entry: PodEntry) -> tuple[str, ...]:
        """Dimension label values: the pod's own label, else its namespace's."""
        ns_labels = self.ns_labels.get(entry.namespace) or {}
        return tuple(
            v or first_label(ns_labels, keys) for (_, keys), v in zip(self.dims, entry.dims, strict=True)
        )

    def dims_text(self, entry: PodEntry) -> str:
        """`,team="a",product="b"` for the pod (cached per namespace and own values)."""
        text = self._dims_text.get((entry.namespace, entry.dims))
        if text is None:
            text = self._dims_text[entry.namespace, entry.dims] = "".join(
                f',{label}="{escape_label_value(v)}"'
                for label, v in zip(self.dim_names, self.dim_values(entry), strict=True)
            )
        return text

    def _forget_dims(self, namespace: str) -> None:
        for cached in [k for k in self._dims_text if k[0] == namespace]:
            del self._dims_text[cached]


def _index_remove(index: dict[str, Pods], group: str, key: str) -> None:
    members = index.get(group)
    if members is not None:
        members.pop(key, None)
        if not members:
            del index[group]

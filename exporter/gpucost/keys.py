"""Which object is which, and which this process serves: every object of a kind has one key in
the state, and a shard serves the series whose key hashes to it."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .objects import ObjectMeta


def pod_key(namespace: str, name: str) -> str:
    """A pod's key in the state (and in `pod_cost`): `namespace/name`."""
    return f"{namespace}/{name}"


def object_key(kind: str, meta: ObjectMeta) -> str:
    """An object's key in the state: the name of cluster-scoped objects, namespace/name of pods
    and claims, the UID of controllers."""
    if kind in ("Node", "Namespace", "ResourceSlice"):
        return meta.name
    if kind in ("Pod", "ResourceClaim"):
        # A pod is its namespace and name: a replacement with a new UID replaces it (the
        # API server never holds two), so one pod never yields two sets of series. Pods
        # name their claims: those are keyed by name too.
        return pod_key(meta.namespace or "default", meta.name)
    return meta.uid or f"{meta.namespace or 'default'}/{meta.name}"


@dataclass(frozen=True)
class Shard:
    """This process's share of the series: pods by key (namespace/name) hash, nodes by name hash."""

    index: int = 0
    total: int = 1

    def owns(self, key: str) -> bool:
        return self.total == 1 or zlib.crc32(key.encode()) % self.total == self.index

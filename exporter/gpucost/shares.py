"""Who shares which GPUs outside device-plugin units, and what each pod's share is now.

Pods with allocator sources (allocators.py: DRA claims, HAMi vGPUs, KAI fractions) hold
shares that depend on other objects: a claim's allocation and the other pods it is reserved
for, the node (HAMi devices, GPU memory, unit weights), the KAI fractions of a reservation
pod's group. This book keeps the indexes from those objects to the pods they touch, marks pods
*stale* when one changes, and resolves a pod's units and shares on request. The engine (state.py)
moves the resolved amounts in and out of its node sums.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

from .allocators import (
    HAMI_ALLOCATED,
    HAMI_RESOURCES,
    KAI_RESERVATION_NAMESPACES,
    KAI_RESOURCE,
    NVIDIA_GPU,
    DraSource,
    HamiSource,
    KaiFraction,
    KaiReservation,
    hami_share,
    kai_share,
)
from .dra import DraIndex
from .objects import Pod
from .records import NodeEntry, PodEntry

Keys = dict[str, None]  # an insertion-ordered set of pod keys


_ALLOCATOR_ANNOTATIONS = frozenset({"gpu-fraction", "gpu-memory", *HAMI_ALLOCATED})


def may_use_allocators(pod: Pod, namespace: str, amounts: dict[str, Any]) -> bool:
    """A cheap test before reading a pod's allocator sources (read_pod_sources): most pods
    have none, and every pod of a sync passes here."""
    if pod.spec.resource_claims or pod.status.extended_resource_claim_status is not None:
        return True
    if namespace in KAI_RESERVATION_NAMESPACES:
        return True
    annotations = pod.metadata.annotations
    if annotations and not _ALLOCATOR_ANNOTATIONS.isdisjoint(annotations):
        return True
    return len(amounts) > 2 and not amounts.keys().isdisjoint(HAMI_RESOURCES)


def _is_reservation(entry: PodEntry) -> bool:
    return any(isinstance(s, KaiReservation) for s in entry.gpu_sources)


class SharedGpus:
    """The DRA index, which pods name which claim and KAI group, and the stale pods."""

    def __init__(self) -> None:
        self.dra = DraIndex()
        self._claim_users: dict[str, Keys] = {}  # claim key -> pods that name it
        self._kai_groups: dict[str, Keys] = {}  # GPU group -> its fractional and reservation pods
        self._uids: dict[str, str] = {}  # pod key -> UID (claims name the pods they serve by UID)
        self.stale: Keys = {}

    # --- the objects that pods depend on --------------------------------------------------------

    def claim_changed(self, key: str) -> None:
        self.stale |= self._claim_users.get(key, {})

    def uid(self, key: str) -> str | None:
        return self._uids.get(key)

    def link(self, entry: PodEntry, uid: str) -> None:
        """Index a pod under the claims and KAI group it uses; those sharing them resolve again."""
        self._uids[entry.key] = uid
        for source in entry.gpu_sources:
            if isinstance(source, DraSource):
                for claim in source.claims:
                    users = self._claim_users.setdefault(claim, {})
                    self.stale |= users
                    users[entry.key] = None
            elif isinstance(source, (KaiFraction, KaiReservation)) and source.group:
                group = self._kai_groups.setdefault(source.group, {})
                self.stale |= group
                group[entry.key] = None

    def unlink(self, entry: PodEntry) -> None:
        self._uids.pop(entry.key, None)
        for source in entry.gpu_sources:
            if isinstance(source, DraSource):
                for claim in source.claims:
                    _leave(self._claim_users, claim, entry.key, self.stale)
            elif isinstance(source, (KaiFraction, KaiReservation)) and source.group:
                _leave(self._kai_groups, source.group, entry.key, self.stale)

    # --- resolving --------------------------------------------------------------------------

    def resolve(
        self, entry: PodEntry, node: NodeEntry | None, pods: Mapping[str, PodEntry]
    ) -> tuple[dict[str, int], dict[str, Fraction]]:
        """The device-plugin units and allocator shares a pod holds on its node now."""
        units = entry.gpu_units
        shares: dict[str, Fraction] = {}
        hami_source = None
        for source in entry.gpu_sources:
            if isinstance(source, DraSource):
                for claim in source.claims:
                    users = self._consumers(claim)
                    if entry.key in users:
                        # x / 1 and 0 + x are x: no Fraction arithmetic for the common claim
                        # (one pod, one driver), a microsecond or two each
                        n = len(users)
                        for driver, share in self.dra.claim_shares(claim).items():
                            if n > 1:
                                share = share / n
                            before = shares.get(driver)
                            shares[driver] = share if before is None else before + share
            elif isinstance(source, KaiFraction):
                if node is not None:
                    shares[KAI_RESOURCE] = shares.get(KAI_RESOURCE, Fraction(0)) + kai_share(source, node.allocators)
            elif isinstance(source, KaiReservation) and NVIDIA_GPU in units:
                held = units[NVIDIA_GPU] * (node.gpus.weight(NVIDIA_GPU) if node is not None else Fraction(1))
                taken = sum((pods[k].gpu_shares.get(KAI_RESOURCE, Fraction(0))
                             for k in self._kai_groups.get(source.group, {})
                             if k != entry.key and k in pods and pods[k].node == entry.node), Fraction(0))
                units = {k: v for k, v in units.items() if k != NVIDIA_GPU}
                shares[NVIDIA_GPU] = max(held - taken, Fraction(0))
            elif isinstance(source, HamiSource):
                hami_source = source
        if node is not None and node.allocators.hami and NVIDIA_GPU in units:
            vgpus = units[NVIDIA_GPU]
            units = {k: v for k, v in units.items() if k != NVIDIA_GPU}
            shares[NVIDIA_GPU] = shares.get(NVIDIA_GPU, Fraction(0)) + hami_share(hami_source, node.allocators, vgpus)
        return units, {k: v for k, v in shares.items() if v}

    def _consumers(self, claim: str) -> set[str]:
        """Keys of the counted pods that name the claim and that it is reserved for (by UID)."""
        found = self.dra.claims.get(claim)
        if found is None:
            return set()
        reserved = found.reserved_for
        return {key for key in self._claim_users.get(claim, ()) if self._uids.get(key) in reserved}

    def take_stale(self, pods: Mapping[str, PodEntry]) -> Iterator[PodEntry]:
        """The stale pods to resolve again, once each: KAI fractions before the reservation
        pods that pay what they leave."""
        stale, self.stale = self.stale, {}
        later = []
        for key in stale:
            entry = pods.get(key)
            if entry is None:
                continue
            if _is_reservation(entry):
                later.append(entry)
            else:
                yield entry
        yield from later

    def share_changed(self, entry: PodEntry, pods: Mapping[str, PodEntry]) -> None:
        """A pod's share changed: the reservation pod of its KAI group pays the rest."""
        for source in entry.gpu_sources:
            if isinstance(source, KaiFraction) and source.group:
                for k in self._kai_groups.get(source.group, {}):
                    if k != entry.key and k in pods and _is_reservation(pods[k]):
                        self.stale[k] = None


def _leave(index: dict[str, Keys], group: str, key: str, stale: Keys) -> None:
    members = index.get(group, {})
    members.pop(key, None)
    stale |= members
    if not members:
        index.pop(group, None)

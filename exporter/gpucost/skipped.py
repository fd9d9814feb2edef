"""Objects left out of the cost model (a malformed quantity, an undecodable object, a value no
real object can have): each logged once when it is first left out, counted while it stays out
(`gpucost_objects_skipped`) and each time it is left out (`gpucost_objects_skipped_total`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from .records import Reserved

log = logging.getLogger("gpucost.state")  # the engine's logger, as before the split


class Skipped:
    """The objects left out, by key, and how many times each (kind, reason) happened."""

    def __init__(self) -> None:
        self.by_key: dict[str, tuple[str, str]] = {}  # object key -> (kind, reason)
        self.events: dict[tuple[str, str], int] = {}  # (kind, reason) -> times left out

    def add(self, kind: str, key: str, reason: str, message: str) -> None:
        """Record an object left out, logging it once (until it is taken back or changes reason)."""
        if self.by_key.get(key) != (kind, reason):
            log.warning("%s left out (%s): %s", key, reason, message)
            self.events[kind, reason] = self.events.get((kind, reason), 0) + 1
        self.by_key[key] = (kind, reason)

    def keys_of(self, kind: str) -> set[str]:
        return {k for k, (kd, _) in self.by_key.items() if kd == kind}

    def counts(
        self, owns: Callable[[str], bool], reserved: Mapping[str, Reserved], nodes: Mapping[str, object]
    ) -> dict[tuple[str, str], int]:
        """Objects `owns` admits that are left out, by (kind, reason), with the pods bound to a
        node the state does not have (`reserved` without a node in `nodes`)."""
        counts: dict[tuple[str, str], int] = {}
        for key, (kind, reason) in self.by_key.items():
            if owns(key):
                counts[kind, reason] = counts.get((kind, reason), 0) + 1
        for name, r in reserved.items():
            if name not in nodes:
                # Pods waiting on a node that was left out for its own error, or never seen.
                reason = "node_invalid" if self.by_key.get(name, ("",))[0] == "Node" else "node_not_found"
                orphans = sum(1 for key in r.pods if owns(key))
                if orphans:
                    counts["Pod", reason] = counts.get(("Pod", reason), 0) + orphans
        return counts

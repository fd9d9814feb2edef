"""Full lists of a kind, streamed into the state: each object is applied as it arrives (no
need to hold 150,000 decoded pods at once), and only the end of the list deletes what it lacked.

A `Relist` is the state's own machinery (it calls CostState's key and upsert methods); it lives
here so that `state` keeps the bookkeeping of sums and dirty sets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Union

from .objects import Controller, Namespace, Node, Pod, ResourceClaim, ResourceSlice

if TYPE_CHECKING:
    from .state import CostState

Sink = Union[Node, Pod, Namespace, Controller, ResourceClaim, ResourceSlice]
#: Intermediate owners, followed to the workload: tens of thousands in a large cluster.
CONTROLLER_KINDS = ("ReplicaSet", "Job")


def _forget(key: str) -> None:
    """What a first list does with a key it saw: nothing (see Relist)."""


class Relist:
    """One streamed full list of a kind into a CostState (see CostState.relist).

    `add(obj)` applies one object. It is an attribute holding the kind's function, not a method:
    the hot kinds (pods, ReplicaSets, Jobs) get a function with nothing to dispatch per object."""

    add: Callable[[Sink], None]

    def __init__(self, state: CostState, kind: str) -> None:
        self._state = state
        self._kind = kind
        self._seen: set[str] = set()
        # The first list of a kind (every kind of a cold sync) finds none in the state: nothing
        # can be missing from it, so it keeps no set of the keys it saw (150,000 after a pod
        # list). An object another source adds meanwhile is newer than the list: it stays.
        self._first = not any(True for _ in state._keys_of(kind))
        seen = self._seen.add if not self._first else _forget
        if kind == "Pod":  # the hot path of a sync: no dispatch per pod
            upsert = state._upsert_pod
            if self._first:
                self.add = upsert  # type: ignore[assignment]
            else:
                def add_pod(pod: Pod) -> None:
                    seen(upsert(pod))

                self.add = add_pod  # type: ignore[assignment]
        elif kind in CONTROLLER_KINDS:  # tens of thousands of ReplicaSets: the key once, no dispatch
            key_of, upsert_controller = state._key, state._workloads.upsert_controller

            def add_controller(obj: Controller) -> None:
                key = key_of(kind, obj.metadata)
                seen(key)
                relabelled = upsert_controller(kind, key, obj.metadata)
                if relabelled:
                    state._dirty_pods |= relabelled

            self.add = add_controller  # type: ignore[assignment]
        else:
            self.add = self._add_any

    def _add_any(self, obj: Sink) -> None:
        if not self._first:
            self._seen.add(self._state._key(self._kind, obj.metadata))
        self._state.upsert(self._kind, obj)

    def finish(self) -> None:
        if self._first:
            return
        state, seen = self._state, self._seen
        # one pass over the kind's keys, no copy of them (150,000 after a pod list)
        for key in [key for key in state._keys_of(self._kind) if key not in seen]:
            state._delete_key(self._kind, key)

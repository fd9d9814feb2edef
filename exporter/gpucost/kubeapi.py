"""Kubernetes API source: list and watch nodes, pods, namespaces, ReplicaSets and Jobs.

Each watched resource runs the list-then-watch loop Kubernetes clients use:

1. a paginated, consistent list (`limit`, `continue`) hands the complete set to
   `ObjectSink.replace`, which also forgets objects deleted while we were not watching;
2. a watch from the list's resourceVersion (with bookmarks) applies each change as it comes;
3. when the stream ends or breaks, the watch resumes from the last resourceVersion seen, so no
   event is lost and nothing is listed again; only "410 Gone" (history compacted past our
   resourceVersion) costs a relist.

Objects are decoded with msgspec straight into the `gpucost.objects` Structs, one object at a
time, so a malformed object is skipped and counted without spoiling its list or its stream. The
`kubernetes` package is used for configuration and credentials only; requests go through
aiohttp, and its model classes never see an object.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import msgspec

from gpucost.kubeclient import (
    _UNDECODABLE,
    DRA_GROUP,
    DRA_VERSIONS,
    ApiClient,
    ApiError,
    KubeConfigError,
    _Gone,
    _status_decoder,
    _status_error,
    load_configuration,
)
from gpucost.objects import KINDS, object_name

#: Re-exported: callers configure through this module (and watch through kubewatch).
__all__ = ["DEFAULT_RESOURCES", "DRA_VERSIONS", "RESOURCES", "ApiError", "KubeConfigError",
           "Resource", "WatchSettings", "decode_event", "decode_page", "dra_resources", "load_configuration"]

log = logging.getLogger(__name__)

_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")
#: Why a watch was started again: the server ended it (normally at timeoutSeconds), history
#: was compacted past our resourceVersion (a relist follows), a request or the stream failed,
#: nothing arrived for `stall_timeout_s`, or a line was not a watch event.
RESTART_REASONS = ("closed", "gone", "error", "stalled", "malformed")
#: A single watch line larger than this is treated as a broken stream (objects are <= 1.5 MiB).
_MAX_LINE_BYTES = 16 * 1024 * 1024
#: How many undecodable objects one list logs individually before summing up the rest.
_LOGGED_DECODE_ERRORS_PER_LIST = 5


class ObjectSink(Protocol):
    """Where decoded objects go (implemented by `gpucost.state`).

    `kind` is the wire kind ("Node", "Pod", "Namespace", "ReplicaSet", "Job"); objects are
    instances of `gpucost.objects.KINDS[kind]`.
    """

    def upsert(self, kind: str, obj: Any) -> None: ...

    def delete(self, kind: str, obj: Any) -> None:
        """Forget an object; `obj` is its last state, as carried by the DELETED event."""

    def replace(self, kind: str, objs: list[Any]) -> None:
        """Take `objs` as the complete current set of `kind`: upsert all, delete the rest."""


class StreamedRelist(Protocol):
    """A full list applied as it arrives; only `finish()` deletes what the list lacked."""

    def add(self, obj: Any) -> None: ...

    def finish(self) -> None: ...


class _CollectedRelist:
    """For sinks without `relist`: collect the whole list, then one `replace`."""

    def __init__(self, sink: ObjectSink, kind: str) -> None:
        self._sink = sink
        self._kind = kind
        self._objs: list[Any] = []

    def add(self, obj: Any) -> None:
        self._objs.append(obj)

    def finish(self) -> None:
        self._sink.replace(self._kind, self._objs)


def start_relist(sink: ObjectSink, kind: str) -> StreamedRelist:
    """The sink's streamed relist (`gpucost.state.CostState.relist`) when it has one."""
    relist = getattr(sink, "relist", None)
    return relist(kind) if relist is not None else _CollectedRelist(sink, kind)


@dataclass(frozen=True)
class Resource:
    """A watched collection. `name` is the URL plural, also the `resource` metric label."""

    name: str
    kind: str
    path: str
    #: The field that selects one node's share in DaemonSet mode; None: always cluster-wide.
    node_field: str | None = None


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("nodes", "Node", "/api/v1/nodes", node_field="metadata.name"),
        Resource("pods", "Pod", "/api/v1/pods", node_field="spec.nodeName"),
        Resource("namespaces", "Namespace", "/api/v1/namespaces"),
        Resource("replicasets", "ReplicaSet", "/apis/apps/v1/replicasets"),
        Resource("jobs", "Job", "/apis/batch/v1/jobs"),
    )
}
DEFAULT_RESOURCES: tuple[str, ...] = tuple(RESOURCES)

def dra_resources(version: str) -> tuple[Resource, ...]:
    """The DRA collections at one served version: claims (all namespaces) and slices
    (cluster-scoped; a DaemonSet-mode exporter watches its node's slices only)."""
    base = f"/apis/{DRA_GROUP}/{version}"
    return (
        Resource("resourceclaims", "ResourceClaim", f"{base}/resourceclaims"),
        Resource("resourceslices", "ResourceSlice", f"{base}/resourceslices", node_field="spec.nodeName"),
    )


@dataclass(frozen=True)
class WatchSettings:
    """Timing of the list/watch loop. All durations in seconds."""

    #: Objects per list page.
    page_size: int = 500
    #: Each watch asks the server to end it after a random time in this range, spreading
    #: reconnections of many exporters over time.
    watch_timeout_s: tuple[float, float] = (300.0, 600.0)
    #: A watch that delivers no byte for this long (not even a bookmark, which servers send
    #: about once a minute) is taken as hung and started again.
    stall_timeout_s: float = 180.0
    #: Retry delay after the first failure; doubles per consecutive failure up to the cap.
    #: Each delay is drawn uniformly from its upper half (jitter).
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    #: Limit for one list page, from request to last byte.
    list_timeout_s: float = 60.0


class _Malformed(Exception):
    """A watch line that is not a watch event; the stream cannot be trusted past it."""


# --- wire formats ----------------------------------------------------------------------------


class _ListMeta(msgspec.Struct, rename="camel"):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class _List(msgspec.Struct):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[msgspec.Raw] | None = None


class _Event(msgspec.Struct):
    type: str
    object: msgspec.Raw = msgspec.Raw(b"null")


class _LooseMeta(msgspec.Struct, rename="camel"):
    name: Any = ""
    namespace: Any = ""
    resource_version: Any = ""


class _Identity(msgspec.Struct):
    """Whatever can be read of an object's identity, even when the rest does not decode."""

    metadata: _LooseMeta | None = None


_list_decoder = msgspec.json.Decoder(_List)
_event_decoder = msgspec.json.Decoder(_Event)
_identity_decoder = msgspec.json.Decoder(_Identity)


def decode_page(body: bytes) -> _List:
    """One list response; its items stay raw so each decodes (or fails) on its own."""
    return _list_decoder.decode(body)


def decode_event(line: bytes) -> _Event:
    """One watch event line; its object stays raw."""
    return _event_decoder.decode(line)


def _identity(kind: str, raw: bytes) -> tuple[str, str]:
    """(`Pod ml/train-0` or a placeholder, resourceVersion or "") for a malformed object."""
    try:
        meta = _identity_decoder.decode(raw).metadata
    except _UNDECODABLE:
        return f"{kind} (unreadable)", ""
    if meta is None:
        return f"{kind} (no metadata)", ""
    name = meta.name if isinstance(meta.name, str) else "?"
    namespace = meta.namespace if isinstance(meta.namespace, str) else ""
    rv = meta.resource_version if isinstance(meta.resource_version, str) else ""
    return (f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"), rv


# --- the list/watch loop ---------------------------------------------------------------------


@dataclass
class WatchStats:
    """Counters for one resource, rendered by `ClusterWatcher.metric_families`."""

    events: dict[str, int]
    restarts: dict[str, int]
    relists: int = 0
    decode_errors: int = 0
    #: Unix time the local copy was last known current (list done, event or bookmark seen).
    last_sync: float = 0.0
    synced: bool = False

    @classmethod
    def new(cls) -> WatchStats:
        return cls(
            events=dict.fromkeys(_EVENT_TYPES, 0), restarts=dict.fromkeys(RESTART_REASONS, 0)
        )


class ResourceWatch:
    """List-then-watch one resource into the sink, forever."""

    def __init__(
        self,
        resource: Resource,
        sink: ObjectSink,
        api: ApiClient,
        settings: WatchSettings,
        field_selector: str | None = None,
    ) -> None:
        self.resource = resource
        self.stats = WatchStats.new()
        self._sink = sink
        self._api = api
        self._settings = settings
        self._field_selector = field_selector
        self._decoder = msgspec.json.Decoder(KINDS[resource.kind])
        self._rv = ""
        self._lists_done = 0
        # Whether the current watch delivered anything; decides between resuming at once and
        # backing off.
        self._progress = False

    async def run(self) -> None:
        failures = 0
        need_list = True
        name = self.resource.name
        while True:
            self._progress = False
            try:
                if need_list:
                    await self._list()
                    need_list = False
                reason = await self._watch()
                log.debug("%s: watch ended by the server; resuming at %s", name, self._rv)
            except asyncio.CancelledError:
                raise
            except _Gone as exc:
                reason, need_list = "gone", True
                log.info("%s: resourceVersion %s is gone (%s); listing again", name, self._rv, exc)
            except _Malformed as exc:
                reason = "malformed"
                log.warning("%s: malformed watch line (%s); resuming at %s", name, exc, self._rv)
            except asyncio.TimeoutError as exc:  # aiohttp timeouts too; TimeoutError on 3.11+
                if need_list:
                    reason = "error"
                    log.warning("%s: list timed out: %s", name, describe_error(exc))
                else:
                    reason = "stalled"
                    log.warning(
                        "%s: nothing received for %ss; restarting the watch at %s",
                        name,
                        self._settings.stall_timeout_s,
                        self._rv,
                    )
            except (aiohttp.ClientError, OSError, ApiError) as exc:
                reason = "error"
                log.warning("%s: %s: %s", name, "list" if need_list else "watch", describe_error(exc))
            except Exception:  # a bug here or in the sink must not stop the exporter
                reason = "error"
                log.exception("%s: unexpected error; continuing", name)
            self.stats.restarts[reason] += 1
            if self._progress:
                failures = 0
                continue
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        s = self._settings
        ceiling = min(s.backoff_max_s, s.backoff_initial_s * 2 ** min(failures - 1, 30))
        return random.uniform(ceiling / 2, ceiling)

    def _params(self) -> dict[str, str]:
        return {"fieldSelector": self._field_selector} if self._field_selector else {}

    async def _list(self) -> None:
        """Read every page of one consistent snapshot into the sink as it arrives; only a
        complete list deletes what it lacks (a list that fails half way deletes nothing)."""
        s = self._settings
        timeout = aiohttp.ClientTimeout(total=s.list_timeout_s, sock_connect=s.connect_timeout_s)
        relist = start_relist(self._sink, self.resource.kind)
        listed = 0
        skipped = 0
        token = ""
        while True:
            params = self._params()
            params["limit"] = str(s.page_size)
            if token:
                params["continue"] = token
            # No resourceVersion: a consistent read of the latest state. After a 410 this
            # guarantees we do not step back in time, as a cached read ("0") could.
            resp = await self._api.get(self.resource.path, params, timeout)
            try:
                body = await resp.read()
            finally:
                resp.release()
            try:
                page = decode_page(body)
            except _UNDECODABLE as exc:
                raise ApiError(200, "", f"undecodable list response: {exc}") from exc
            for raw in page.items or ():
                obj = self._decode(raw, logged=skipped < _LOGGED_DECODE_ERRORS_PER_LIST)
                if obj is None:
                    skipped += 1
                else:
                    relist.add(obj)
                    listed += 1
            token = page.metadata.continue_
            if not token:
                rv = page.metadata.resource_version
                break
        if skipped > _LOGGED_DECODE_ERRORS_PER_LIST:
            log.warning(
                "%s: %d objects in the list could not be decoded and were skipped",
                self.resource.name,
                skipped,
            )
        relist.finish()
        self._rv = rv
        if self._lists_done:
            self.stats.relists += 1
        self._lists_done += 1
        self.stats.synced = True
        self.stats.last_sync = time.time()
        log.info("%s: listed %d objects at resourceVersion %s", self.resource.name, listed, rv)

    def _decode(self, raw: bytes, logged: bool = True) -> Any:
        """The object as its Struct, or None (logged and counted) when it does not decode."""
        try:
            return self._decoder.decode(raw)
        except _UNDECODABLE as exc:
            self.stats.decode_errors += 1
            if logged:
                who, _ = _identity(self.resource.kind, raw)
                log.warning("%s: skipped %s: %s", self.resource.name, who, exc)
            return None

    async def _watch(self) -> str:
        """Stream changes from `self._rv` until the server ends the watch; returns "closed"."""
        s = self._settings
        timeout_seconds = int(random.uniform(*s.watch_timeout_s))
        params = self._params()
        params.update(
            watch="1",
            resourceVersion=self._rv,
            allowWatchBookmarks="true",
            timeoutSeconds=str(timeout_seconds),
        )
        timeout = aiohttp.ClientTimeout(
            # `total` only guards against a server that ignores timeoutSeconds.
            total=timeout_seconds + s.stall_timeout_s,
            sock_connect=s.connect_timeout_s,
            # Reset by every chunk received, so it measures silence: a hung stream.
            sock_read=s.stall_timeout_s,
        )
        resp = await self._api.get(self.resource.path, params, timeout)
        try:
            buffer = bytearray()
            async for chunk in resp.content.iter_any():
                buffer += chunk
                start = 0
                while (end := buffer.find(b"\n", start)) >= 0:
                    line = bytes(buffer[start:end])
                    start = end + 1
                    if line.strip():
                        self._apply(line)
                del buffer[:start]
                if len(buffer) > _MAX_LINE_BYTES:
                    raise _Malformed(f"line longer than {_MAX_LINE_BYTES} bytes")
        finally:
            # close, not release: a connection left mid-stream must not go back to the pool.
            resp.close()
        return "closed"

    def _apply(self, line: bytes) -> None:
        """Apply one watch event to the sink and move the resourceVersion on."""
        name, kind = self.resource.name, self.resource.kind
        try:
            event = decode_event(line)
        except _UNDECODABLE as exc:
            self.stats.decode_errors += 1
            raise _Malformed(str(exc)) from exc
        etype = event.type
        if etype not in self.stats.events:
            log.warning("%s: ignored watch event of unknown type %r", name, etype)
            return
        self.stats.events[etype] += 1
        if etype == "ERROR":
            raise _status_error(_status_code(event.object), bytes(event.object))
        self._progress = True
        self.stats.last_sync = time.time()
        if etype == "BOOKMARK":
            _, rv = _identity(kind, event.object)
            self._rv = rv or self._rv
            return
        obj = self._decode(event.object)
        if obj is None:
            # Skip it, but move past it: the server would only send the same object again.
            _, rv = _identity(kind, event.object)
            self._rv = rv or self._rv
            return
        self._rv = obj.metadata.resource_version or self._rv
        try:
            if etype == "DELETED":
                self._sink.delete(kind, obj)
            else:
                self._sink.upsert(kind, obj)
        except Exception:
            log.exception(
                "%s: the state rejected %s %s", name, etype, object_name(kind, obj.metadata)
            )


def _status_code(raw: bytes) -> int:
    try:
        return _status_decoder.decode(raw).code or 500
    except _UNDECODABLE:
        return 500


def describe_error(exc: BaseException) -> str:
    """An API error as a log line says it (credentials and RBAC named where they are the cause)."""
    if isinstance(exc, ApiError) and exc.code in (401, 403):
        return f"{exc} (check the credentials and RBAC: gpucost needs list and watch)"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, ApiError) else str(exc)

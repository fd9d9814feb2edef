"""A fake Kubernetes API server (aiohttp) for testing the list/watch client end to end.

It serves nodes, pods and namespaces (core/v1), replicasets (apps/v1) and jobs (batch/v1) the
way kube-apiserver does, as far as a list/watch client can tell:

- one global resourceVersion (RV), bumped by every change of any object;
- a bounded history of changes; once a change falls out of it (or `compact()` runs), lists
  at older RVs, continue tokens from older snapshots and watches resuming from older RVs
  get 410 Gone;
- lists with `limit`/`continue` (the token carries the snapshot RV and the last key, so every
  page comes from the same snapshot) and `resourceVersion`/`resourceVersionMatch`;
- `fieldSelector` (`metadata.name`, `metadata.namespace`, `spec.nodeName`, `status.phase`),
  including the watch rule that an object entering the selection arrives as ADDED and one
  leaving it as DELETED;
- watches as chunked newline-delimited JSON with ADDED/MODIFIED/DELETED/BOOKMARK/ERROR events,
  `timeoutSeconds`, `allowWatchBookmarks` (periodic bookmarks at the current RV) and
  `sendInitialEvents`.

Tests change the cluster with `create`/`update`/`apply`/`delete`, and inject faults:
`fail_next` (HTTP errors), `drop_watches` (connections cut mid-stream), `stall_next`
(accepted, then silence), `send_raw` (a malformed line), and `token` (401 without it).
Every request is recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import ssl
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


def _field(*path: str) -> Callable[[Obj], str]:
    def get(obj: Obj) -> str:
        value: Any = obj
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return "" if value is None else str(value)

    return get


_NAME = _field("metadata", "name")
_NAMESPACE = _field("metadata", "namespace")


@dataclass(frozen=True)
class ResourceType:
    plural: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    fields: dict[str, Callable[[Obj], str]]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


_NS_FIELDS = {"metadata.name": _NAME, "metadata.namespace": _NAMESPACE}
RESOURCE_TYPES: dict[str, ResourceType] = {
    t.plural: t
    for t in (
        ResourceType("nodes", "Node", "", "v1", False, {"metadata.name": _NAME}),
        ResourceType(
            "pods",
            "Pod",
            "",
            "v1",
            True,
            {
                **_NS_FIELDS,
                "spec.nodeName": _field("spec", "nodeName"),
                "status.phase": _field("status", "phase"),
            },
        ),
        ResourceType(
            "namespaces",
            "Namespace",
            "",
            "v1",
            False,
            {"metadata.name": _NAME, "status.phase": _field("status", "phase")},
        ),
        ResourceType("replicasets", "ReplicaSet", "apps", "v1", True, dict(_NS_FIELDS)),
        ResourceType("jobs", "Job", "batch", "v1", True, dict(_NS_FIELDS)),
        # Dynamic Resource Allocation; served at the versions FakeKubeAPI(dra_versions=...) names.
        ResourceType("resourceclaims", "ResourceClaim", "resource.k8s.io", "v1", True, dict(_NS_FIELDS)),
        ResourceType(
            "resourceslices", "ResourceSlice", "resource.k8s.io", "v1", False,
            {"metadata.name": _NAME, "spec.nodeName": _field("spec", "nodeName"), "spec.driver": _field("spec", "driver")},
        ),
    )
}
DRA_GROUP = "resource.k8s.io"
_BY_KIND = {t.kind: t for t in RESOURCE_TYPES.values()}


class _BadRequest(Exception):
    pass


Selector = list[tuple[str, bool, str]]  # (field, equal?, value)


def parse_field_selector(text: str, rtype: ResourceType) -> Selector:
    terms: Selector = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        op = next((op for op in ("!=", "==", "=") if op in term), None)
        if op is None:
            raise _BadRequest(f"invalid field selector term {term!r}")
        name, value = term.split(op, 1)
        if name not in rtype.fields:
            raise _BadRequest(f'field label not supported: "{name}"')
        terms.append((name, op != "!=", value))
    return terms


def _matches(obj: Obj | None, selector: Selector, rtype: ResourceType) -> bool:
    if obj is None:
        return False
    return all((rtype.fields[f](obj) == v) == eq for f, eq, v in selector)


@dataclass
class Change:
    """One committed change; `old`/`new` are the object before/after (None: absent)."""

    rv: int
    plural: str
    key: Key
    old: Obj | None
    new: Obj | None


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    resource: str | None
    watch: bool


_DROP = object()  # queue sentinel: cut the connection now


@dataclass(eq=False)
class _Watch:
    rtype: ResourceType
    namespace: str
    selector: Selector
    bookmarks: bool
    request: web.Request
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    def offer(self, change: Change) -> None:
        """Queue the event this change means for this watcher, if any."""
        if self.namespace and change.key[0] != self.namespace:
            return
        was = _matches(change.old, self.selector, self.rtype)
        now = _matches(change.new, self.selector, self.rtype)
        if now:
            self.queue.put_nowait(_event("MODIFIED" if was else "ADDED", change.new))
        elif was:
            # Deleted, or left the selection: the API server sends the previous state (the
            # last one this watcher could see) stamped with the change's resourceVersion.
            last = copy.deepcopy(change.old)
            assert last is not None
            last["metadata"]["resourceVersion"] = str(change.rv)
            self.queue.put_nowait(_event("DELETED", last))

    def bookmark(self, rv: int, annotations: dict[str, str] | None = None) -> None:
        meta: Obj = {"resourceVersion": str(rv)}
        if annotations:
            meta["annotations"] = annotations
        obj = {"kind": self.rtype.kind, "apiVersion": self.rtype.api_version, "metadata": meta}
        self.queue.put_nowait(_event("BOOKMARK", obj))


def _event(etype: str, obj: Obj | None) -> bytes:
    return json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


_REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 410: "Expired"}
_REASONS |= {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def _error_response(code: int, message: str, reason: str | None = None) -> web.Response:
    body = _status(code, reason or _REASONS.get(code, "Unknown"), message)
    return web.json_response(body, status=code)


class FakeKubeAPI:
    """The fake server. `async with FakeKubeAPI() as api:` starts it; `api.url` is its address.

    history_limit: changes kept for resuming watches and paging old snapshots.
    bookmark_interval: seconds between BOOKMARK events to watchers that allow them (None: never).
    gone_as_http: answer a too-old watch with HTTP 410 instead of 200 + ERROR event.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        history_limit: int = 10_000,
        bookmark_interval: float | None = 1.0,
        gone_as_http: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        dra_versions: tuple[str, ...] = ("v1",),
    ) -> None:
        self.token = token
        #: resource.k8s.io versions served (newest first); () serves no DRA group at all.
        self.dra_versions = dra_versions
        self.bookmark_interval = bookmark_interval
        self.gone_as_http = gone_as_http
        self.requests: list[RequestRecord] = []
        self._ssl = ssl_context
        self._rv = 1000
        self._compacted_rv = self._rv  # a watch or snapshot must be at or after this RV
        self._objects: dict[str, dict[Key, Obj]] = {p: {} for p in RESOURCE_TYPES}
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._watches: set[_Watch] = set()
        self._faults: list[_Fault] = []
        self._stalls: list[_Fault] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if self._ssl else 'http'}://127.0.0.1:{port}"
        if self.bookmark_interval:
            self._tasks.append(asyncio.create_task(self._bookmark_loop(self.bookmark_interval)))
        return self.url

    async def close(self) -> None:
        self._closing.set()
        for task in self._tasks:
            task.cancel()
        for w in list(self._watches):
            w.queue.put_nowait(_DROP)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeKubeAPI:  # noqa: PYI034
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the cluster -------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def objects(self, plural: str) -> dict[Key, Obj]:
        return self._objects[plural]

    def create(self, obj: Obj) -> Obj:
        rtype, key = self._locate(obj)
        if key in self._objects[rtype.plural]:
            raise ValueError(f"{rtype.kind} {key} already exists")
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
        return self._commit(rtype, key, obj)

    def update(self, obj: Obj) -> Obj:
        rtype, key = self._locate(obj)
        old = self._objects[rtype.plural].get(key)
        if old is None:
            raise KeyError(f"{rtype.kind} {key} does not exist")
        obj["metadata"].setdefault("uid", old["metadata"].get("uid"))
        return self._commit(rtype, key, obj)

    def apply(self, obj: Obj) -> Obj:
        rtype, key = self._locate(obj)
        exists = key in self._objects[rtype.plural]
        return self.update(obj) if exists else self.create(obj)

    def delete(self, kind: str, name: str, namespace: str = "") -> Obj:
        rtype = _BY_KIND[kind]
        key = (namespace if rtype.namespaced else "", name)
        if key not in self._objects[rtype.plural]:
            raise KeyError(f"{kind} {key} does not exist")
        old = self._objects[rtype.plural][key]
        self._commit(rtype, key, None)
        return old

    def compact(self) -> None:
        """Forget all history: resuming from any RV before now gets 410 Gone."""
        self._history.clear()
        self._compacted_rv = self._rv

    def _locate(self, obj: Obj) -> tuple[ResourceType, Key]:
        rtype = _BY_KIND[obj["kind"]]
        obj.setdefault("apiVersion", rtype.api_version)
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced:
            meta.setdefault("namespace", "default")
        return rtype, (meta.get("namespace", "") if rtype.namespaced else "", meta["name"])

    def _commit(self, rtype: ResourceType, key: Key, new: Obj | None) -> Obj:
        self._rv += 1
        store = self._objects[rtype.plural]
        old = store.get(key)
        if new is not None:
            new = copy.deepcopy(new)
            new["metadata"]["resourceVersion"] = str(self._rv)
            store[key] = new
        else:
            del store[key]
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        change = Change(self._rv, rtype.plural, key, old, new)
        self._history.append(change)
        for w in self._watches:
            if w.rtype is rtype:
                w.offer(change)
        return copy.deepcopy(new if new is not None else old)  # type: ignore[arg-type]

    def _state_at(self, plural: str, rv: int) -> dict[Key, Obj] | None:
        """The objects of `plural` as they were at `rv`; None when history no longer reaches."""
        if rv < self._compacted_rv:
            return None
        state = dict(self._objects[plural])
        for change in reversed(self._history):
            if change.rv <= rv:
                break
            if change.plural != plural:
                continue
            if change.old is None:
                state.pop(change.key, None)
            else:
                state[change.key] = change.old
        return state

    # --- faults ------------------------------------------------------------------------------

    def fail_next(
        self, count: int, status: int = 500, resource: str | None = None, watch: bool | None = None
    ) -> None:
        """Answer the next `count` requests (for `resource`; only watches or only lists when
        `watch` says so) with HTTP `status`."""
        self._faults.append(_Fault(count, resource, watch, status=status))

    def clear_faults(self) -> None:
        """Forget pending `fail_next` and `stall_next` faults."""
        self._faults.clear()
        self._stalls.clear()

    def stall_next(
        self, count: int = 1, resource: str | None = None, before_headers: bool = False
    ) -> None:
        """Accept the next `count` watches, then send nothing (not even headers, if asked)."""
        self._stalls.append(_Fault(count, resource, before_headers=before_headers))

    def drop_watches(self, resource: str | None = None) -> int:
        """Cut open watch connections without ending the chunked body; returns how many."""
        dropped = [w for w in self._watches if resource in (None, w.rtype.plural)]
        for w in dropped:
            self._watches.discard(w)  # nothing committed from now on reaches it
            w.queue.put_nowait(_DROP)
        return len(dropped)

    def send_raw(self, line: bytes, resource: str | None = None) -> int:
        """Write `line` (e.g. malformed JSON) into open watches, in order with real events."""
        targets = [w for w in self._watches if resource in (None, w.rtype.plural)]
        for w in targets:
            w.queue.put_nowait(line if line.endswith(b"\n") else line + b"\n")
        return len(targets)

    def send_bookmarks(self) -> None:
        for w in self._watches:
            if w.bookmarks:
                w.bookmark(self._rv)

    def watch_count(self, resource: str | None = None) -> int:
        return sum(1 for w in self._watches if resource in (None, w.rtype.plural))

    async def wait_for_watches(
        self, resource: str | None = None, count: int = 1, timeout: float = 10.0
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.watch_count(resource) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"fewer than {count} watches on {resource or 'any resource'}")
            await asyncio.sleep(0.01)

    def lists(self, resource: str | None = None) -> list[RequestRecord]:
        return [r for r in self.requests if not r.watch and resource in (None, r.resource)]

    def watch_requests(self, resource: str | None = None) -> list[RequestRecord]:
        return [r for r in self.requests if r.watch and resource in (None, r.resource)]

    @staticmethod
    def _take(faults: list[_Fault], resource: str, watch: bool | None) -> _Fault | None:
        for f in faults:
            if f.count > 0 and f.resource in (None, resource) and f.watch in (None, watch):
                f.count -= 1
                return f
        return None

    async def _bookmark_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.send_bookmarks()

    # --- HTTP --------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[ResourceType, str] | None:
        """(resource type, namespace) for a collection path, else None."""
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            rest, group = parts[2:], ""
        elif len(parts) >= 3 and parts[0] == "apis":
            rest, group = parts[3:], parts[1]
            served = self.dra_versions if group == DRA_GROUP else ("v1",)
            if parts[2] not in served:
                return None
        else:
            return None
        namespace = ""
        if len(rest) == 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if len(rest) != 1 or rest[0] not in RESOURCE_TYPES:
            return None
        rtype = RESOURCE_TYPES[rest[0]]
        if rtype.group != group or (namespace and not rtype.namespaced):
            return None
        return rtype, namespace

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        route = self._route(request.path)
        watch = query.get("watch", "").lower() in ("1", "true")
        self.requests.append(
            RequestRecord(
                request.method,
                request.path,
                query,
                request.headers.get("Authorization"),
                route[0].plural if route else None,
                watch,
            )
        )
        if (
            self.token is not None
            and request.headers.get("Authorization") != f"Bearer {self.token}"
        ):
            return _error_response(401, "Unauthorized")
        if route is None and request.path.rstrip("/") == f"/apis/{DRA_GROUP}" and self.dra_versions:
            return web.json_response({
                "kind": "APIGroup", "apiVersion": "v1", "name": DRA_GROUP,
                "versions": [{"groupVersion": f"{DRA_GROUP}/{v}", "version": v} for v in self.dra_versions],
                "preferredVersion": {"groupVersion": f"{DRA_GROUP}/{self.dra_versions[0]}", "version": self.dra_versions[0]},
            })
        if route is None:
            return _error_response(404, f"the server could not find {request.path}")
        rtype, namespace = route
        fault = self._take(self._faults, rtype.plural, watch)
        if fault is not None:
            return _error_response(fault.status, "injected fault")
        try:
            selector = parse_field_selector(query.get("fieldSelector", ""), rtype)
            if query.get("labelSelector"):
                raise _BadRequest("the fake does not implement labelSelector")
            if watch:
                return await self._watch(request, rtype, namespace, selector, query)
            return self._list(rtype, namespace, selector, query)
        except _BadRequest as exc:
            return _error_response(400, str(exc))

    def _list(
        self, rtype: ResourceType, namespace: str, selector: Selector, query: dict[str, str]
    ) -> web.Response:
        limit = _int(query.get("limit") or "0")
        start: Key | None = None
        if query.get("continue"):
            rv, start = _decode_continue(query["continue"])
            state = self._state_at(rtype.plural, rv)
            if state is None:
                return _error_response(
                    410, f"continue token from resourceVersion {rv} has expired; list again"
                )
        else:
            wanted = query.get("resourceVersion", "")
            match = query.get("resourceVersionMatch", "")
            if match == "Exact":
                rv = _int(wanted)
                state = self._state_at(rtype.plural, rv)
                if state is None or rv > self._rv:
                    return _error_response(410, f"resourceVersion {rv} is not available")
            elif wanted not in ("", "0") and _int(wanted) > self._rv:
                return _error_response(504, f"Too large resource version: {wanted}")
            else:  # "most recent" and "any"/"not older than" are all the present here
                rv, state = self._rv, self._objects[rtype.plural]
        keys = sorted(
            k
            for k, obj in state.items()
            if (not namespace or k[0] == namespace)
            and (start is None or k > start)
            and _matches(obj, selector, rtype)
        )
        page = keys[:limit] if limit > 0 else keys
        meta: Obj = {"resourceVersion": str(rv)}
        if len(page) < len(keys):
            meta["continue"] = _encode_continue(rv, page[-1])
            meta["remainingItemCount"] = len(keys) - len(page)
        items = []
        for k in page:
            item = dict(state[k])
            # Items of a typed list carry no kind/apiVersion on the wire.
            item.pop("kind", None)
            item.pop("apiVersion", None)
            items.append(item)
        body: Obj = {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version}
        body.update(metadata=meta, items=items)
        return web.json_response(body)

    async def _watch(
        self,
        request: web.Request,
        rtype: ResourceType,
        namespace: str,
        selector: Selector,
        query: dict[str, str],
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = loop.time() + timeout
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        wanted = query.get("resourceVersion", "")
        initial = query.get("sendInitialEvents", "").lower() == "true"
        too_old = wanted not in ("", "0") and not initial and _int(wanted) < self._compacted_rv
        if too_old and self.gone_as_http:
            return _error_response(
                410, f"too old resource version: {wanted} ({self._compacted_rv})"
            )

        stall = self._take(self._stalls, rtype.plural, None)
        if stall is not None and stall.before_headers:
            await self._idle(request, deadline)
            return web.Response(status=200)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if stall is not None:
            await self._idle(request, deadline)
            return resp

        w = _Watch(rtype, namespace, selector, bookmarks, request)
        if too_old:
            status = _status(
                410, "Expired", f"too old resource version: {wanted} ({self._compacted_rv})"
            )
            w.queue.put_nowait(_event("ERROR", status))
            w.queue.put_nowait(_DROP_CLEANLY)
        elif wanted in ("", "0") or initial:
            # Synthetic ADDED for every current object, then live changes.
            for key in sorted(self._objects[rtype.plural]):
                w.offer(Change(self._rv, rtype.plural, key, None, self._objects[rtype.plural][key]))
            if initial and bookmarks:
                w.bookmark(self._rv, {"k8s.io/initial-events-end": "true"})
            self._watches.add(w)
        else:
            rv = _int(wanted)
            if rv > self._rv:
                return await _end(resp)  # the real server would wait; the client retries
            for change in self._history:
                if change.rv > rv and change.plural == rtype.plural:
                    w.offer(change)
            self._watches.add(w)
        # No await between reading history and joining self._watches: nothing is missed.
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closing.is_set():
                    break
                try:
                    item = await asyncio.wait_for(w.queue.get(), min(remaining, 0.2))
                except asyncio.TimeoutError:
                    if _gone(request):
                        return resp
                    continue
                if item is _DROP_CLEANLY:
                    break
                if item is _DROP:
                    if request.transport is not None:
                        request.transport.abort()
                    return resp
                await resp.write(item)
        except (ConnectionError, RuntimeError):
            return resp  # the client went away
        finally:
            self._watches.discard(w)
        return await _end(resp)

    async def _idle(self, request: web.Request, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < deadline and not self._closing.is_set() and not _gone(request):
            await asyncio.sleep(0.05)


_DROP_CLEANLY = object()  # queue sentinel: end the response normally


@dataclass
class _Fault:
    count: int
    resource: str | None
    watch: bool | None = None  # None: lists and watches alike
    status: int = 500
    before_headers: bool = False


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _end(resp: web.StreamResponse) -> web.StreamResponse:
    try:
        await resp.write_eof()
    except (ConnectionError, RuntimeError):
        pass
    return resp


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _BadRequest(f"not an integer: {text!r}") from None


def _encode_continue(rv: int, last: Key) -> str:
    raw = json.dumps({"rv": rv, "after": list(last)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[int, Key]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (str(data["after"][0]), str(data["after"][1]))
    except (ValueError, KeyError, IndexError, TypeError):
        raise _BadRequest("invalid continue token") from None


def write_kubeconfig(
    path: str | Path,
    server_url: str,
    token: str | None = None,
    *,
    ca_file: str | Path | None = None,
    client_cert: str | Path | None = None,
    client_key: str | Path | None = None,
    insecure: bool = False,
    exec_command: list[str] | None = None,
    context: str = "fake",
) -> Path:
    """Write a kubeconfig (YAML, one cluster/user/context, current) that points at the fake.

    exec_command: a credential plugin (client.authentication.k8s.io/v1beta1) instead of a token.
    """
    cluster: Obj = {"server": server_url}
    if ca_file:
        cluster["certificate-authority"] = str(ca_file)
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    user: Obj = {}
    if token:
        user["token"] = token
    if client_cert:
        user["client-certificate"] = str(client_cert)
    if client_key:
        user["client-key"] = str(client_key)
    if exec_command:
        user["exec"] = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": exec_command[0],
            "args": exec_command[1:],
        }
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }
    path = Path(path)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# --- object builders for tests ---------------------------------------------------------------


def node(name: str, cpu: str = "8", memory: str = "32Gi", gpus: int = 0, **labels: str) -> Obj:
    allocatable: Obj = {"cpu": cpu, "memory": memory}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": dict(labels)},
        "status": {"capacity": dict(allocatable), "allocatable": allocatable},
    }


def pod(
    name: str,
    namespace: str = "default",
    node_name: str = "",
    cpu: str = "1",
    memory: str = "1Gi",
    phase: str = "Running",
) -> Obj:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "nodeName": node_name,
            "containers": [
                {"name": "main", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
            ],
        },
        "status": {"phase": phase},
    }


def namespace(name: str, **labels: str) -> Obj:
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "labels": labels}}


def owned(kind: str, name: str, namespace: str, owner_kind: str, owner_name: str) -> Obj:
    """A ReplicaSet or Job controlled by `owner_kind/owner_name`."""
    api_version = _BY_KIND[kind].api_version
    ref = {"kind": owner_kind, "name": owner_name, "uid": str(uuid.uuid4()), "controller": True}
    meta = {"name": name, "namespace": namespace, "ownerReferences": [ref]}
    return {"kind": kind, "apiVersion": api_version, "metadata": meta}

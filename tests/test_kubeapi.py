"""The list/watch client against the fake API server, configured through a kubeconfig file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gpucost import objects
from gpucost.exposition import render_family
from gpucost.kubeapi import (
    KubeConfigError,
    WatchSettings,
    load_configuration,
)
from gpucost.kubewatch import ClusterWatcher

from kubeapi_fake import FakeKubeAPI, namespace, node, owned, pod, write_kubeconfig

TOKEN = "t0ken"
FAST = WatchSettings(
    page_size=3,
    watch_timeout_s=(30.0, 30.0),
    stall_timeout_s=0.6,
    backoff_initial_s=0.01,
    backoff_max_s=0.1,
    connect_timeout_s=2.0,
    list_timeout_s=5.0,
)


class RecordingSink:
    """A dict per kind, keyed by namespace/name; `replace` forgets what the list lacks."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {k: {} for k in objects.KINDS}
        self.calls: list[tuple[str, str]] = []

    @staticmethod
    def _key(obj: Any) -> str:
        return f"{obj.metadata.namespace}/{obj.metadata.name}".lstrip("/")

    def upsert(self, kind: str, obj: Any) -> None:
        assert isinstance(obj, objects.KINDS[kind])
        self.objects[kind][self._key(obj)] = obj
        self.calls.append(("upsert", kind))

    def delete(self, kind: str, obj: Any) -> None:
        self.objects[kind].pop(self._key(obj), None)
        self.calls.append(("delete", kind))

    def replace(self, kind: str, objs: list[Any]) -> None:
        assert all(isinstance(o, objects.KINDS[kind]) for o in objs)
        self.objects[kind] = {self._key(o): o for o in objs}
        self.calls.append(("replace", kind))

    def names(self, kind: str) -> set[str]:
        return set(self.objects[kind])


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(watcher: ClusterWatcher) -> AsyncIterator[ClusterWatcher]:
    task = asyncio.create_task(watcher.run())
    try:
        yield watcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def api() -> AsyncIterator[FakeKubeAPI]:
    async with FakeKubeAPI(token=TOKEN, bookmark_interval=0.1) as server:
        yield server


@pytest.fixture
def kubeconfig(api: FakeKubeAPI, tmp_path: Path) -> str:
    return str(write_kubeconfig(tmp_path / "kubeconfig", api.url, TOKEN))


def make_watcher(kubeconfig: str, sink: RecordingSink, **kwargs: Any) -> ClusterWatcher:
    return ClusterWatcher(sink, load_configuration(kubeconfig), settings=FAST, **kwargs)


def small_cluster(api: FakeKubeAPI) -> None:
    for ns in ("ml", "web"):
        api.create(namespace(ns, team=ns))
    api.create(node("gpu-a", gpus=8))
    api.create(node("cpu-b"))
    for i in range(4):
        api.create(pod(f"train-{i}", "ml", node_name="gpu-a"))
    for i in range(3):
        api.create(pod(f"web-{i}", "web", node_name="cpu-b"))
    api.create(pod("pending", "web"))
    api.create(owned("ReplicaSet", "web-7d9", "web", "Deployment", "web"))
    api.create(owned("Job", "train", "ml", "PyTorchJob", "llama"))


def pod_names(sink: RecordingSink) -> set[str]:
    return sink.names("Pod")


def stats(watcher: ClusterWatcher, resource: str) -> Any:
    return watcher.stats()[resource]


async def test_initial_sync_reads_every_page(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink)) as w:
        await eventually(w.synced)
        assert pod_names(sink) == {f"ml/train-{i}" for i in range(4)} | {
            "web/web-0",
            "web/web-1",
            "web/web-2",
            "web/pending",
        }
        assert sink.names("Node") == {"gpu-a", "cpu-b"}
        assert sink.names("Namespace") == {"ml", "web"}
        assert sink.names("ReplicaSet") == {"web/web-7d9"}
        assert sink.names("Job") == {"ml/train"}
        assert sink.objects["Node"]["gpu-a"].status.allocatable["nvidia.com/gpu"] == "8"
        assert sink.objects["Job"]["ml/train"].metadata.owner_references[0].kind == "PyTorchJob"
        # 8 pods at 3 a page: one list of three pages, handed over at once.
        pages = api.lists("pods")
        assert [p.query["limit"] for p in pages] == ["3", "3", "3"]
        assert [("continue" in p.query) for p in pages] == [False, True, True]
        assert sink.calls.count(("replace", "Pod")) == 1
        # Each watch starts where its list left off, with bookmarks.
        await api.wait_for_watches("pods")
        (watch,) = api.watch_requests("pods")
        assert watch.query["allowWatchBookmarks"] == "true"
        assert int(watch.query["resourceVersion"]) == api.resource_version
        assert 300 > int(watch.query["timeoutSeconds"]) >= 30
    assert all(r.authorization == f"Bearer {TOKEN}" for r in api.requests)


async def test_readiness_waits_for_every_resource(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    api.fail_next(10_000, status=500, resource="pods", watch=False)
    sink = RecordingSink()
    w = make_watcher(kubeconfig, sink)
    assert not w.synced()
    async with running(w):
        await eventually(lambda: stats(w, "pods").restarts["error"] >= 3)
        await eventually(lambda: stats(w, "nodes").synced and stats(w, "jobs").synced)
        assert not w.synced()  # pods are still failing
        assert pod_names(sink) == set()
        api.clear_faults()
        await eventually(w.synced)
        assert len(pod_names(sink)) == 8


async def test_server_errors_are_retried(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    api.fail_next(4, status=503)  # whichever requests come first
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink)) as w:
        await eventually(w.synced)
        assert len(pod_names(sink)) == 8
        # Each failed request was counted once, and nothing else failed.
        assert sum(s.restarts["error"] for s in w.stats().values()) == 4


async def test_changes_reach_the_sink(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink)) as w:
        await eventually(w.synced)
        api.create(pod("train-9", "ml", node_name="gpu-a", cpu="16"))
        api.update(pod("web-0", "web", node_name="cpu-b", phase="Succeeded"))
        api.delete("Pod", "web-1", "web")
        api.create(node("gpu-c", gpus=4))
        api.update(node("gpu-a", gpus=8, pool="h100"))
        api.delete("Node", "cpu-b")
        await eventually(
            lambda: "web/web-1" not in pod_names(sink) and "cpu-b" not in sink.names("Node")
        )
        assert "ml/train-9" in pod_names(sink)
        assert sink.objects["Pod"]["web/web-0"].status.phase == "Succeeded"
        assert sink.names("Node") == {"gpu-a", "gpu-c"}
        assert sink.objects["Node"]["gpu-a"].metadata.labels == {"pool": "h100"}
        events = stats(w, "pods").events
        assert (events["ADDED"], events["MODIFIED"], events["DELETED"]) == (1, 1, 1)
        await eventually(lambda: stats(w, "pods").events["BOOKMARK"] > 0)


async def test_disconnect_resumes_without_relisting(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink)) as w:
        await eventually(w.synced)
        await api.wait_for_watches(count=7)  # the five core resources and DRA's claims and slices
        assert api.drop_watches("pods") == 1
        last_seen = api.resource_version
        # While the client is away:
        api.delete("Pod", "train-0", "ml")
        api.create(pod("train-5", "ml", node_name="gpu-a"))
        api.update(pod("train-1", "ml", node_name="gpu-a", phase="Failed"))
        await eventually(lambda: "ml/train-5" in pod_names(sink))
        assert "ml/train-0" not in pod_names(sink)
        assert sink.objects["Pod"]["ml/train-1"].status.phase == "Failed"
        resumed = api.watch_requests("pods")[-1]
        assert int(resumed.query["resourceVersion"]) <= last_seen
        assert len(api.lists("pods")) == 3  # the first list's pages, no more
        assert stats(w, "pods").relists == 0
        assert stats(w, "pods").restarts["error"] == 1


@pytest.mark.parametrize("gone_as_http", [False, True], ids=["error-event", "http-410"])
async def test_gone_relists_and_drops_ghosts(
    api: FakeKubeAPI, kubeconfig: str, gone_as_http: bool
) -> None:
    api.gone_as_http = gone_as_http
    small_cluster(api)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink)) as w:
        await eventually(w.synced)
        await api.wait_for_watches("pods")
        api.drop_watches("pods")
        api.delete("Pod", "web-2", "web")
        api.create(pod("web-3", "web", node_name="cpu-b"))
        api.compact()  # the history the client would resume from is gone
        await eventually(lambda: stats(w, "pods").relists == 1)
        await eventually(lambda: "web/web-3" in pod_names(sink))
        assert "web/web-2" not in pod_names(sink)  # no ghost
        assert stats(w, "pods").restarts["gone"] == 1
        assert stats(w, "nodes").relists == 0
        # Watching goes on from the new list.
        api.create(pod("web-4", "web", node_name="cpu-b"))
        await eventually(lambda: "web/web-4" in pod_names(sink))


async def test_malformed_objects_are_skipped_and_counted(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    bad = pod("bad", "ml", node_name="gpu-a")
    bad["spec"]["containers"] = "not a list"
    api.create(bad)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink)) as w:
        await eventually(w.synced)
        assert "ml/bad" not in pod_names(sink)
        assert len(pod_names(sink)) == 8  # the rest of the list is intact
        assert stats(w, "pods").decode_errors == 1
        # A bad object in an event: skipped, and the stream goes on.
        api.update(bad)
        api.create(pod("after-bad", "ml"))
        await eventually(lambda: "ml/after-bad" in pod_names(sink))
        assert stats(w, "pods").decode_errors == 2
        # A line that is not even JSON: counted, and the watch resumes where it was.
        await api.wait_for_watches("pods")
        api.send_raw(b'{"type": "ADDED", "object": {', "pods")
        api.create(pod("after-garbage", "ml"))
        await eventually(lambda: "ml/after-garbage" in pod_names(sink))
        assert stats(w, "pods").decode_errors == 3
        assert stats(w, "pods").restarts["malformed"] == 1
        # A line nested past the recursion limit (issue 15): the same, not a traceback loop.
        await api.wait_for_watches("pods")
        api.send_raw(b'{"type": "ADDED", "object": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "pods")
        api.create(pod("after-deep", "ml"))
        await eventually(lambda: "ml/after-deep" in pod_names(sink))
        assert stats(w, "pods").decode_errors == 4
        assert stats(w, "pods").restarts["malformed"] == 2
        assert stats(w, "pods").relists == 0


@pytest.mark.parametrize("before_headers", [False, True], ids=["silent-body", "no-headers"])
async def test_stalled_watch_is_restarted(
    api: FakeKubeAPI, kubeconfig: str, before_headers: bool
) -> None:
    small_cluster(api)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink, resources=("pods",))) as w:
        await eventually(w.synced)
        await api.wait_for_watches("pods")
        api.stall_next(1, "pods", before_headers=before_headers)
        api.drop_watches("pods")
        api.create(pod("late", "ml"))
        await eventually(lambda: stats(w, "pods").restarts["stalled"] >= 1)
        await eventually(lambda: "ml/late" in pod_names(sink))
        assert stats(w, "pods").relists == 0


async def test_node_mode_watches_one_node(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink, node_name="gpu-a")) as w:
        await eventually(w.synced)
        assert sink.names("Node") == {"gpu-a"}
        assert pod_names(sink) == {f"ml/train-{i}" for i in range(4)}
        assert sink.names("Namespace") == {"ml", "web"}  # still cluster-wide
        assert sink.names("ReplicaSet") == {"web/web-7d9"}
        # The pending pod is bound to this node: it enters the selection as ADDED.
        api.update(pod("pending", "web", node_name="gpu-a"))
        api.create(pod("elsewhere", "web", node_name="cpu-b"))
        api.delete("Pod", "train-3", "ml")
        await eventually(lambda: "web/pending" in pod_names(sink))
        await eventually(lambda: "ml/train-3" not in pod_names(sink))
        assert "web/elsewhere" not in pod_names(sink)
    selectors = {(r.resource, r.query.get("fieldSelector")) for r in api.requests}
    assert selectors == {
        (None, None),  # resource.k8s.io discovery
        ("resourceslices", "spec.nodeName=gpu-a"),  # this node's DRA devices
        ("resourceclaims", None),  # claims are namespaced, not bound to nodes: all of them
        ("pods", "spec.nodeName=gpu-a"),
        ("nodes", "metadata.name=gpu-a"),
        ("namespaces", None),
        ("replicasets", None),
        ("jobs", None),
    }


async def test_wrong_token_never_syncs_nor_crashes(api: FakeKubeAPI, tmp_path: Path) -> None:
    small_cluster(api)
    path = str(write_kubeconfig(tmp_path / "kubeconfig", api.url, "wrong"))
    sink = RecordingSink()
    async with running(make_watcher(path, sink, resources=("pods",))) as w:
        await eventually(lambda: stats(w, "pods").restarts["error"] >= 3)
        assert not w.synced()
        assert pod_names(sink) == set()


async def test_refreshed_credentials_are_used(api: FakeKubeAPI, kubeconfig: str) -> None:
    """In-cluster, the token file rotates; the Configuration's refresh hook supplies each
    request's token (here a stand-in hook, as load_incluster_config installs one)."""
    small_cluster(api)
    current = [TOKEN]
    config = load_configuration(kubeconfig)

    def refresh(c: Any) -> None:
        c.api_key["BearerToken"] = f"Bearer {current[0]}"

    config.refresh_api_key_hook = refresh  # type: ignore[assignment]
    sink = RecordingSink()
    w = ClusterWatcher(sink, config, resources=("pods",), settings=FAST)
    async with running(w):
        await eventually(w.synced)
        api.token = current[0] = "rotated"
        api.drop_watches()
        api.create(pod("after-rotation", "ml"))
        await eventually(lambda: "ml/after-rotation" in pod_names(sink))
    assert api.requests[-1].authorization == "Bearer rotated"


async def test_exec_credential_plugin(api: FakeKubeAPI, tmp_path: Path) -> None:
    """kubectl-style exec plugins (aws eks get-token, gke-gcloud-auth-plugin, ...)."""
    small_cluster(api)
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": TOKEN},
    }
    plugin = [sys.executable, "-c", f"print({json.dumps(json.dumps(credential))})"]
    path = write_kubeconfig(tmp_path / "kubeconfig", api.url, exec_command=plugin)
    sink = RecordingSink()
    async with running(make_watcher(str(path), sink, resources=("nodes",))) as w:
        await eventually(w.synced)
    assert sink.names("Node") == {"gpu-a", "cpu-b"}


async def test_metric_families(api: FakeKubeAPI, kubeconfig: str) -> None:
    small_cluster(api)
    sink = RecordingSink()
    async with running(make_watcher(kubeconfig, sink)) as w:
        await eventually(w.synced)
        text = "".join(render_family(f) for f in w.metric_families())
    for name, kind in [
        ("gpucost_watch_events_total", "counter"),
        ("gpucost_watch_relists_total", "counter"),
        ("gpucost_watch_restarts_total", "counter"),
        ("gpucost_watch_decode_errors_total", "counter"),
        ("gpucost_watch_last_sync_timestamp_seconds", "gauge"),
        ("gpucost_watch_synced", "gauge"),
    ]:
        assert f"# TYPE {name} {kind}\n" in text
    assert 'gpucost_watch_synced{resource="pods"} 1\n' in text
    assert 'gpucost_watch_relists_total{resource="jobs"} 0\n' in text
    assert 'gpucost_watch_events_total{resource="nodes",type="DELETED"} 0\n' in text
    assert 'gpucost_watch_restarts_total{resource="pods",reason="gone"} 0\n' in text


# --- configuration ---------------------------------------------------------------------------


def test_configuration_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: FakeKubeAPI
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(KubeConfigError, match="no Kubernetes configuration"):
        load_configuration(None)
    with pytest.raises(KubeConfigError, match="--kubeconfig .*missing"):
        load_configuration(str(tmp_path / "missing"))
    env_file = write_kubeconfig(tmp_path / "env", "http://from-env:1", "a")
    monkeypatch.setenv("KUBECONFIG", str(env_file))
    assert load_configuration(None).host == "http://from-env:1"
    (tmp_path / ".kube").mkdir()
    write_kubeconfig(tmp_path / ".kube" / "config", "http://from-home:1", "b")
    assert load_configuration(None).host == "http://from-env:1"  # KUBECONFIG first
    monkeypatch.delenv("KUBECONFIG")
    config = load_configuration(None)
    assert config.host == "http://from-home:1"
    assert config.get_api_key_with_prefix("BearerToken") == "Bearer b"


# --- TLS -------------------------------------------------------------------------------------


async def test_tls_with_client_certificate(pki: Path, tmp_path: Path) -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    server_tls.load_cert_chain(pki / "server.crt", pki / "server.key")
    server_tls.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    async with FakeKubeAPI(ssl_context=server_tls, bookmark_interval=0.1) as api:
        small_cluster(api)
        path = write_kubeconfig(
            tmp_path / "kubeconfig",
            api.url,
            ca_file=pki / "ca.crt",
            client_cert=pki / "client.crt",
            client_key=pki / "client.key",
        )
        sink = RecordingSink()
        async with running(make_watcher(str(path), sink, resources=("nodes",))) as w:
            await eventually(w.synced)
            assert sink.names("Node") == {"gpu-a", "cpu-b"}

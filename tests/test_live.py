"""End to end in live mode: kubeconfig -> ClusterWatcher -> CostState -> /metrics, against the
fake API server, asserting on what /metrics serves.

Prices (PRICING): cpu 0.04 $/core-h, memory 0.005 $/GiB-h, GPUs 2.00 $/GPU-h; nodes labelled
pool=spot pay half (0.02, 0.0025, 1.00). The base cluster (`base_cluster`):

  node cpu-1   16 cores,  64 GiB            cpu 0.64, memory 0.32 $/h
  node gpu-1   32 cores, 256 GiB, 4 GPUs    cpu 1.28, memory 1.28, gpu 8.00 $/h
  web/web-5f-a on cpu-1, ReplicaSet web-5f of Deployment web: 2 cores, 8 GiB
  ml/train-0   on gpu-1, PyTorchJob llama: 8 cores, 64 GiB, 2 GPUs
  web/pending  not bound to a node: not counted

Every expected figure is worked out in the comment beside it. Waits poll /metrics until the
change under test shows, then assert exact numbers; no assertion depends on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from gpucost.cli import build_parser, live_source, load_state
from gpucost.kubeapi import WatchSettings, load_configuration
from gpucost.server import Exporter

import builders
from builders import container, controller, namespace
from kubeapi_fake import FakeKubeAPI, write_kubeconfig

REPO = Path(__file__).resolve().parents[1]
TOKEN = "live-t0ken"
PRICING = """\
currency: USD
default: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 2.0}
nodes:
  - match: {labels: {pool: spot}}
    cpu_core_hour: 0.02
    memory_gib_hour: 0.0025
    gpu_hour: 1.0
"""
#: Production timings, except that retries come at once and watches last long enough.
FAST = WatchSettings(
    page_size=2,  # every pods list takes more than one page
    watch_timeout_s=(30.0, 30.0),
    stall_timeout_s=5.0,
    backoff_initial_s=0.01,
    backoff_max_s=0.1,
    connect_timeout_s=2.0,
    list_timeout_s=5.0,
)
#: Families holding per-pod and per-node series: the ones shards split between them.
OBJECT_FAMILIES = ("gpucost_pod_", "gpucost_node_", "gpucost_gpu_price_defaulted")


def approx(expected: Any) -> Any:
    return pytest.approx(expected, rel=1e-9, abs=1e-12)


# --- the cluster ------------------------------------------------------------------------------


def pod(
    name: str,
    node_name: str | None,
    *,
    ns: str,
    cpu: str,
    memory: str,
    gpus: int = 0,
    owner: tuple[str, str, str] | None = None,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    uid: str | None = None,
) -> dict[str, Any]:
    """A one-container pod; GPUs as a limit (the API server copies it to the request)."""
    limits = {"nvidia.com/gpu": str(gpus)} if gpus else None
    return builders.pod(
        name, node_name, container(cpu=cpu, memory=memory, limits=limits),
        namespace=ns, owner=owner, labels=labels, phase=phase, uid=uid or f"uid-{ns}-{name}",
    )  # fmt: skip


def cpu_node(name: str, cores: str = "16", memory: str = "64Gi", **labels: str) -> dict[str, Any]:
    return builders.node(name, cpu=cores, memory=memory, labels=labels)


def gpu_node(name: str, **labels: str) -> dict[str, Any]:
    return builders.node(name, cpu="32", memory="256Gi", labels=labels, extra={"nvidia.com/gpu": "4"})


WEB_RS = ("ReplicaSet", "web-5f", "rs-web-5f")


def web_pod(
    name: str, node_name: str | None = "cpu-1", cpu: str = "2", memory: str = "8Gi", **kw: Any
) -> dict[str, Any]:
    return pod(name, node_name, ns="web", cpu=cpu, memory=memory, owner=WEB_RS, **kw)


def train_pod(name: str = "train-0", node_name: str | None = "gpu-1", **kw: Any) -> dict[str, Any]:
    kw = {"cpu": "8", "memory": "64Gi", "gpus": 2, **kw}
    return pod(name, node_name, ns="ml", owner=("PyTorchJob", "llama", "ptj-llama"), **kw)


def base_cluster(api: FakeKubeAPI) -> None:
    api.create(namespace("web", team="frontend"))
    api.create(namespace("ml", team="research"))
    api.create(cpu_node("cpu-1"))
    api.create(gpu_node("gpu-1"))
    api.create(controller(*WEB_RS, namespace="web", owner=("Deployment", "web", "dep-web")))
    api.create(web_pod("web-5f-a"))
    api.create(train_pod())
    api.create(pod("pending", None, ns="web", cpu="1", memory="1Gi"))


# --- reading /metrics -------------------------------------------------------------------------

Labels = frozenset[tuple[str, str]]


class Scrape:
    """One /metrics response, parsed; every series must be unique."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, Labels], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                key = (s.name, frozenset(s.labels.items()))
                assert key not in self.samples, f"duplicate series {s.name}{s.labels}"
                self.samples[key] = s.value

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample of `name` whose labels include `labels`; None if there is none."""
        wanted = frozenset(labels.items())
        found = [v for (n, ls), v in self.samples.items() if n == name and wanted <= ls]
        assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
        return found[0] if found else None

    def object_series(self) -> dict[tuple[str, Labels], float]:
        return {k: v for k, v in self.samples.items() if k[0].startswith(OBJECT_FAMILIES)}

    def pods(self) -> dict[tuple[str, str], dict[str, str]]:
        """Labels of each pod's CPU series, by (namespace, pod); a pod has at most one."""
        out: dict[tuple[str, str], dict[str, str]] = {}
        for (name, ls), _ in self.samples.items():
            if name == "gpucost_pod_cpu_cost_per_hour":
                labels = dict(ls)
                key = labels["namespace"], labels["pod"]
                assert key not in out, f"two series for pod {key}: {out[key]} and {labels}"
                out[key] = labels
        return out

    def pod_costs(self, ns: str, name: str) -> dict[str, float]:
        """Hourly cost by resource; "gpu" only when the pod has a GPU series."""
        out = {}
        for resource in ("cpu", "memory", "gpu_reserved"):
            v = self.value(f"gpucost_pod_{resource}_cost_per_hour", namespace=ns, pod=name)
            if v is not None:
                out[resource.removesuffix("_reserved")] = v
        return out

    def nodes(self) -> set[str]:
        return {dict(ls)["node"] for (n, ls) in self.samples if n == "gpucost_node_cost_per_hour"}

    def node_costs(self, node: str, idle: bool = False) -> dict[str, float]:
        name = "gpucost_node_idle_cost_per_hour" if idle else "gpucost_node_cost_per_hour"
        return {
            dict(ls)["resource"]: v
            for (n, ls), v in self.samples.items()
            if n == name and dict(ls)["node"] == node
        }

    def watch(self, family: str, resource: str, **labels: str) -> float | None:
        return self.value(f"gpucost_watch_{family}", resource=resource, **labels)


class Live:
    """A running exporter, seen from outside: HTTP only."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self._http = http

    async def status(self, path: str) -> int:
        async with self._http.get(self.url + path) as resp:
            await resp.read()
            return resp.status

    async def scrape(self) -> Scrape:
        async with self._http.get(self.url + "/metrics") as resp:
            assert resp.status == 200
            return Scrape(await resp.text())

    async def until(self, condition: Callable[[Scrape], bool], timeout: float = 30.0) -> Scrape:
        """Scrape until `condition` holds; that scrape."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            s = await self.scrape()
            if condition(s):
                return s
            if loop.time() > deadline:
                raise AssertionError(f"condition not met in {timeout}s; last scrape:\n{s.text}")
            await asyncio.sleep(0.02)

    async def ready(self, timeout: float = 30.0) -> Scrape:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.status("/readyz") != 200:
            if loop.time() > deadline:
                raise AssertionError("exporter did not become ready")
            await asyncio.sleep(0.02)
        return await self.scrape()


@contextlib.asynccontextmanager
async def live_exporter(kubeconfig: Path, pricing: Path, *flags: str) -> AsyncIterator[Live]:
    """What `gpucost.cli` wires up in live mode (flags, pricing file, shard, node name,
    kubeconfig, watcher, exporter), with FAST timings and served on a free loopback port."""
    argv = ["--kubeconfig", str(kubeconfig), "--pricing-file", str(pricing), *flags]
    args = build_parser().parse_args(argv)
    state, snapshot = load_state(args)
    assert snapshot is None
    config = load_configuration(args.kubeconfig)
    watcher, jobs = live_source(state, config, args.node_name, FAST)
    exporter = Exporter(state, sources=[watcher.metric_families], ready=watcher.synced)
    runner = web.AppRunner(exporter.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        async with aiohttp.ClientSession() as http:
            yield Live(f"http://127.0.0.1:{port}", http)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()


@pytest.fixture
async def api() -> AsyncIterator[FakeKubeAPI]:
    async with FakeKubeAPI(token=TOKEN, bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
def kubeconfig(api: FakeKubeAPI, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", api.url, TOKEN)


@pytest.fixture
def pricing(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.yaml"
    path.write_text(PRICING)
    return path


def assert_base_costs(s: Scrape) -> None:
    assert set(s.pods()) == {("web", "web-5f-a"), ("ml", "train-0")}  # web/pending is unbound
    assert s.pods()["web", "web-5f-a"] == {
        "namespace": "web", "pod": "web-5f-a", "node": "cpu-1", "owner_kind": "Deployment",
        "owner_name": "web", "team": "frontend", "product": "", "customer": "",
    }  # fmt: skip
    assert s.pods()["ml", "train-0"]["owner_kind"] == "PyTorchJob"
    assert s.pods()["ml", "train-0"]["team"] == "research"  # from the namespace
    assert s.pod_costs("web", "web-5f-a") == approx({"cpu": 0.08, "memory": 0.04})  # 2/16 x 0.64, 8/64 x 0.32
    # 8/32 x 1.28, 64/256 x 1.28, 2 GPUs x 2.00
    assert s.pod_costs("ml", "train-0") == approx({"cpu": 0.32, "memory": 0.32, "gpu": 4.0})
    assert s.value("gpucost_pod_gpu_reserved", pod="train-0", resource="nvidia.com/gpu") == 2
    assert s.nodes() == {"cpu-1", "gpu-1"}
    assert s.node_costs("cpu-1") == approx({"cpu": 0.64, "memory": 0.32})  # 16 x 0.04, 64 x 0.005
    assert s.node_costs("gpu-1") == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})  # 32 x 0.04, 256 x 0.005, 4 x 2
    assert s.node_costs("cpu-1", idle=True) == approx({"cpu": 0.56, "memory": 0.28})  # 0.64 - 0.08, 0.32 - 0.04
    assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 0.96, "memory": 0.96, "gpu": 4.0})
    assert s.value("gpucost_node_gpus", node="gpu-1") == 4
    assert s.value("gpucost_node_info", node="gpu-1", price_source="default") == 1


# --- readiness and the first sync -------------------------------------------------------------


async def test_not_ready_until_every_list_succeeds_then_exact_costs(
    api: FakeKubeAPI, kubeconfig: Path, pricing: Path
) -> None:
    base_cluster(api)
    api.fail_next(10_000, status=500, resource="pods", watch=False)
    async with live_exporter(kubeconfig, pricing) as live:
        others = ("nodes", "namespaces", "replicasets", "jobs")
        s = await live.until(
            lambda s: all(s.watch("synced", r) == 1 for r in others)
            and (s.watch("restarts_total", "pods", reason="error") or 0) >= 3
        )
        assert await live.status("/readyz") == 503
        assert await live.status("/healthz") == 200
        assert s.watch("synced", "pods") == 0
        assert s.pods() == {}
        api.clear_faults()
        s = await live.ready()
        assert_base_costs(s)
        assert s.value("gpucost_objects_skipped") is None
        assert s.watch("relists_total", "pods") == 0  # failed first lists are not relists


# --- changes ----------------------------------------------------------------------------------


async def test_pod_and_node_changes_reach_metrics(
    api: FakeKubeAPI, kubeconfig: Path, pricing: Path
) -> None:
    base_cluster(api)
    async with live_exporter(kubeconfig, pricing) as live:
        assert_base_costs(await live.ready())

        # A pod added, one resized in place (2 -> 3 cores).
        api.create(web_pod("web-5f-b", cpu="4", memory="16Gi"))
        api.update(web_pod("web-5f-a", cpu="3"))
        s = await live.until(lambda s: s.pod_costs("web", "web-5f-a").get("cpu") == approx(0.12))
        assert s.pod_costs("web", "web-5f-a") == approx({"cpu": 0.12, "memory": 0.04})  # 3/16 x 0.64
        assert s.pod_costs("web", "web-5f-b") == approx({"cpu": 0.16, "memory": 0.08})  # 4/16 x 0.64, 16/64 x 0.32
        # cpu 0.64 - 0.12 - 0.16; memory 0.32 - 0.04 - 0.08
        assert s.node_costs("cpu-1", idle=True) == approx({"cpu": 0.36, "memory": 0.20})

        # A pod finishes: it holds nothing any more.
        api.update(web_pod("web-5f-a", cpu="3", phase="Succeeded"))
        s = await live.until(lambda s: ("web", "web-5f-a") not in s.pods())
        assert s.node_costs("cpu-1", idle=True) == approx({"cpu": 0.48, "memory": 0.24})  # 0.64 - 0.16, 0.32 - 0.08

        # A node moves to the spot pool (half price); a node is added.
        api.update(gpu_node("gpu-1", pool="spot"))
        api.create(cpu_node("cpu-2", cores="8", memory="32Gi"))
        s = await live.until(
            lambda s: "cpu-2" in s.nodes()
            and s.value("gpucost_node_info", node="gpu-1", price_source="node_rule") == 1
        )
        # 32 x 0.02, 256 x 0.0025, 4 x 1.00
        assert s.node_costs("gpu-1") == approx({"cpu": 0.64, "memory": 0.64, "gpu": 4.0})
        # 8/32 x 0.64, 64/256 x 0.64, 2 x 1.00: the node's pods are re-priced with it
        assert s.pod_costs("ml", "train-0") == approx({"cpu": 0.16, "memory": 0.16, "gpu": 2.0})
        assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 0.48, "memory": 0.48, "gpu": 2.0})
        assert s.node_costs("cpu-2") == approx({"cpu": 0.32, "memory": 0.16})  # 8 x 0.04, 32 x 0.005
        assert s.node_costs("cpu-2", idle=True) == approx({"cpu": 0.32, "memory": 0.16})

        # A node goes (its pod is left without a price) and a pod is deleted.
        api.delete("Node", "cpu-1")
        api.delete("Pod", "train-0", "ml")
        s = await live.until(lambda s: "cpu-1" not in s.nodes() and ("ml", "train-0") not in s.pods())
        assert s.pods() == {}
        assert s.value("gpucost_pod_gpu_reserved") is None
        assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 0.64, "memory": 0.64, "gpu": 4.0})
        assert s.value("gpucost_objects_skipped", kind="Pod", reason="node_not_found") == 1  # web-5f-b
        assert s.watch("events_total", "pods", type="DELETED") == 1


# --- owners and namespaces --------------------------------------------------------------------

#: (pod, the pod's controller, watched intermediate owner or None, expected owner_kind/name)
OWNER_CHAINS: list[tuple[str, tuple[str, str, str] | None, dict[str, Any] | None, tuple[str, str]]] = [
    ("api-7d9-x", ("ReplicaSet", "api-7d9", "rs-api"),
     controller("ReplicaSet", "api-7d9", "rs-api", "work", owner=("Deployment", "api", "dep-api")),
     ("Deployment", "api")),
    ("nightly-2911-y", ("Job", "nightly-2911", "job-nightly"),
     controller("Job", "nightly-2911", "job-nightly", "work", owner=("CronJob", "nightly", "cj-nightly")),
     ("CronJob", "nightly")),
    ("once-z", ("Job", "once", "job-once"), controller("Job", "once", "job-once", "work"), ("Job", "once")),
    ("db-0", ("StatefulSet", "db", "sts-db"), None, ("StatefulSet", "db")),
    ("agent-q7", ("DaemonSet", "agent", "ds-agent"), None, ("DaemonSet", "agent")),
    # Operators that own their pods directly.
    ("llama-master-0", ("PyTorchJob", "llama", "ptj-llama"), None, ("PyTorchJob", "llama")),
    ("rc-head-8x", ("RayCluster", "rc", "ray-rc"), None, ("RayCluster", "rc")),
    ("wf-abc-1234", ("Workflow", "wf-abc", "argo-wf-abc"), None, ("Workflow", "wf-abc")),
    # JobSet owns one Job per replicated job; the Job owns the pods.
    ("trainer-w-0-0-k", ("Job", "trainer-w-0", "job-js"),
     controller("Job", "trainer-w-0", "job-js", "work", owner=("JobSet", "trainer", "js-trainer")),
     ("JobSet", "trainer")),
    ("bare", None, None, ("", "")),
]  # fmt: skip


def owners(s: Scrape) -> dict[str, tuple[str, str]]:
    return {name: (ls["owner_kind"], ls["owner_name"]) for (_, name), ls in s.pods().items()}


async def test_owner_chains_resolve_to_the_top_level_workload(
    api: FakeKubeAPI, kubeconfig: Path, pricing: Path
) -> None:
    # 64 cores, 256 GiB: cpu 2.56, memory 1.28 $/h; each 1-core, 1-GiB pod pays
    # 1/64 x 2.56 = 0.04 and 1/256 x 1.28 = 0.005.
    api.create(cpu_node("big", cores="64", memory="256Gi"))
    api.create(namespace("work"))
    for name, owner, intermediate, _ in OWNER_CHAINS:
        if intermediate is not None:
            api.create(intermediate)
        api.create(pod(name, "big", ns="work", cpu="1", memory="1Gi", owner=owner))
    # The first ReplicaSet and Job lists fail: pods arrive before their owners.
    api.fail_next(2, status=500, resource="replicasets", watch=False)
    api.fail_next(2, status=500, resource="jobs", watch=False)
    async with live_exporter(kubeconfig, pricing) as live:
        s = await live.ready()
        assert owners(s) == {name: expected for name, _, _, expected in OWNER_CHAINS}
        assert s.pod_costs("work", "bare") == approx({"cpu": 0.04, "memory": 0.005})

        # A ReplicaSet that shows up after its pod: the pod is first charged to the
        # ReplicaSet, then, once the ReplicaSet is known, to its Deployment, in one series.
        api.create(pod("late-6c8-r", "big", ns="work", cpu="1", memory="1Gi",
                       owner=("ReplicaSet", "late-6c8", "rs-late")))  # fmt: skip
        s = await live.until(lambda s: "late-6c8-r" in owners(s))
        assert owners(s)["late-6c8-r"] == ("ReplicaSet", "late-6c8")
        api.create(controller("ReplicaSet", "late-6c8", "rs-late", "work", owner=("Deployment", "late", "dep-late")))
        s = await live.until(lambda s: owners(s)["late-6c8-r"] == ("Deployment", "late"))
        late = [ls for (n, ls) in s.samples if n.startswith("gpucost_pod_") and ("pod", "late-6c8-r") in ls]
        assert len(late) == 2  # cpu and memory, no leftover ReplicaSet-labelled series
        assert s.pod_costs("work", "late-6c8-r") == approx({"cpu": 0.04, "memory": 0.005})


async def test_leaderworkerset_pods_are_charged_to_the_leaderworkerset(
    api: FakeKubeAPI, kubeconfig: Path, pricing: Path
) -> None:
    # The LWS controller makes one leader StatefulSet named after the LeaderWorkerSet; each
    # leader pod then owns a worker StatefulSet named after itself. Every pod of the set carries
    # the label leaderworkerset.sigs.k8s.io/name.
    lws = {"leaderworkerset.sigs.k8s.io/name": "vllm"}
    api.create(gpu_node("gpu-1"))
    api.create(namespace("serve"))
    api.create(pod("vllm-0", "gpu-1", ns="serve", cpu="4", memory="32Gi", gpus=2, labels=lws,
                   owner=("StatefulSet", "vllm", "sts-vllm")))  # fmt: skip
    api.create(pod("vllm-0-1", "gpu-1", ns="serve", cpu="4", memory="32Gi", gpus=2, labels=lws,
                   owner=("StatefulSet", "vllm-0", "sts-vllm-0")))  # fmt: skip
    async with live_exporter(kubeconfig, pricing) as live:
        s = await live.ready()
        assert owners(s) == {"vllm-0": ("LeaderWorkerSet", "vllm"), "vllm-0-1": ("LeaderWorkerSet", "vllm")}
        for name in ("vllm-0", "vllm-0-1"):  # 4/32 x 1.28, 32/256 x 1.28, 2 x 2.00
            assert s.pod_costs("serve", name) == approx({"cpu": 0.16, "memory": 0.16, "gpu": 4.0})
        assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 0.96, "memory": 0.96, "gpu": 0.0})


async def test_namespace_label_changes_relabel_its_pods(
    api: FakeKubeAPI, kubeconfig: Path, pricing: Path
) -> None:
    base_cluster(api)
    api.create(pod("notebook", "gpu-1", ns="ml", cpu="1", memory="1Gi", labels={"team": "serving"}))
    async with live_exporter(kubeconfig, pricing) as live:
        s = await live.ready()

        def dims(s: Scrape) -> dict[str, tuple[str, str]]:
            return {name: (ls["team"], ls["product"]) for (_, name), ls in s.pods().items()}

        assert dims(s) == {"train-0": ("research", ""), "notebook": ("serving", ""), "web-5f-a": ("frontend", "")}
        api.update(namespace("ml", team="platform", product="llm"))
        s = await live.until(lambda s: dims(s)["train-0"] == ("platform", "llm"))
        # The pod's own label wins over its namespace's; other namespaces are untouched.
        assert dims(s) == {"train-0": ("platform", "llm"), "notebook": ("serving", "llm"), "web-5f-a": ("frontend", "")}
        api.update(namespace("ml"))
        s = await live.until(lambda s: dims(s)["train-0"] == ("", ""))
        assert dims(s) == {"train-0": ("", ""), "notebook": ("serving", ""), "web-5f-a": ("frontend", "")}
        assert s.pod_costs("ml", "train-0") == approx({"cpu": 0.32, "memory": 0.32, "gpu": 4.0})


# --- faults -----------------------------------------------------------------------------------


async def test_disconnect_resumes_and_catches_up(api: FakeKubeAPI, kubeconfig: Path, pricing: Path) -> None:
    base_cluster(api)
    async with live_exporter(kubeconfig, pricing) as live:
        await live.ready()
        await api.wait_for_watches(count=7)  # nodes, pods, namespaces, replicasets, jobs + DRA claims, slices
        assert api.drop_watches() == 7
        # While every watch is down:
        api.delete("Pod", "web-5f-a", "web")
        api.create(web_pod("web-5f-b", cpu="4", memory="16Gi"))
        api.update(gpu_node("gpu-1", pool="spot"))
        s = await live.until(
            lambda s: ("web", "web-5f-b") in s.pods()
            and s.value("gpucost_node_info", node="gpu-1", price_source="node_rule") == 1
        )
        assert set(s.pods()) == {("web", "web-5f-b"), ("ml", "train-0")}
        assert s.node_costs("cpu-1", idle=True) == approx({"cpu": 0.48, "memory": 0.24})  # 0.64 - 0.16, 0.32 - 0.08
        assert s.pod_costs("ml", "train-0") == approx({"cpu": 0.16, "memory": 0.16, "gpu": 2.0})  # spot: half
        for resource in ("nodes", "pods", "namespaces", "replicasets", "jobs"):
            assert s.watch("relists_total", resource) == 0  # resumed from history, not relisted
        assert (s.watch("restarts_total", "pods", reason="error") or 0) >= 1


async def test_gone_relists_without_ghosts_or_losses(api: FakeKubeAPI, kubeconfig: Path, pricing: Path) -> None:
    base_cluster(api)
    # 1 core, 4 GiB on cpu-1: 1/16 x 0.64 = 0.04, 4/64 x 0.32 = 0.02
    db = ("StatefulSet", "db", "sts-db")
    api.create(pod("db-0", "cpu-1", ns="web", cpu="1", memory="4Gi", owner=db, uid="db-0-v1"))
    async with live_exporter(kubeconfig, pricing) as live:
        s = await live.ready()
        assert s.pod_costs("web", "db-0") == approx({"cpu": 0.04, "memory": 0.02})
        await api.wait_for_watches("pods")
        api.drop_watches("pods")
        # While the pods watch is down, and then history is compacted past it:
        api.delete("Pod", "web-5f-a", "web")  # deleted: its series must go
        api.create(web_pod("web-5f-c"))  # added: must not be lost
        api.delete("Pod", "db-0", "web")  # the same pod name comes back with a new uid elsewhere
        api.create(pod("db-0", "gpu-1", ns="web", cpu="1", memory="4Gi", owner=db, uid="db-0-v2"))
        api.compact()
        s = await live.until(lambda s: (s.watch("relists_total", "pods") or 0) >= 1)
        assert set(s.pods()) == {("web", "web-5f-c"), ("web", "db-0"), ("ml", "train-0")}
        assert s.pods()["web", "db-0"]["node"] == "gpu-1"  # one series, the new pod's
        assert s.pod_costs("web", "web-5f-c") == approx({"cpu": 0.08, "memory": 0.04})
        assert s.pod_costs("web", "db-0") == approx({"cpu": 0.04, "memory": 0.02})  # 1/32 x 1.28, 4/256 x 1.28
        assert s.node_costs("cpu-1", idle=True) == approx({"cpu": 0.56, "memory": 0.28})  # only web-5f-c
        # cpu 1.28 - 0.32 - 0.04, memory 1.28 - 0.32 - 0.02
        assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 0.92, "memory": 0.94, "gpu": 4.0})
        assert s.watch("relists_total", "pods") == 1
        assert s.watch("restarts_total", "pods", reason="gone") == 1
        assert s.watch("relists_total", "nodes") == 0
        # And the new watch carries on.
        api.delete("Pod", "web-5f-c", "web")
        s = await live.until(lambda s: ("web", "web-5f-c") not in s.pods())
        assert s.node_costs("cpu-1", idle=True) == approx({"cpu": 0.64, "memory": 0.32})


async def test_malformed_objects_are_skipped_and_counted(api: FakeKubeAPI, kubeconfig: Path, pricing: Path) -> None:
    base_cluster(api)
    bad = pod("bad", "cpu-1", ns="web", cpu="1", memory="1Gi")
    bad["spec"]["containers"] = "not a list"
    api.create(bad)
    async with live_exporter(kubeconfig, pricing) as live:
        s = await live.ready()
        assert_base_costs(s)  # the rest of the list is intact
        assert s.watch("decode_errors_total", "pods") == 1
        before = s.object_series()

        await api.wait_for_watches("pods")
        api.send_raw(b'{"type": "MODIFIED", "object": {', "pods")  # not even JSON
        broken = train_pod()
        broken["spec"]["containers"] = [{"name": "main", "resources": "none"}]
        api.update(broken)  # a change to a served pod that does not decode
        s = await live.until(lambda s: s.watch("decode_errors_total", "pods") == 3)
        assert s.object_series() == before  # train-0 keeps its last good state
        assert s.watch("restarts_total", "pods", reason="malformed") == 1
        # The stream goes on past both.
        api.create(web_pod("web-5f-b", cpu="4", memory="16Gi"))
        s = await live.until(lambda s: ("web", "web-5f-b") in s.pods())
        assert s.pod_costs("ml", "train-0") == approx({"cpu": 0.32, "memory": 0.32, "gpu": 4.0})
        assert s.watch("decode_errors_total", "pods") == 3
        assert s.watch("relists_total", "pods") == 0


async def test_api_errors_keep_what_is_served(api: FakeKubeAPI, kubeconfig: Path, pricing: Path) -> None:
    base_cluster(api)
    async with live_exporter(kubeconfig, pricing) as live:
        before = (await live.ready()).object_series()
        await api.wait_for_watches(count=7)
        api.fail_next(10_000, status=500)
        api.drop_watches()
        api.delete("Pod", "train-0", "ml")  # happens during the outage
        s = await live.until(lambda s: (s.watch("restarts_total", "pods", reason="error") or 0) >= 4)
        assert s.object_series() == before  # the last known state, not an empty one
        assert await live.status("/readyz") == 200
        api.clear_faults()
        s = await live.until(lambda s: ("ml", "train-0") not in s.pods())
        assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})
        assert s.watch("relists_total", "pods") == 0  # resumed where it stopped


# --- deployment modes -------------------------------------------------------------------------


async def test_node_mode_serves_one_node_and_its_pods(api: FakeKubeAPI, kubeconfig: Path, pricing: Path) -> None:
    base_cluster(api)
    api.create(train_pod("train-1", node_name=None, cpu="4", memory="32Gi", gpus=1))
    async with live_exporter(kubeconfig, pricing, "--node-name", "gpu-1") as live:
        s = await live.ready()
        assert s.nodes() == {"gpu-1"}
        assert set(s.pods()) == {("ml", "train-0")}
        assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 0.96, "memory": 0.96, "gpu": 4.0})
        assert s.value("gpucost_objects_skipped") is None  # cpu-1's pods are not even seen
        api.create(web_pod("web-5f-b"))  # another node's pod
        api.update(train_pod("train-1", cpu="4", memory="32Gi", gpus=1))  # now bound to gpu-1
        s = await live.until(lambda s: ("ml", "train-1") in s.pods())
        assert set(s.pods()) == {("ml", "train-0"), ("ml", "train-1")}
        # 4/32 x 1.28, 32/256 x 1.28, 1 x 2.00
        assert s.pod_costs("ml", "train-1") == approx({"cpu": 0.16, "memory": 0.16, "gpu": 2.0})
        # cpu 1.28 - 0.32 - 0.16, memory the same, gpu 8 - 4 - 2
        assert s.node_costs("gpu-1", idle=True) == approx({"cpu": 0.80, "memory": 0.80, "gpu": 2.0})


def shard_cluster(api: FakeKubeAPI) -> list[str]:
    """42 pods over 6 nodes in 3 namespaces, with several owner kinds, GPUs and one overcommitted
    node; returns the pods' names."""
    for ns, team in (("ml", "research"), ("web", "frontend"), ("batch", "")):
        api.create(namespace(ns, team=team) if team else namespace(ns))
    nodes = ["cpu-1", "cpu-2", "cpu-3", "gpu-1", "gpu-2"]
    for name in nodes:
        api.create(gpu_node(name) if name.startswith("gpu") else cpu_node(name))
    api.create(builders.node("small", cpu="4", memory="16Gi", alloc_cpu="2"))
    for ns in ("ml", "web", "batch"):
        api.create(controller("ReplicaSet", f"svc-{ns}", f"rs-{ns}", ns, owner=("Deployment", "svc", f"dep-{ns}")))
        api.create(controller("Job", f"etl-{ns}", f"job-{ns}", ns, owner=("CronJob", "etl", f"cj-{ns}")))
    names = []
    for i in range(40):
        ns = ("ml", "web", "batch")[i % 3]
        node_name = nodes[i % 5]
        owner = [("ReplicaSet", f"svc-{ns}", f"rs-{ns}"), ("Job", f"etl-{ns}", f"job-{ns}"),
                 ("StatefulSet", "db", f"sts-{ns}"), None][i % 4]  # fmt: skip
        gpus = 1 if node_name.startswith("gpu") and i % 2 == 0 else 0  # 4 pods on each GPU node
        api.create(pod(f"p{i}", node_name, ns=ns, cpu=f"{250 * (1 + i % 6)}m", memory=f"{512 * (1 + i % 4)}Mi",
                       gpus=gpus, owner=owner, labels={"product": f"prod-{i % 3}"} if i % 2 else None))  # fmt: skip
        names.append(f"p{i}")
    for i in (40, 41):  # 3 cores reserved on 2 allocatable: overcommitted
        api.create(pod(f"p{i}", "small", ns="batch", cpu="1500m", memory="1Gi"))
        names.append(f"p{i}")
    return names


def union(scrapes: list[Scrape]) -> dict[tuple[str, Labels], float]:
    """The shards' per-object series together; no series may come from two shards."""
    merged: dict[tuple[str, Labels], float] = {}
    for s in scrapes:
        for key, v in s.object_series().items():
            assert key not in merged, f"{key[0]}{dict(key[1])} served by two shards"
            merged[key] = v
    return merged


async def test_shards_partition_the_unsharded_series(
    api: FakeKubeAPI, kubeconfig: Path, pricing: Path
) -> None:
    names = shard_cluster(api)
    async with contextlib.AsyncExitStack() as stack:
        whole = await stack.enter_async_context(live_exporter(kubeconfig, pricing))
        shards = [
            await stack.enter_async_context(
                live_exporter(kubeconfig, pricing, "--shard", str(i), "--total-shards", "3")
            )
            for i in range(3)
        ]

        async def compare(expected_pods: set[str], expected_nodes: set[str]) -> None:
            async def caught_up() -> tuple[Scrape, list[Scrape]]:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30
                while True:
                    w = await whole.scrape()
                    parts = [await shard.scrape() for shard in shards]
                    seen = [{p for _, p in s.pods()} for s in parts]
                    if (
                        {p for _, p in w.pods()} == expected_pods == set().union(*seen)
                        and w.nodes() == expected_nodes == set().union(*(s.nodes() for s in parts))
                    ):
                        return w, parts
                    assert loop.time() < deadline, "shards did not catch up"
                    await asyncio.sleep(0.02)

            w, parts = await caught_up()
            assert union(parts) == w.object_series()  # sample for sample, value for value
            assert all(s.pods() for s in parts)  # every shard has a share of the pods
            # Health counts are split like the series: each shard counts what it serves.
            assert sum(s.value("gpucost_overcommitted_nodes", resource="cpu") for s in parts) == w.value(
                "gpucost_overcommitted_nodes", resource="cpu"
            )

        for live in (whole, *shards):
            await live.ready()
        all_nodes = {"cpu-1", "cpu-2", "cpu-3", "gpu-1", "gpu-2", "small"}
        await compare(set(names), all_nodes)
        w = await whole.scrape()
        assert w.value("gpucost_overcommitted_nodes", resource="cpu") == 1  # small

        # Changes keep the partition exact: pods go and come, a node goes with its pods.
        for gone in ("p0", "p1", "p2"):
            ns = ("ml", "web", "batch")[int(gone[1:]) % 3]
            api.delete("Pod", gone, ns)
        api.create(pod("p42", "gpu-2", ns="ml", cpu="2", memory="4Gi"))
        api.create(pod("p43", "cpu-3", ns="web", cpu="1", memory="2Gi"))
        api.delete("Node", "cpu-3")  # p7, p12, p17, ... p43 lose their price
        api.update(namespace("web", team="platform"))
        on_cpu_3 = {f"p{i}" for i in range(40) if i % 5 == 2} | {"p43"}
        await compare(set(names) - {"p0", "p1", "p2"} - on_cpu_3 | {"p42"}, all_nodes - {"cpu-3"})
        s = await whole.until(lambda s: s.pods()["web", "p4"]["team"] == "platform")
        for shard in shards:
            await shard.until(
                lambda s: all(ls["team"] == "platform" for (ns, _), ls in s.pods().items() if ns == "web")
            )
        assert union([await shard.scrape() for shard in shards]) == s.object_series()


# --- the real command line --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def cli_exporter(kubeconfig: Path, pricing: Path, log_path: Path, *flags: str) -> AsyncIterator[tuple[Live, int]]:
    """`python -m gpucost --kubeconfig ...` as a child process, ready; (its HTTP view, its pid).
    It must exit 0 on SIGTERM; its log is in `log_path`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gpucost", "--kubeconfig", str(kubeconfig),
            "--web.listen-address", f"127.0.0.1:{port}", "--pricing-file", str(pricing), *flags,
            cwd=REPO, env=env, stdout=log_file, stderr=log_file,
        )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            live = Live(f"http://127.0.0.1:{port}", http)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60  # a cold interpreter on a busy machine
            while True:
                assert proc.returncode is None, log_path.read_text()
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    if await live.status("/readyz") == 200:
                        break
                assert loop.time() < deadline, f"not ready:\n{log_path.read_text()}"
                await asyncio.sleep(0.05)
            yield live, proc.pid
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, log_path.read_text()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_live_mode_end_to_end(
    api: FakeKubeAPI, kubeconfig: Path, pricing: Path, tmp_path: Path
) -> None:
    """`python -m gpucost --kubeconfig ...`: the wiring as shipped, default timings included."""
    base_cluster(api)
    async with cli_exporter(kubeconfig, pricing, tmp_path / "exporter.log") as (live, _):
        assert_base_costs(await live.scrape())
        api.create(web_pod("web-5f-b", cpu="4", memory="16Gi"))
        s = await live.until(lambda s: ("web", "web-5f-b") in s.pods())
        assert s.pod_costs("web", "web-5f-b") == approx({"cpu": 0.16, "memory": 0.08})
        assert s.node_costs("cpu-1", idle=True) == approx({"cpu": 0.40, "memory": 0.20})  # 0.64 - 0.08 - 0.16
        assert api.requests and all(r.authorization == f"Bearer {TOKEN}" for r in api.requests)

"""DRA end to end in live mode (issue 10): the fake API server serves resource.k8s.io claims
and slices with list+watch; the exporter discovers the version, watches them and costs the
GPUs they allocate. Objects follow tests/allocation_objects.py (sources cited there).

Prices: A100 80GB 3.50 $/GPU-h (0.50 per compute slice), unit prices otherwise."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_live import TOKEN, approx, live_exporter

from allocation_objects import (
    claim,
    consumer,
    dra_node,
    gpu_device,
    mig_device,
    resource_slice,
    shared_claim_pod,
    template_pod,
)
from kubeapi_fake import FakeKubeAPI, write_kubeconfig

PRICING = """\
builtin_catalog: false
default: {cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 9.0}
gpu_models: {NVIDIA-A100-SXM4-80GB: 3.5}
"""


@pytest.fixture
def pricing(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.yaml"
    path.write_text(PRICING)
    return path


async def served(versions: tuple[str, ...]) -> FakeKubeAPI:
    return FakeKubeAPI(token=TOKEN, bookmark_interval=0.2, dra_versions=versions)


@pytest.fixture
async def api() -> AsyncIterator[FakeKubeAPI]:
    async with await served(("v1", "v1beta2", "v1beta1")) as server:
        yield server


@pytest.fixture
def kubeconfig(api: FakeKubeAPI, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", api.url, TOKEN)


def gpu_cost(s: Any, pod: str) -> float | None:
    return s.value("gpucost_pod_gpu_reserved_cost_per_hour", pod=pod)


async def test_claims_and_slices_cost_their_gpus(api: FakeKubeAPI, kubeconfig: Path, pricing: Path) -> None:
    api.create(dra_node("dra-1"))
    api.create(resource_slice("dra-1", [gpu_device("gpu-0", "GPU-d0"), gpu_device("gpu-1", "GPU-d1")]))
    solo = template_pod("solo", "gpu-test1", "dra-1", "solo-gpu-8k2lq")
    api.create(solo)
    api.create(claim("solo-gpu-8k2lq", "gpu-test1", "dra-1", ["gpu-0"], [consumer(solo)]))
    async with live_exporter(kubeconfig, pricing) as live:
        s = await live.ready()
        assert s.watch("synced", "resourceclaims") == 1 and s.watch("synced", "resourceslices") == 1
        assert gpu_cost(s, "solo") == approx(3.5)  # one of the node's two GPUs
        assert s.node_costs("dra-1")["gpu"] == approx(7.0)
        assert s.value("gpucost_node_gpu_info", node="dra-1", source="dra") == 1

        # gpu-test3: two pods share one claim on gpu-1.
        a, b = (shared_claim_pod(n, "gpu-test3", "dra-1", "single-gpu") for n in ("pod0", "pod1"))
        api.create(a)
        api.create(b)
        api.create(claim("single-gpu", "gpu-test3", "dra-1", ["gpu-1"], [consumer(a), consumer(b)]))
        s = await live.until(lambda s: gpu_cost(s, "pod1") is not None)
        assert (gpu_cost(s, "pod0"), gpu_cost(s, "pod1")) == (approx(1.75), approx(1.75))
        assert s.node_costs("dra-1", idle=True)["gpu"] == approx(0.0)

        # A pod deleted while its claim lives: the other pod holds the claim alone.
        api.delete("Pod", "pod0", "gpu-test3")
        s = await live.until(lambda s: gpu_cost(s, "pod0") is None)
        assert gpu_cost(s, "pod1") == approx(3.5)

        # The solo claim is deallocated: its GPU goes to idle.
        api.update(claim("solo-gpu-8k2lq", "gpu-test1", "dra-1", [], []))
        s = await live.until(lambda s: gpu_cost(s, "solo") is None)
        assert s.node_costs("dra-1", idle=True)["gpu"] == approx(3.5)

        # A MIG node: one A100 80GB published as 1g.10gb devices; a claim for one pays 1/7.
        api.create(dra_node("dra-mig"))
        devices = [mig_device(f"gpu-0-mig-1g10gb-{i}", f"MIG-m{i}", "GPU-m", "1g.10gb", "9728Mi") for i in range(7)]
        api.create(resource_slice("dra-mig", devices))
        small = template_pod("small", "gpu-test4", "dra-mig", "small-mig")
        api.create(small)
        api.create(claim("small-mig", "gpu-test4", "dra-mig", ["gpu-0-mig-1g10gb-3"], [consumer(small)]))
        s = await live.until(lambda s: gpu_cost(s, "small") is not None)
        assert gpu_cost(s, "small") == approx(0.5)
        assert s.node_costs("dra-mig")["gpu"] == approx(3.5)
    versions = {r.path for r in api.requests if r.resource == "resourceclaims"}
    assert versions == {"/apis/resource.k8s.io/v1/resourceclaims"}  # the newest served version


async def test_v1beta1_servers_are_read_too(tmp_path: Path, pricing: Path) -> None:
    # Kubernetes 1.32 serves v1beta1 only, where a device's attributes sit under `basic`.
    async with await served(("v1beta1",)) as api:
        api.create(dra_node("dra-1"))
        sl = resource_slice("dra-1", [gpu_device("gpu-0", "GPU-d0")])
        sl["apiVersion"] = "resource.k8s.io/v1beta1"
        sl["spec"]["devices"] = [{"name": d["name"], "basic": {"attributes": d["attributes"], "capacity": d["capacity"]}}
                                 for d in sl["spec"]["devices"]]
        api.create(sl)
        p = template_pod("solo", "gpu-test1", "dra-1", "solo-gpu")
        api.create(p)
        api.create(claim("solo-gpu", "gpu-test1", "dra-1", ["gpu-0"], [consumer(p)]))
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url, TOKEN)
        async with live_exporter(kubeconfig, pricing) as live:
            s = await live.ready()
            assert gpu_cost(s, "solo") == approx(3.5)
        assert {r.path for r in api.requests if r.resource == "resourceslices"} == {
            "/apis/resource.k8s.io/v1beta1/resourceslices"}


async def test_a_cluster_without_dra_works_unchanged(
    tmp_path: Path, pricing: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gpucost")
    async with await served(()) as api:
        api.create(dra_node("plain"))
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url, TOKEN)
        async with live_exporter(kubeconfig, pricing) as live:
            s = await live.ready()
            assert s.nodes() == {"plain"}
            assert s.watch("synced", "resourceclaims") is None  # not watched at all
        discovery = [r for r in api.requests if r.path == "/apis/resource.k8s.io"]
        assert len(discovery) == 1  # asked once, never again
        assert not any(r.path.startswith("/apis/resource.k8s.io/") for r in api.requests)
    dra_logs = [r for r in caplog.records if "resource.k8s.io" in r.getMessage()]
    assert [r.levelname for r in dra_logs] == ["INFO"]  # one line, no warnings or errors

"""End to end on the bundled demo: `--once` prints exactly the costs worked by hand in
examples/demo/README.md (inputs below are copied from examples/demo/cluster.json and
pricing.yaml; the arithmetic is done here, not by the exporter's code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
CPU, MEM = 0.031611, 0.004237  # default unit prices, also the split weights
KI = 1024 / 2**30  # GiB per Ki


@pytest.fixture(scope="module")
def samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = subprocess.run([sys.executable, "-m", "gpucost", "--demo", "--once"], capture_output=True,
                         text=True, cwd=REPO, check=True).stdout
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(out) for s in f.samples
    }


def pod_value(samples: dict, metric: str, namespace: str, pod: str) -> float:
    found = [v for (name, labels), v in samples.items()
             if name == metric and ("namespace", namespace) in labels and ("pod", pod) in labels]
    assert len(found) == 1, (metric, pod, found)
    return found[0]


def node_value(samples: dict, metric: str, node: str, resource: str) -> float:
    return samples[metric, frozenset({("node", node), ("resource", resource)})]


# ip-10-0-41-77: p4de.24xlarge at 27.44705 $/h; 96 cores, 1176054916Ki, 8 A100 80GB at 2.44.
P4DE = "ip-10-0-41-77.ec2.internal"
W_CPU, W_MEM, W_GPU = 96 * CPU, 1176054916 * KI * MEM, 8 * 2.44
P4DE_CPU = 27.44705 * W_CPU / (W_CPU + W_MEM + W_GPU)
P4DE_MEM = 27.44705 * W_MEM / (W_CPU + W_MEM + W_GPU)
P4DE_GPU = 27.44705 * W_GPU / (W_CPU + W_MEM + W_GPU)
P4DE_ALLOC_CPU, P4DE_ALLOC_MEM = 95.69, 1174452356 * KI


def test_p4de_node_split(samples: dict) -> None:
    assert node_value(samples, "gpucost_node_cost_per_hour", P4DE, "cpu") == pytest.approx(P4DE_CPU, rel=1e-12)
    assert node_value(samples, "gpucost_node_cost_per_hour", P4DE, "memory") == pytest.approx(P4DE_MEM, rel=1e-12)
    assert node_value(samples, "gpucost_node_cost_per_hour", P4DE, "gpu") == pytest.approx(P4DE_GPU, rel=1e-12)
    assert P4DE_CPU == pytest.approx(3.050246, abs=1e-6)  # the README's rounded figure


def test_vllm_pod_with_sidecar_and_init_container(samples: dict) -> None:
    # Effective request: max(6 + 0.5, 8 + 0.5) = 8.5 cores; max(48Gi + 256Mi, 64Gi + 256Mi) = 64.25 GiB; 1 GPU.
    pod = ("inference", "vllm-chat-8xghjmwc6f-w5fcm")
    assert pod_value(samples, "gpucost_pod_cpu_cost_per_hour", *pod) == pytest.approx(8.5 * P4DE_CPU / P4DE_ALLOC_CPU, rel=1e-12)
    assert pod_value(samples, "gpucost_pod_memory_cost_per_hour", *pod) == pytest.approx(64.25 * P4DE_MEM / P4DE_ALLOC_MEM, rel=1e-12)
    assert pod_value(samples, "gpucost_pod_gpu_reserved_cost_per_hour", *pod) == pytest.approx(P4DE_GPU / 8, rel=1e-12)


def test_idle_on_partly_idle_gpu_node(samples: dict) -> None:
    # Reserved: 0.06 + 0.1 + 8.5 + 8.5 + 12 = 29.16 cores; 84Mi + 2 x 64.25Gi + 128Gi; 3 GPUs.
    reserved_mem = 84 / 1024 + 2 * 64.25 + 128
    assert node_value(samples, "gpucost_node_idle_cost_per_hour", P4DE, "cpu") == pytest.approx(
        P4DE_CPU * (P4DE_ALLOC_CPU - 29.16) / P4DE_ALLOC_CPU, rel=1e-9)
    assert node_value(samples, "gpucost_node_idle_cost_per_hour", P4DE, "memory") == pytest.approx(
        P4DE_MEM * (P4DE_ALLOC_MEM - reserved_mem) / P4DE_ALLOC_MEM, rel=1e-9)
    assert node_value(samples, "gpucost_node_idle_cost_per_hour", P4DE, "gpu") == pytest.approx(5 * P4DE_GPU / 8, rel=1e-12)


def test_pod_level_resources_on_a_catalog_priced_node(samples: dict) -> None:
    # m6a.4xlarge is not in the demo's pricing file: the built-in catalog prices it, 0.6912 $/h in
    # us-east-1 (AWS Price List via karpenter-provider-aws, 2026-07-20), split by the weights
    # 16 cores x 0.031611 and 65021380Ki x 0.004237 per GiB.
    # spec.resources.requests {cpu: 3, memory: 12Gi} replace the containers' sum.
    w_cpu, w_mem = 16 * CPU, 65021380 * KI * MEM
    node_cpu, node_mem = 0.6912 * w_cpu / (w_cpu + w_mem), 0.6912 * w_mem / (w_cpu + w_mem)
    pod = ("batch-etl", "feature-export-xl244")
    assert pod_value(samples, "gpucost_pod_cpu_cost_per_hour", *pod) == pytest.approx(3 * node_cpu / 15.89, rel=1e-12)
    assert pod_value(samples, "gpucost_pod_memory_cost_per_hour", *pod) == pytest.approx(
        12 * node_mem / (63418820 * KI), rel=1e-12)


def test_time_sliced_replica_is_a_quarter_gpu(samples: dict) -> None:
    # g5.12xlarge at 5.672: weights 48 x 0.031611, 199475392Ki x 0.004237/GiB, 4 A10G x 0.84.
    w_cpu, w_mem, w_gpu = 48 * CPU, 199475392 * KI * MEM, 4 * 0.84
    gpu = 5.672 * w_gpu / (w_cpu + w_mem + w_gpu)
    for pod in ("embeddings-9dwr8pbnqw-l65b4", "embeddings-4gtvnjmzhd-hlft9"):  # the second is terminating
        assert pod_value(samples, "gpucost_pod_gpu_reserved_cost_per_hour", "customer-acme", pod) == pytest.approx(gpu / 16, rel=1e-12)
        assert pod_value(samples, "gpucost_pod_gpu_reserved", "customer-acme", pod) == 0.25


def test_finished_and_unbound_pods_cost_nothing(samples: dict) -> None:
    counted = {dict(labels)["pod"] for (name, labels) in samples if name == "gpucost_pod_cpu_cost_per_hour"}
    assert len(counted) == 76  # 79 pods: one Succeeded, one Failed, one unbound Pending

"""Exposition format: label escaping, number formatting, and whole scrapes that parse with
prometheus_client's parser and pass `promtool check metrics` without a warning."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpucost.exposition import MetricFamily, escape_label_value, format_value, render_family

from builders import container, engine, namespace, node, pod


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("plain", "plain"), ('say "hi"', 'say \\"hi\\"'), ("a\\b", "a\\\\b"), ("two\nlines", "two\\nlines")],
)
def test_label_escaping(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (0.0, "0"), (0.5, "0.5"), (1e-05, "1e-05"), (0.1 + 0.2, "0.30000000000000004"),
     (float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN"), (1e20, "1e+20")],
)
def test_number_formatting_round_trips(value: float, text: str) -> None:
    assert format_value(value) == text


def test_render_family() -> None:
    fam = MetricFamily("x_total", "counter", "Things.\nMore.", [((("a", 'q"'),), 2)])
    assert render_family(fam) == '# HELP x_total Things.\\nMore.\n# TYPE x_total counter\nx_total{a="q\\""} 2\n'


def awkward_cluster() -> str:
    # Label values with quotes, backslashes and newlines must survive the round trip.
    objs = [
        node("n-1", labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}, extra={"nvidia.com/gpu": "2"}),
        namespace("ml", team='odd"team\\x', product="line\nbreak"),
        pod("p-1", "n-1", container(cpu="1", memory="1Gi", limits={"nvidia.com/gpu": "1"}), namespace="ml"),
        pod("p-2", "n-1", container(cpu="250m"), namespace="ml"),
    ]
    return engine(objs).render()


def test_scrape_parses_with_prometheus_client() -> None:
    families = {f.name: f for f in text_string_to_metric_families(awkward_cluster())}
    gpu = families["gpucost_pod_gpu_reserved_cost_per_hour"].samples
    assert len(gpu) == 1
    assert gpu[0].labels["team"] == 'odd"team\\x'
    assert gpu[0].labels["product"] == "line\nbreak"
    assert {s.labels["pod"] for s in families["gpucost_pod_cpu_cost_per_hour"].samples} == {"p-1", "p-2"}
    # every family declares HELP and TYPE
    for fam in families.values():
        assert fam.documentation, fam.name
        assert fam.type in ("gauge", "counter"), fam.name


def test_promtool_check_metrics_is_clean() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run the README test command, which installs Debian's prometheus package"
    out = subprocess.run([promtool, "check", "metrics"], input=awkward_cluster(), capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stdout + out.stderr


def test_cached_text_equals_samples_computed_afresh() -> None:
    # The scrape path renders cached text; CostState.series() computes the same samples
    # directly. They must agree sample for sample, escapes and GPU series included.
    objs = [
        node("n-1", labels={"nvidia.com/gpu.product": "NVIDIA-B999"}, extra={"nvidia.com/gpu": "4"}),
        node("n-2", labels={"nvidia.com/mig.strategy": "mixed", "nvidia.com/gpu.count": "1"},
             extra={"nvidia.com/mig-1g.10gb": "7"}),
        namespace("ml", team='odd"team\\x'),
        pod("p-1", "n-1", container(cpu="1", memory="1Gi", limits={"nvidia.com/gpu": "3"}), namespace="ml"),
        pod("p-2", "n-2", container(cpu="2", limits={"nvidia.com/mig-1g.10gb": "2"}), namespace="ml",
            labels={"product": "x\ny"}),
    ]
    state = engine(objs)
    rendered = {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for f in text_string_to_metric_families(state.render())
        for s in f.samples
        if s.name.startswith(("gpucost_pod_", "gpucost_node_", "gpucost_gpu_price"))
    }
    fresh = {(name, tuple(sorted(labels)), value) for name, labels, value in state.series()}
    assert rendered == fresh
    # 2 pods x (cpu, memory, gpu cost, gpu reserved); 2 nodes x (3 cost + 3 idle + info + gpus +
    # gpu_info + defaulted: n-1's model is unknown, n-2 has no product label at all + the unit
    # weight of the one GPU resource each advertises)
    assert len(fresh) == 2 * 4 + 2 * (3 + 3 + 1 + 1 + 1 + 1 + 1)

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

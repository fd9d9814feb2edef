"""Pricing config: strict validation with file:line: key messages, and the resolver's rules."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from gpucost import catalog
from gpucost.pricing import (
    NodeFacts,
    PricingConfig,
    PricingError,
    resolve_node_price,
)
from gpucost.pricing_file import load_pricing, parse_pricing

EXAMPLE = """\
currency: USD
default:
  cpu_core_hour: 0.031611
  memory_gib_hour: 0.004237
  gpu_hour: 2.50
gpu_models:
  NVIDIA-A100-SXM4-80GB: 3.20
instance_types:
  p4d.24xlarge: 21.957642
nodes:
  - match: {name: gpu-a-1}
    hourly: 30.0
  - match: {labels: {pool: cheap}}
    cpu_core_hour: 0.02
    memory_gib_hour: 0.002
    gpu_hour: 1.0
labels:
  team: [team]
  product: [product]
  customer: [customer]
budgets:
  - {name: ml-gpu, dimension: team, value: ml-research, resource: gpu, monthly: 20000}
  - {dimension: namespace, value: inference, monthly: 5000}
gpu_weights:
  nvidia.com/gpu.shared: 0.25
  1g.10gb: 0.125
"""


def test_issue_example_parses() -> None:
    cfg = parse_pricing(EXAMPLE, "p.yaml")
    assert cfg.currency == "USD"
    assert cfg.default.gpu_hour == 2.5
    assert cfg.gpu_models == {"nvidia-a100-sxm4-80gb": 3.2}
    assert cfg.instance_types == {"p4d.24xlarge": 21.957642}
    assert [r.name for r in cfg.nodes] == ["gpu-a-1", None]
    assert cfg.nodes[1].labels == (("pool", "cheap"),)
    assert cfg.labels == {"team": ("team",), "product": ("product",), "customer": ("customer",)}
    assert [(b.name, b.dimension, b.value, b.resource, b.monthly) for b in cfg.budgets] == [
        ("ml-gpu", "team", "ml-research", "gpu", 20000.0),
        ("namespace-inference-total", "namespace", "inference", "total", 5000.0),
    ]
    assert cfg.gpu_weights == {"nvidia.com/gpu.shared": Fraction(1, 4), "1g.10gb": Fraction(1, 8)}


def test_empty_file_means_built_in_defaults() -> None:
    cfg = parse_pricing("", "empty.yaml")
    assert cfg.default.cpu_core_hour == 0.031611
    assert cfg.labels == PricingConfig().labels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults: {}\n", "p.yaml:1: defaults: unknown key"),
        ("default:\n  cpu_core_hour: cheap\n", "p.yaml:2: default.cpu_core_hour: expected a number, got str 'cheap'"),
        ("default:\n  gpu_hour: -1\n", "p.yaml:2: default.gpu_hour: must be a finite number >= 0, got -1"),
        ("default:\n  gpu_hour: .nan\n", "p.yaml:2: default.gpu_hour: must be a finite number >= 0"),
        ("default:\n  gpu_hour: true\n", "p.yaml:2: default.gpu_hour: expected a number, got bool True"),
        ("default:\n  cpu_hour: 1\n", "p.yaml:2: default.cpu_hour: unknown key"),
        ("gpu_models:\n  A100: 1\n  T4: x\n", "p.yaml:3: gpu_models.T4: expected a number"),
        ("instance_types: [a, b]\n", "p.yaml:1: instance_types: expected a mapping, got a list"),
        ("nodes:\n  - match: {name: a}\n    hourly: 1\n    cpu_core_hour: 1\n", "p.yaml:4: nodes[0].cpu_core_hour: a rule prices one way: hourly and unit prices exclude each other"),
        ("nodes:\n  - hourly: 1\n", "p.yaml:2: nodes[0]: missing key 'match'"),
        ("nodes:\n  - match: {zone: a}\n    hourly: 1\n", "p.yaml:2: nodes[0].match.zone: unknown key"),
        ("nodes:\n  - match: {name: a}\n", "p.yaml:2: nodes[0]: needs one of hourly, discount, amortize or unit prices"),
        ("labels:\n  pod: [x]\n", "p.yaml:2: labels.pod: clashes with a label"),
        ("labels:\n  cost-center: [x]\n", "p.yaml:2: labels.cost-center: not a valid Prometheus label name"),
        ("labels:\n  team: []\n", "p.yaml:2: labels.team: expected a list of Kubernetes label keys"),
        ("currency: dollars\n", "p.yaml:1: currency: expected an ISO 4217 code like USD"),
        ("budgets:\n  - {dimension: org, value: a, monthly: 1}\n", "p.yaml:2: budgets[0].dimension: must be one of namespace, team, product, customer"),
        ("budgets:\n  - {dimension: team, value: a}\n", "p.yaml:2: budgets[0]: missing key 'monthly'"),
        ("gpu_weights:\n  nvidia.com/gpu: 2\n", "p.yaml:2: gpu_weights.nvidia.com/gpu: a unit cannot be worth more than 1 GPU"),
        ("default: {gpu_hour: 1}\ndefault: {gpu_hour: 2}\n", "p.yaml:2: invalid YAML: duplicate key 'default'"),
        ("default: [\n", "p.yaml:2: invalid YAML"),
        ("- 1\n", "p.yaml:1: document root: expected a mapping, got a list"),
    ],
)
def test_invalid_config_names_line_and_key(text: str, message: str) -> None:
    with pytest.raises(PricingError) as err:
        parse_pricing(text, "p.yaml")
    assert str(err.value).startswith(message)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match=r"nope.yaml: cannot read pricing file"):
        load_pricing(tmp_path / "nope.yaml")


def facts(**kw: object) -> NodeFacts:
    base: dict = {"name": "n", "labels": {}, "cpu_cores": 8.0, "memory_gib": 32.0, "gpus": 0, "gpu_model": "", "instance_type": ""}
    base.update(kw)
    return NodeFacts(**base)


def test_unknown_gpu_model_defaults_and_is_flagged() -> None:
    cfg = parse_pricing(EXAMPLE, "p.yaml")
    price = resolve_node_price(cfg, facts(gpus=2, gpu_model="NVIDIA-R100"))
    assert (price.gpu, price.gpu_unit, price.gpu_price_defaulted) == (5.0, 2.5, True)
    known = resolve_node_price(cfg, facts(gpus=2, gpu_model="nvidia a100-sxm4-80gb"))
    assert (known.gpu, known.gpu_price_defaulted) == (6.4, False)


def test_builtin_catalog_can_be_turned_off() -> None:
    cfg = parse_pricing("builtin_catalog: false\n", "p.yaml")
    price = resolve_node_price(cfg, facts(instance_type="m5.xlarge"))
    assert price.source == "default"
    assert price.cpu == pytest.approx(8 * 0.031611)


def test_builtin_gpu_prices_are_derived_from_list_prices() -> None:
    # p5.48xlarge 55.04 $/h minus 192 vCPU x 0.031611 and 2048 GiB x 0.004237, over 8 GPUs.
    assert catalog.GPU_MODELS["NVIDIA-H100-80GB-HBM3"] == pytest.approx((55.04 - 6.069312 - 8.677376) / 8)
    assert catalog.GPU_MODELS["NVIDIA-T4"] == pytest.approx(0.526 - 0.126444 - 0.067792)


# --- discounts, fixed prices, amortisation, spot and region (issue 11) -----------------------

RULES = """\
nodes:
  - match: {labels: {pool: savings-plan}}
    discount: 0.28
  - match: {name: "onprem-*"}
    amortize: {purchase: 350400, years: 4, power_hour: 3.2, hosting_hour: 1.8}
  - match: {name: "fixed-*"}
    hourly: 30.0
"""


@pytest.mark.parametrize(
    ("node", "source", "total"),
    [
        # 28% off the catalog's p4d.24xlarge price: 21.957642 x 0.72 = 15.80950224
        (facts(name="a", labels={"pool": "savings-plan"}, instance_type="p4d.24xlarge", region="us-east-1",
               cpu_cores=96.0, memory_gib=1152.0, gpus=8, gpu_model="NVIDIA-A100-SXM4-40GB"), "node_rule", 15.80950224),
        # 28% off the default unit prices: (8 x 0.031611 = 0.252888, + 32 x 0.004237 = 0.135584) x 0.72 = 0.27969984
        (facts(name="b", labels={"pool": "savings-plan"}), "node_rule", 0.27969984),
        # 350,400 over 4 x 8,760 h = 10.0 $/h, + power 3.2 + hosting 1.8 = 15.0
        (facts(name="onprem-1"), "node_rule", 15.0),
        (facts(name="fixed-1", instance_type="p4d.24xlarge"), "node_rule", 30.0),
        # spot r5a.2xlarge in us-east-1 (catalog spot row, the median of its zones; SkyPilot v8
        # @00148f2a: 0.2418, 0.2290, 0.2378, 0.2765, 0.2334): 0.2378
        (facts(name="c", instance_type="r5a.2xlarge", region="us-east-1", capacity_type="spot"), "catalog", 0.2378),
        (facts(name="d", instance_type="r5a.2xlarge", region="us-east-1", capacity_type="on-demand"), "catalog", 0.452),
        # the file's instance_types win over the catalog
        (facts(name="e", instance_type="p4d.24xlarge"), "default", 8 * 0.031611 + 32 * 0.004237),
    ],
)
def test_rules_discounts_and_catalog(node: NodeFacts, source: str, total: float) -> None:
    cfg = parse_pricing(RULES + ("builtin_catalog: false\n" if node.name == "e" else ""), "p.yaml")
    price = resolve_node_price(cfg, node)
    assert (price.source, price.total) == (source, pytest.approx(total, rel=1e-12))


def test_discount_scales_every_resource_and_the_gpu_unit() -> None:
    cfg = parse_pricing(RULES, "p.yaml")
    node = facts(name="a", labels={"pool": "savings-plan"}, instance_type="p4d.24xlarge", region="us-east-1",
                 cpu_cores=96.0, memory_gib=1152.0, gpus=8, gpu_model="NVIDIA-A100-SXM4-40GB")
    # docs/pricing.md's split of the list price (cpu 3.034656, memory 4.881024, gpu 14.041962), x 0.72
    price = resolve_node_price(cfg, node)
    assert (price.cpu, price.memory, price.gpu) == (
        pytest.approx(3.034656 * 0.72), pytest.approx(4.881024 * 0.72), pytest.approx(14.041962 * 0.72, rel=1e-6))
    assert price.gpu_unit == pytest.approx(1.755245 * 0.72, rel=1e-6)


def test_a_discount_on_a_windows_node_keeps_the_os_flag() -> None:
    # 28% off the catalog's Standard_D4s_v5 eastus price (0.192, a Linux price): 0.13824, and the
    # node is still flagged: the discount applies to a price without the Windows licence.
    cfg = parse_pricing(RULES, "p.yaml")
    node = facts(name="w", labels={"pool": "savings-plan", "kubernetes.io/os": "windows"},
                 instance_type="Standard_D4s_v5", region="eastus", cpu_cores=4.0, memory_gib=16.0)
    price = resolve_node_price(cfg, node)
    assert (price.source, price.total, price.os_fallback) == ("node_rule", pytest.approx(0.192 * 0.72), True)
    linux = resolve_node_price(cfg, facts(name="l", labels={"kubernetes.io/os": "linux"},
                                          instance_type="Standard_D4s_v5", region="eastus"))
    assert (linux.source, linux.total, linux.os_fallback) == ("catalog", 0.192, False)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("discount: 1.0", "p.yaml:3: nodes[0].discount: a fraction off the price, 0 <= discount < 1"),
        ("discount: 0.2\n    hourly: 3", "p.yaml:4: nodes[0].hourly: a rule prices one way: discount and hourly"),
        ("amortize: {purchase: 1}", "p.yaml:3: nodes[0].amortize: missing key 'years'"),
        ("amortize: {purchase: 1, years: 0}", "p.yaml:3: nodes[0].amortize.years: must be > 0"),
        ("amortize: {purchase: 1, years: 3, rent: 2}", "p.yaml:3: nodes[0].amortize.rent: unknown key"),
    ],
)
def test_invalid_rules(rule: str, message: str) -> None:
    with pytest.raises(PricingError) as err:
        parse_pricing(f"nodes:\n  - match: {{name: a}}\n    {rule}\n", "p.yaml")
    assert str(err.value).startswith(message)

"""A pricing file in another currency than USD: the built-in prices (regional catalog, GPU model
prices, default unit prices) are US dollars, so they are converted by `usd_rate` (units of the
currency per dollar) or the file must say it uses none of them. Before `usd_rate`, a file with
`currency: EUR` showed the catalog's dollar figures as euros.

Hand-worked from the built-in figures: p5.48xlarge us-east-1 55.04 $/h, 192 vCPU, 2048 GiB,
8 x H100 (AWS Price List); default unit prices 0.031611 $ per core-hour and 0.004237 $ per
GiB-hour (OpenCost); built-in T4 price 0.331764 $/GPU-hour (g4dn.xlarge 0.526 - 4 x 0.031611 -
16 x 0.004237).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpucost.billing import BillingPrices, ResourcePrice
from gpucost.pricing import NodeFacts, PricingError, resolve_node_price
from gpucost.pricing_file import parse_pricing

EUR = "currency: EUR\nusd_rate: 0.9\n"
P5 = NodeFacts("p5", {}, 192, 2048, 8, "NVIDIA-H100-80GB-HBM3", "p5.48xlarge", "us-east-1", "on-demand")
PLAIN = NodeFacts("plain", {}, 8, 32, 0, "", "")
T4 = NodeFacts("t4", {}, 8, 32, 2, "NVIDIA-T4", "")


@pytest.mark.parametrize(("text", "node", "source", "cpu", "memory", "gpu"), [
    # the catalog's 55.04 $/h is 49.536 EUR/h, split as in dollars: 192 x 0.031611 = 6.069312,
    # 2048 x 0.004237 = 8.677376 and the rest, 40.293312, on the GPUs; each x 0.9
    (EUR, P5, "catalog", 5.4623808, 7.8096384, 36.2639808),
    # the default unit prices, converted: 8 x 0.031611 x 0.9 and 32 x 0.004237 x 0.9
    (EUR, PLAIN, "default", 0.2275992, 0.1220256, 0.0),
    # a unit price the file gives is in EUR already; the others are converted
    (EUR + "default: {cpu_core_hour: 0.03}\n", PLAIN, "default", 0.24, 0.1220256, 0.0),
    # the built-in T4 price, converted: 2 x 0.331764 x 0.9
    (EUR, T4, "default", 0.2275992, 0.1220256, 0.5971752),
    # a GPU model price the file gives is in EUR already
    (EUR + "gpu_models: {NVIDIA-T4: 0.5}\n", T4, "default", 0.2275992, 0.1220256, 1.0),
    # an instance price the file gives is in EUR already: 30 EUR/h split by the converted
    # weights (the 0.9 cancels): 6.069312 / 8.677376 / 40.293312 of 55.04
    (EUR + "instance_types: {p5.48xlarge: 30}\n", P5, "instance_type",
     30 * 6.069312 / 55.04, 30 * 8.677376 / 55.04, 30 * 40.293312 / 55.04),
    # USD: nothing converted
    ("currency: USD\n", P5, "catalog", 6.069312, 8.677376, 40.293312),
    ("usd_rate: 1\n", PLAIN, "default", 0.252888, 0.135584, 0.0),
    # no built-in price used: no rate needed
    ("currency: EUR\nbuiltin_catalog: false\ndefault: {cpu_core_hour: 0.03, memory_gib_hour: 0.004, gpu_hour: 2}\n",
     T4, "default", 0.24, 0.128, 4.0),
])
def test_built_in_prices_are_converted_and_the_files_own_are_not(
    text: str, node: NodeFacts, source: str, cpu: float, memory: float, gpu: float,
) -> None:
    price = resolve_node_price(parse_pricing(text, "p.yaml"), node)
    assert price.source == source
    assert (price.cpu, price.memory, price.gpu) == (
        pytest.approx(cpu, rel=1e-12), pytest.approx(memory, rel=1e-12), pytest.approx(gpu, rel=1e-12, abs=1e-15))


def test_a_billing_export_in_the_currency_is_not_converted_and_the_catalog_beside_it_is() -> None:
    # The export (in EUR, as the pricing file) bills i-0abc 44 EUR an hour: taken as it is. A
    # node the export lacks, of a SKU it lacks too, falls to the catalog: 55.04 x 0.9.
    billing = BillingPrices("bill.csv", "EUR", "EffectiveCost", "2026-11-14", "2026-11-20",
                            resources={"i-0abc": ResourcePrice(44.0, 168.0, "eu-west-1", "p5.48xlarge", "on-demand")})
    cfg = replace(parse_pricing(EUR, "p.yaml"), billing=billing)
    billed = resolve_node_price(cfg, replace(P5, provider_id="aws:///us-east-1a/i-0abc"))
    assert (billed.source, billed.total) == ("billing", pytest.approx(44.0, rel=1e-12))
    other = resolve_node_price(cfg, replace(P5, provider_id="aws:///us-east-1a/i-0def"))
    assert (other.source, other.total) == ("catalog", pytest.approx(49.536, rel=1e-12))


def test_the_rate_is_on_the_pricing_info() -> None:
    assert ("usd_rate", "0.9") in parse_pricing(EUR, "p.yaml").info_labels()
    assert ("usd_rate", "1") in parse_pricing("", "p.yaml").info_labels()


@pytest.mark.parametrize(("text", "message"), [
    ("currency: EUR\n",
     "p.yaml:1: currency: EUR, but the built-in catalog and GPU model prices are in USD: set usd_rate "
     "(EUR per US dollar) to convert them, or builtin_catalog: false and default.cpu_core_hour, "
     "memory_gib_hour and gpu_hour in EUR"),
    ("currency: GBP\nbuiltin_catalog: false\ndefault: {cpu_core_hour: 0.03}\n",
     "p.yaml:1: currency: GBP, but the built-in default unit prices are in USD: set usd_rate (GBP per US dollar)"),
    ("currency: EUR\nbuiltin_catalog: maybe\n", "p.yaml:2: builtin_catalog: expected true or false"),
    ("usd_rate: 0.9\n",
     "p.yaml:1: usd_rate: converts the built-in USD prices into `currency`; with currency USD it is 1, got 0.9"),
    ("currency: EUR\nusd_rate: 0\n", "p.yaml:2: usd_rate: units of currency per US dollar, must be > 0, got 0.0"),
    ("currency: EUR\nusd_rate: -1\n", "p.yaml:2: usd_rate: must be a finite number >= 0, got -1"),
    ("currency: EUR\nusd_rate: '0.9'\n", "p.yaml:2: usd_rate: expected a number, got str '0.9'"),
])
def test_a_currency_the_built_in_prices_are_not_in_is_refused_without_a_rate(text: str, message: str) -> None:
    with pytest.raises(PricingError) as err:
        parse_pricing(text, "p.yaml")
    assert str(err.value).startswith(message)


def test_a_reload_with_another_rate_re_prices_the_nodes_and_their_series() -> None:
    from builders import engine, exact, node

    s = engine([node("eks-p5", labels={"node.kubernetes.io/instance-type": "p5.48xlarge",
                                       "topology.kubernetes.io/region": "us-east-1"})], EUR)
    before = s.node_cost("eks-p5").cost
    assert sum(before.values()) == exact(55.04 * 0.9)  # 49.536
    assert 'gpucost_pricing_info{currency="EUR",usd_rate="0.9"' in s.render()
    s.reprice(parse_pricing("currency: EUR\nusd_rate: 0.95\n", "p.yaml"))
    s.flush()
    after = s.node_cost("eks-p5").cost
    assert sum(after.values()) == exact(55.04 * 0.95)  # 52.288
    assert {r: after[r] for r in after} == {r: pytest.approx(before[r] * 0.95 / 0.9, rel=1e-12) for r in before}
    text = s.render()
    assert 'gpucost_pricing_info{currency="EUR",usd_rate="0.95"' in text
    assert f'gpucost_node_cost_per_hour{{node="eks-p5",resource="gpu"}} {after["gpu"]!r}' in text

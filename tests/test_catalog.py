"""The built-in regional catalog: lookups by instance type, region and capacity type against
figures copied by hand from the source files (scripts/catalog_sources/, each the publisher's
own layout: see its README for repository, commit and date), the region and spot fallbacks,
N1 machines with attached GPUs, and the generator reproducing the shipped table."""

from __future__ import annotations

import csv
import gzip
import io
import subprocess
import sys
from pathlib import Path

import pytest

from gpucost import catalog, regional
from gpucost.pricing import NodeFacts, PricingConfig, resolve_node_price

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "exporter" / "gpucost" / "data" / "catalog.csv.gz"

# (instance type, region asked, capacity asked) -> (hourly, region of the row used,
# region_fallback, spot_missing, row date). Figures copied by hand from the files named.
LOOKUPS = [
    # AWS Price List offer file 2026-09-24, us-east-1 (list_prices.csv, shared/reference).
    ("p5.48xlarge", "us-east-1", "on-demand", 55.04, "us-east-1", False, False, "2026-09-24"),
    ("g4dn.xlarge", "us-east-1", "", 0.526, "us-east-1", False, False, "2026-09-24"),
    # karpenter-provider-aws zz_generated.pricing_aws.go, "generated at 2026-07-20 for us-east-1"
    ("g6e.12xlarge", "us-east-1", "on-demand", 10.49264, "us-east-1", False, False, "2026-07-20"),
    ("p6-b200.48xlarge", "us-east-1", "", 113.9328, "us-east-1", False, False, "2026-07-20"),
    ("g5g.16xlarge", "us-east-1", "", 2.744, "us-east-1", False, False, "2026-07-20"),
    ("inf2.48xlarge", "us-east-1", "", 12.98127, "us-east-1", False, False, "2026-07-20"),
    ("trn1.32xlarge", "us-east-1", "", 21.5, "us-east-1", False, False, "2026-07-20"),
    # zz_generated.pricing_aws_us_gov.go, same commit ("generated at 2026-07-20T13:44:38Z"):
    # GovCloud's own prices, above us-east-1's (g6.xlarge 1.0144 against 0.8048 there)
    ("g6.xlarge", "us-gov-west-1", "on-demand", 1.0144, "us-gov-west-1", False, False, "2026-07-20"),
    ("p4d.24xlarge", "us-gov-west-1", "", 26.3511, "us-gov-west-1", False, False, "2026-07-20"),
    ("g4dn.xlarge", "us-gov-east-1", "", 0.663, "us-gov-east-1", False, False, "2026-07-20"),
    # SkyPilot v8 aws/vms.csv @00148f2a (read 2026-11-30), p5.48xlarge, each region's zones:
    # on demand ap-northeast-1 68.8, ap-northeast-2 75.9552, ap-south-1 66.048, ap-southeast-2
    # 71.552, ap-southeast-3 75.9552, ca-central-1 63.296, eu-north-1 58.8928, eu-west-2 71.552,
    # us-east-1/us-east-2/us-west-2 55.04, us-west-1 68.8; no eu-west-1 rows.
    ("p5.48xlarge", "eu-west-2", "on-demand", 71.552, "eu-west-2", False, False, "2026-11-30"),
    # spot: the median of the zones; eu-west-2 15.7259, 15.5259, 16.3251 -> 15.7259
    ("p5.48xlarge", "eu-west-2", "spot", 15.7259, "eu-west-2", False, False, "2026-11-30"),
    # us-east-1 zones az1-az6: 55.04, 19.2531, 21.1543, 55.04, 25.7522, 17.6289 -> (21.1543 +
    # 25.7522) / 2; the Atlanta Local Zone's 10.2397 (use1-atl2-az1) is not a zone of the region
    ("p5.48xlarge", "us-east-1", "spot", 23.45325, "us-east-1", False, False, "2026-11-30"),
    # us-west-2 zones 12.6935, 12.9785, 12.9727, 16.1301 -> (12.9727 + 12.9785) / 2
    ("p5.48xlarge", "us-west-2", "spot", 12.9756, "us-west-2", False, False, "2026-11-30"),
    # no p5 row for eu-west-1: the cheapest listed region, flagged (us-east-1, us-east-2 and
    # us-west-2 are all 55.04: the first by name, whose row is the hand-copied one)
    ("p5.48xlarge", "eu-west-1", "on-demand", 55.04, "us-east-1", True, False, "2026-09-24"),
    # a spot p5 in eu-west-1: the cheapest region's spot price, us-east-2's zones 11.2543,
    # 11.5616, 11.9912 -> 11.5616 (below us-west-2's 12.9756 and eu-west-2's 15.7259)
    ("p5.48xlarge", "eu-west-1", "spot", 11.5616, "us-east-2", True, False, "2026-11-30"),
    # ap-northeast-2 lists no spot price for p5 (its one zone has none): on demand, flagged
    ("p5.48xlarge", "ap-northeast-2", "spot", 75.9552, "ap-northeast-2", False, True, "2026-11-30"),
    # p4d.24xlarge: us-east-2 on demand as SkyPilot writes it (us-east-1's is the price list's
    # 21.957642); us-east-1 spot zones 2.4655, 8.1915, 8.1203, 7.8799 -> (7.8799 + 8.1203) / 2
    ("p4d.24xlarge", "us-east-2", "on-demand", 21.95764, "us-east-2", False, False, "2026-11-30"),
    ("p4d.24xlarge", "us-east-1", "spot", 8.0001, "us-east-1", False, False, "2026-11-30"),
    # p6-b200.48xlarge us-east-1 spot: use1-az6's 21.0148 (its other row is the Local Zone's)
    ("p6-b200.48xlarge", "us-east-1", "spot", 21.0148, "us-east-1", False, False, "2026-11-30"),
    # the general-purpose families EKS and Karpenter run beside GPU nodes (Graviton, AMD,
    # burstable): zz_generated.pricing_aws.go and _us_gov.go @1d927085 (2026-07-20), us-east-1
    # and GovCloud only; another region falls back to the cheapest listed one, flagged
    ("m7g.xlarge", "us-east-1", "on-demand", 0.1632, "us-east-1", False, False, "2026-07-20"),
    ("m7g.xlarge", "us-east-1", "spot", 0.1632, "us-east-1", False, True, "2026-07-20"),
    ("m7g.xlarge", "us-gov-west-1", "", 0.2057, "us-gov-west-1", False, False, "2026-07-20"),
    ("m7g.xlarge", "eu-west-1", "", 0.1632, "us-east-1", True, False, "2026-07-20"),
    ("t3.medium", "us-east-1", "", 0.0416, "us-east-1", False, False, "2026-07-20"),
    ("c7a.2xlarge", "us-east-1", "", 0.41056, "us-east-1", False, False, "2026-07-20"),
    # SkyPilot v8 prices c7i.metal-24xl at c7i.24xlarge's 4.284 in us-east-1, the Price List at
    # 4.7124: its rows of the type are left out in every region (the out-of-date guard)
    ("c7i.metal-24xl", "us-east-1", "", 4.7124, "us-east-1", False, False, "2026-07-20"),
    ("c7i.metal-24xl", "eu-west-1", "", 4.7124, "us-east-1", True, False, "2026-07-20"),
    # karpenter-provider-gcp initial-prices.json @417f047b (refresh of 2026-08-03)
    ("a3-highgpu-8g", "us-central1", "on-demand", 88.4899999025753, "us-central1", False, False, "2026-08-03"),
    ("a3-highgpu-8g", "us-central1", "spot", 50.6095408219178, "us-central1", False, False, "2026-08-03"),
    ("a3-highgpu-8g", "europe-west4", "", 112.540479175233, "europe-west4", False, False, "2026-08-03"),
    ("a3-megagpu-8g", "europe-west4", "spot", 46.2435793972603, "europe-west4", False, False, "2026-08-03"),
    ("a2-highgpu-1g", "us-central1", "on-demand", 3.673385, "us-central1", False, False, "2026-08-03"),
    ("g2-standard-4", "europe-west4", "spot", 0.38986, "europe-west4", False, False, "2026-08-03"),
    # the general-purpose families GKE node pools run beside GPUs (same file): e2-medium is GKE's
    # default machine type; shared-core, high-memory and high-CPU shapes
    ("e2-medium", "us-central1", "on-demand", 0.03350571, "us-central1", False, False, "2026-08-03"),
    ("e2-medium", "us-central1", "spot", 0.020106, "us-central1", False, False, "2026-08-03"),
    ("e2-small", "us-central1", "", 0.016752855, "us-central1", False, False, "2026-08-03"),
    ("n2-highmem-8", "europe-west4", "on-demand", 0.576912, "europe-west4", False, False, "2026-08-03"),
    ("n2-highmem-8", "europe-west4", "spot", 0.209744, "europe-west4", False, False, "2026-08-03"),
    ("t2d-standard-4", "us-central1", "", 0.168984, "us-central1", False, False, "2026-08-03"),
    ("c3-highcpu-22", "asia-northeast1", "spot", 0.180092, "asia-northeast1", False, False, "2026-08-03"),
    ("n1-highcpu-16", "us-east4", "", 0.6383824, "us-east4", False, False, "2026-08-03"),
    # a3-highgpu-8g is not sold in me-west1: cheapest on-demand region, us-central1 and
    # us-west1 both 88.4899999025753, the first by name
    ("a3-highgpu-8g", "me-west1", "", 88.4899999025753, "us-central1", True, False, "2026-08-03"),
    # karpenter-provider-azure zz_generated.pricing.go "generated at 2026-06-18" (no spot prices)
    ("Standard_ND96isr_H100_v5", "eastus", "", 98.32, "eastus", False, False, "2026-06-18"),
    ("Standard_ND96amsr_A100_v4", "westeurope", "", 40.962, "westeurope", False, False, "2026-06-18"),
    ("Standard_NC4as_T4_v3", "eastus", "", 0.526, "eastus", False, False, "2026-06-18"),
    ("Standard_NV36ads_A10_v5", "eastus", "", 3.2, "eastus", False, False, "2026-06-18"),
    ("Standard_NC4as_T4_v3", "eastus", "spot", 0.526, "eastus", False, True, "2026-06-18"),
    # burstable B sizes and AKS's older default node sizes (same file)
    ("Standard_B2s", "eastus", "", 0.0416, "eastus", False, False, "2026-06-18"),
    ("Standard_B2ms", "westeurope", "", 0.096, "westeurope", False, False, "2026-06-18"),
    ("Standard_DS2_v2", "eastus", "", 0.146, "eastus", False, False, "2026-06-18"),
    ("Standard_D4s_v3", "westeurope", "", 0.24, "westeurope", False, False, "2026-06-18"),
    # a region not listed: 3.673 in eastus, eastus2, westus2 and westus3, the first by name
    ("Standard_NC24ads_A100_v4", "usgovvirginia", "", 3.673, "eastus", True, False, "2026-06-18"),
]


@pytest.mark.parametrize(
    ("instance_type", "region", "capacity", "hourly", "row_region", "fallback", "spot_missing", "date"), LOOKUPS)
def test_lookup(instance_type: str, region: str, capacity: str, hourly: float, row_region: str,
                fallback: bool, spot_missing: bool, date: str) -> None:
    hit = regional.builtin().lookup(instance_type, region, capacity)
    assert hit is not None
    assert (hit.hourly, hit.row.region, hit.region_fallback, hit.spot_missing, hit.row.date) == (
        hourly, row_region, fallback, spot_missing, date)
    assert hit.row.source


@pytest.mark.parametrize(
    ("machine", "region", "capacity", "model", "gpus", "hourly", "fallback", "spot_missing"),
    [
        # n1-standard-8 us-central1 0.379998 (karpenter_gcp.json) + 2 x T4 0.35 (gce_gpus.go,
        # kubernetes/autoscaler gpuPrices, us-central1) = 1.079998; any alias names the GPU
        ("n1-standard-8", "us-central1", "", "nvidia-tesla-t4", 2, 1.079998, False, False),
        ("n1-standard-8", "us-central1", "", "Tesla-T4", 2, 1.079998, False, False),
        # spot machine 0.13402 + the GPU's on-demand 2.48 (no spot GPU row): flagged
        ("n1-standard-8", "us-central1", "spot", "NVIDIA-V100-SXM2-16GB", 1, 2.61402, False, True),
        # europe-west4 machine 0.418336; GPU rows are us-central1's: 4 x P100 1.46 = 5.84, flagged
        ("n1-standard-8", "europe-west4", "", "nvidia-tesla-p100", 4, 6.258336, True, False),
    ],
)
def test_n1_with_attached_gpus(machine: str, region: str, capacity: str, model: str, gpus: int,
                               hourly: float, fallback: bool, spot_missing: bool) -> None:
    hit = regional.builtin().lookup(machine, region, capacity, model, gpus)
    assert hit is not None
    assert (hit.hourly, hit.region_fallback, hit.spot_missing) == (pytest.approx(hourly, rel=1e-12), fallback,
                                                                   spot_missing)


def test_n1_without_a_gpu_price_is_not_priced_by_its_machine_alone() -> None:
    # K80s are not in the catalog: the machine row alone would undercharge, so no catalog price
    assert regional.builtin().lookup("n1-standard-8", "us-central1", "", "nvidia-tesla-k80", 1) is None
    # without GPUs it is the machine's price
    hit = regional.builtin().lookup("n1-standard-8", "us-central1")
    assert hit is not None and hit.hourly == 0.379998


def test_unknown_type() -> None:
    assert regional.builtin().lookup("x9.huge", "us-east-1") is None


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(SHIPPED.read_bytes()).decode())))


def test_every_row_names_source_and_date() -> None:
    rows = regional.builtin().rows
    assert all(r.source and len(r.date) == 10 and r.hourly > 0 for r in rows)
    assert regional.builtin().date == "2026-11-30"
    assert {r.provider for r in rows} == {"aws", "gcp", "azure"}


@pytest.mark.parametrize(
    ("provider", "instance_types"),
    [
        # what the issue names, per cloud
        ("aws", {"p3.2xlarge", "p3dn.24xlarge", "p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "p5.4xlarge",
                 "p5en.48xlarge", "p6-b200.48xlarge", "g4dn.xlarge", "g4ad.xlarge", "g5.48xlarge", "g5g.xlarge",
                 "g6.xlarge", "g6e.48xlarge", "inf2.xlarge", "trn1.32xlarge", "m5.xlarge", "c6i.large"}),
        ("gcp", {"a2-highgpu-1g", "a2-megagpu-16g", "a2-ultragpu-8g", "a3-highgpu-8g", "a3-megagpu-8g",
                 "g2-standard-96", "n1-standard-8", "nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-tesla-p100",
                 "nvidia-tesla-p4", "n2-standard-4", "e2-standard-4", "e2-medium", "n2-highmem-16",
                 "n2d-highcpu-32", "c3-highmem-8", "n4-highmem-4", "t2d-standard-8"}),
        ("azure", {"Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4", "Standard_NC40ads_H100_v5",
                   "Standard_ND40rs_v2", "Standard_ND96asr_v4", "Standard_ND96isr_H100_v5",
                   "Standard_NV36ads_A10_v5", "Standard_NV12s_v3", "Standard_D4s_v5", "Standard_E8s_v5"}),
    ],
)
def test_breadth(provider: str, instance_types: set[str]) -> None:
    listed = {r.instance_type for r in regional.builtin().rows if r.provider == provider}
    assert instance_types <= listed, sorted(instance_types - listed)


def test_gpu_counts_agree_with_the_hardware_table() -> None:
    """A row that states its GPU count (hand-copied, SkyPilot, or a GCP accelerator-optimized
    name) agrees with catalog.INSTANCE_GPUS wherever both know the type."""
    # (g6f sizes state a fraction of an L4: 0.125, 0.25, 0.5; none is in the hardware table)
    stated = [(r["instance_type"], float(r["gpus"])) for r in _rows() if r["gpus"]]
    checked = [(t, n) for t, n in stated if t in catalog.INSTANCE_GPUS]
    assert len({t for t, _ in checked}) >= 20  # every A2/A3 type and the hand-copied AWS ones
    assert [(t, n) for t, n in checked if catalog.INSTANCE_GPUS[t][0] != n] == []


def test_spot_node_in_the_catalog_is_priced_spot_and_flags_pass_to_the_price() -> None:
    # a GKE spot a3-highgpu-8g in europe-west4: 44.1187793972603 (karpenter_gcp.json)
    node = NodeFacts("gke-a3", {}, 208, 1872, 8, "NVIDIA-H100-80GB-HBM3", "a3-highgpu-8g", "europe-west4", "spot")
    price = resolve_node_price(PricingConfig(), node)
    assert (price.source, price.region_fallback, price.spot_fallback) == ("catalog", False, False)
    assert price.total == pytest.approx(44.1187793972603, rel=1e-12)
    # an AKS spot ND H100 v5 node: no Azure spot row, on-demand 98.32, flagged spot
    aks = NodeFacts("aks-h100", {}, 96, 1900, 8, "NVIDIA-H100-80GB-HBM3", "Standard_ND96isr_H100_v5", "eastus", "spot")
    price = resolve_node_price(PricingConfig(), aks)
    assert (price.region_fallback, price.spot_fallback, price.total) == (False, True, pytest.approx(98.32))
    # a p5 in eu-west-1: us-east-1's 55.04, flagged region
    p5 = NodeFacts("ip-1", {}, 192, 2048, 8, "NVIDIA-H100-80GB-HBM3", "p5.48xlarge", "eu-west-1", "on-demand")
    price = resolve_node_price(PricingConfig(), p5)
    assert (price.region_fallback, price.spot_fallback, price.total) == (True, False, pytest.approx(55.04))
    # a GKE N1 node with 2 attached T4s: 0.379998 + 2 x 0.35
    n1 = NodeFacts("gke-n1", {}, 8, 30, 2, "NVIDIA-T4", "n1-standard-8", "us-central1", "")
    assert resolve_node_price(PricingConfig(), n1).total == pytest.approx(1.079998, rel=1e-12)


def _run_gen_catalog(*args: str) -> None:
    """scripts/gen_catalog.py as a user runs it."""
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_catalog.py"), *args], check=True, capture_output=True)


def test_generator_reproduces_the_shipped_table(tmp_path: Path) -> None:
    out = tmp_path / "catalog.csv.gz"
    _run_gen_catalog("--output", str(out))
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(SHIPPED.read_bytes())
    # The wheel stays small: 164 kB with the general-purpose families of GCP, AWS (us-east-1,
    # GovCloud) and Azure's B, DSv2 and Dsv3, 25,127 rows; 89 kB before them. The catalog is
    # read once, at the first priced node (about 45 ms, 4.8 MiB: docs/performance.md).
    assert SHIPPED.stat().st_size < 180_000


def test_extract_keeps_the_layout(tmp_path: Path) -> None:
    """`extract` cuts an upstream file down and the cut file reads back the same prices."""
    upstream = tmp_path / "up.go"
    upstream.write_text(
        "// generated at 2026-07-20T13:44:30Z for us-east-1\n"
        'var InitialOnDemandPricesAWS = map[string]map[ec2types.InstanceType]float64{\n'
        '\t"us-east-1": {\n\t\t// a1 family\n\t\t"a1.large": 0.051000, "a1.medium": 0.025500,\n'
        '\t\t// p5 family\n\t\t"p5.48xlarge": 55.040000, "p5.4xlarge": 6.880000,\n\t},\n}\n')
    out = tmp_path / "cut.go"
    _run_gen_catalog("extract", "karpenter-aws", str(upstream), str(out))
    assert out.read_text() == ('// generated at 2026-07-20T13:44:30Z for us-east-1\n"us-east-1": {\n'
                               '\t"p5.48xlarge": 55.040000,\n\t"p5.4xlarge": 6.880000,\n}\n')


def test_fallbacks_are_on_metrics() -> None:
    """gpucost_node_price_fallback{node, reason}: region when the catalog priced the node from
    another region, spot when a spot node got the on-demand price; absent when neither."""
    from builders import engine, exact, node

    s = engine([
        # p5.48xlarge is not sold in eu-west-1: the cheapest region's 55.04 (us-east-1)
        node("eks-p5", labels={"node.kubernetes.io/instance-type": "p5.48xlarge",
                               "topology.kubernetes.io/region": "eu-west-1"}),
        # Azure rows have no spot price, and usgovvirginia is not listed: eastus's 3.673, both flags
        node("aks-a100", labels={"node.kubernetes.io/instance-type": "Standard_NC24ads_A100_v4",
                                 "topology.kubernetes.io/region": "usgovvirginia",
                                 "kubernetes.azure.com/scalesetpriority": "spot"}),
        # GKE spot a3-highgpu-8g in us-central1: its own spot row, 50.6095408219178, no flag
        node("gke-a3", labels={"node.kubernetes.io/instance-type": "a3-highgpu-8g",
                               "topology.kubernetes.io/region": "us-central1", "cloud.google.com/gke-spot": "true"}),
        # An AKS Windows node (kubernetes.io/os: windows, the well-known label the kubelet sets):
        # the catalog's D4s_v5 eastus price, 0.192, is Linux's, and is flagged os
        node("aks-win", labels={"node.kubernetes.io/instance-type": "Standard_D4s_v5",
                                "topology.kubernetes.io/region": "eastus", "kubernetes.io/os": "windows"}),
        # The same node priced by the file (or by a billing export) is not flagged
        node("aks-win-priced", labels={"node.kubernetes.io/instance-type": "Standard_D8s_v5",
                                       "topology.kubernetes.io/region": "eastus", "kubernetes.io/os": "windows"}),
    ], "instance_types: {Standard_D8s_v5: 0.752}\n")
    assert sum(s.node_cost("eks-p5").cost.values()) == exact(55.04)
    assert sum(s.node_cost("aks-a100").cost.values()) == exact(3.673)
    assert sum(s.node_cost("gke-a3").cost.values()) == exact(50.6095408219178)
    assert sum(s.node_cost("aks-win").cost.values()) == exact(0.192)
    assert sum(s.node_cost("aks-win-priced").cost.values()) == exact(0.752)
    text = s.render()
    lines = sorted(line for line in text.splitlines() if line.startswith("gpucost_node_price_fallback{"))
    assert lines == [
        'gpucost_node_price_fallback{node="aks-a100",reason="region"} 1',
        'gpucost_node_price_fallback{node="aks-a100",reason="spot"} 1',
        'gpucost_node_price_fallback{node="aks-win",reason="os"} 1',
        'gpucost_node_price_fallback{node="eks-p5",reason="region"} 1',
    ]
    assert "# TYPE gpucost_node_price_fallback gauge" in text


def _gen_catalog():  # scripts/ is not a package
    import importlib.util

    if "gen_catalog" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gen_catalog", REPO / "scripts" / "gen_catalog.py")
        assert spec is not None and spec.loader is not None
        module = sys.modules["gen_catalog"] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
        spec.loader.exec_module(module)
    return sys.modules["gen_catalog"]


SKYPILOT_HEADER = ("InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,"
                   "AvailabilityZone,Arch\n")


def test_extract_skypilot_keeps_the_kept_families_and_blanks_gpu_info(tmp_path: Path) -> None:
    # rows as SkyPilot v8 aws/vms.csv @00148f2a writes them (p5.48xlarge us-east-1, use1-az2)
    gpu_info = ("\"{'Gpus': [{'Name': 'H100', 'Manufacturer': 'NVIDIA', 'Count': 8, 'LogicalGpuCount': 8, "
                "'GpuPartitionSize': 1.0, 'Workloads': ['ml-ai'], 'MemoryInfo': {'SizeInMiB': 81920}}], "
                "'TotalGpuMemoryInMiB': 655360}\"")
    upstream = tmp_path / "vms.csv"
    upstream.write_text(SKYPILOT_HEADER
                        + "mac2.metal,,,12.0,16.0,,0.65,,us-west-2,usw2-az4,arm64\n"
                        + f"p5.48xlarge,H100,8.0,192.0,2048.0,{gpu_info},55.04,19.253100,us-east-1,use1-az2,x86_64\n")
    out = tmp_path / "cut.csv"
    _run_gen_catalog("extract", "skypilot-aws", str(upstream), str(out))
    assert out.read_text() == SKYPILOT_HEADER + "p5.48xlarge,H100,8.0,192.0,2048.0,,55.04,19.253100,us-east-1,use1-az2,x86_64\n"


def _skypilot(*rows: str) -> str:
    return SKYPILOT_HEADER + "".join(f"{r},x86_64\n" for r in rows)


def test_skypilot_reader_refuses_inconsistent_input() -> None:
    gen = _gen_catalog()
    # a zone ID of another region: a bad cut, or an upstream change
    with pytest.raises(ValueError, match="line 2: zone euw2-az1 is not in eu-west-1"):
        list(gen.read_skypilot_aws(_skypilot("p5.48xlarge,H100,8.0,192.0,2048.0,,71.552,15.725900,eu-west-1,euw2-az1")))
    # two on-demand prices in one region
    with pytest.raises(ValueError, match="zones disagree on the on-demand price"):
        list(gen.read_skypilot_aws(_skypilot("p5.48xlarge,H100,8.0,192.0,2048.0,,71.552,15.725900,eu-west-2,euw2-az1",
                                              "p5.48xlarge,H100,8.0,192.0,2048.0,,71.55,15.525900,eu-west-2,euw2-az2")))
    with pytest.raises(ValueError, match="unexpected header"):
        list(gen.read_skypilot_aws("InstanceType,Price\np5.48xlarge,55.04\n"))


def test_a_skypilot_snapshot_older_than_a_price_change_is_left_out(tmp_path: Path) -> None:
    """SkyPilot v7 aws/vms.csv @001367d2 still had P5 at its price before AWS's June 2025 cut
    (us-east-1 98.32 against the Price List's 55.04): none of its p5.48xlarge rows are taken,
    in any region; a type whose us-east-1 price agrees (inf2.xlarge 0.7582) is."""
    gen = _gen_catalog()
    sources = tmp_path / "sources"
    sources.mkdir()
    for src in gen.SOURCES:
        (sources / src.file).write_text((gen.SOURCES_DIR / src.file).read_text())
    (sources / "skypilot_aws.csv").write_text(_skypilot(
        # p5.48xlarge rows of v7 @001367d2 (read 2026-11-30)
        "p5.48xlarge,H100,8.0,192.0,2048.0,,127.816,43.014500,eu-west-2,euw2-az1",
        "p5.48xlarge,H100,8.0,192.0,2048.0,,98.32,30.326000,us-east-1,use1-az1",
        # inf2.xlarge of the same file: us-east-1 0.7582, as karpenter_aws.go (2026-07-20)
        "inf2.xlarge,Inferentia2,1.0,4.0,16.0,,0.94775,0.414400,eu-west-1,euw1-az1",
        "inf2.xlarge,Inferentia2,1.0,4.0,16.0,,0.7582,0.127600,us-east-1,use1-az1",
    ))
    rows = {(r["instance_type"], r["region"], r["capacity_type"]): r for r in gen.collect(sources)}
    assert rows[("p5.48xlarge", "us-east-1", "on-demand")]["hourly"] == "55.04"  # the price list's
    assert ("p5.48xlarge", "eu-west-2", "on-demand") not in rows
    assert ("p5.48xlarge", "us-east-1", "spot") not in rows
    assert rows[("inf2.xlarge", "eu-west-1", "on-demand")]["hourly"] == "0.94775"
    assert rows[("inf2.xlarge", "eu-west-1", "spot")]["hourly"] == "0.4144"


def test_the_shipped_skypilot_cut_is_what_extract_keeps(tmp_path: Path) -> None:
    """Every row of the committed cut is of a kept family (c7i.metal-24xl included), so cutting it
    again changes nothing and no row in it is silently unread."""
    cut = REPO / "scripts" / "catalog_sources" / "skypilot_aws.csv"
    out = tmp_path / "again.csv"
    _run_gen_catalog("extract", "skypilot-aws", str(cut), str(out))
    assert out.read_text() == cut.read_text()


def test_parse_reads_columns_by_name() -> None:
    text = ("date,hourly,provider,region,instance_type,capacity_type,source,gpus\n"
            "2026-11-30,71.552,aws,eu-west-2,p5.48xlarge,on-demand,skypilot-catalog-v8-aws@00148f2a,8\n"
            "2026-11-30,15.7259,aws,eu-west-2,p5.48xlarge,spot,skypilot-catalog-v8-aws@00148f2a,8\n")
    rows = regional.parse(text).rows
    assert rows[0] == regional.CatalogRow("aws", "p5.48xlarge", "eu-west-2", "on-demand", 71.552,
                                          "skypilot-catalog-v8-aws@00148f2a", "2026-11-30")
    assert rows[1].hourly == 15.7259 and rows[1].capacity_type == "spot"
    assert rows[0].source is rows[1].source  # repeated texts are kept once


@pytest.mark.parametrize(("region", "prefix"), [
    # zone IDs as AWS's documentation tables them per region (us-east-1 use1-az1, sa-east-1
    # sae1-az1, us-gov-west-1 usgw1-az1 ... usgw1-az3) and as SkyPilot v8 lists them
    ("us-east-1", "use1"), ("ap-northeast-2", "apne2"), ("eu-central-1", "euc1"), ("me-south-1", "mes1"),
    ("ap-southeast-4", "apse4"), ("us-gov-west-1", "usgw1"),
])
def test_zone_id_prefix(region: str, prefix: str) -> None:
    assert _gen_catalog().zone_prefix(region) == prefix

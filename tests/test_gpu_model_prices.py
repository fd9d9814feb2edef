"""Built-in GPU model prices: one per model the catalog sells, derived from the list price of an
instance that carries the model whole (catalog.derived_gpu_price), so that a node of that model
is split between host and GPUs by its own GPU's price and is not flagged as defaulted.

Every figure below is copied from the source named beside it and worked by hand:
  - AWS prices: AWS Price List API, us-east-1, Linux, on demand, as karpenter-provider-aws
    generated it (zz_generated.pricing_aws.go @1d927085, 2026-07-20);
  - AWS shapes (vCPU, GiB, GPUs): SkyPilot v8 aws/vms.csv @00148f2a, us-east-1 rows;
  - Azure prices: Azure Retail Prices API, Linux, as karpenter-provider-azure generated it
    (zz_generated.pricing.go @352646f5, 2026-06-18), eastus (MI300X: eastus2);
  - Azure shapes: azure-docs sizes/gpu-accelerated (nd-mi300x-v5-series.md: 96 vCPU, 1850 GiB,
    8 MI300X) and microsoft/aspire AksNodeVmSizes.cs (NC40ads_H100_v5: 40 vCPU, 320 GB, 1 GPU;
    NC24ads_A100_v4: 24 vCPU, 220 GB, 1 GPU).
Default unit prices: 0.031611 $ per core-hour, 0.004237 $ per GiB-hour (OpenCost defaults).
"""

from __future__ import annotations

import pytest

from gpucost import catalog, regional
from gpucost.pricing import NodeFacts, PricingConfig, resolve_node_price

CORE, GIB = 0.031611, 0.004237

# (model, reference instance, region, $/h, vCPU, GiB, GPUs, $/GPU-hour worked by hand)
MODELS = [
    # 113.9328 - 192 x 0.031611 (6.069312) - 2048 x 0.004237 (8.677376) = 99.186112; / 8
    ("NVIDIA-B200", "p6-b200.48xlarge", "us-east-1", 113.9328, 192, 2048, 8, 12.398264),
    # 142.416 - 6.069312 - 4096 x 0.004237 (17.354752) = 118.991936; / 8
    ("NVIDIA-B300", "p6-b300.48xlarge", "us-east-1", 142.416, 192, 4096, 8, 14.873992),
    # 1.861 - 4 x 0.031611 (0.126444) - 32 x 0.004237 (0.135584)
    ("NVIDIA-L40S", "g6e.xlarge", "us-east-1", 1.861, 4, 32, 1, 1.598972),
    # 3.36312 - 8 x 0.031611 (0.252888) - 64 x 0.004237 (0.271168)
    ("NVIDIA-RTX-PRO-6000", "g7e.2xlarge", "us-east-1", 3.36312, 8, 64, 1, 2.839064),
    # 0.42 - 0.126444 - 8 x 0.004237 (0.033896)
    ("NVIDIA-T4G", "g5g.xlarge", "us-east-1", 0.42, 4, 8, 1, 0.25966),
    # 3.06 - 0.252888 - 61 x 0.004237 (0.258457)
    ("NVIDIA-V100-SXM2-16GB", "p3.2xlarge", "us-east-1", 3.06, 8, 61, 1, 2.548655),
    # 31.212 - 96 x 0.031611 (3.034656) - 768 x 0.004237 (3.254016) = 24.923328; / 8
    ("NVIDIA-V100-SXM2-32GB", "p3dn.24xlarge", "us-east-1", 31.212, 96, 768, 8, 3.115416),
    # 0.37853 - 0.126444 - 16 x 0.004237 (0.067792)
    ("AMD-Radeon-Pro-V520", "g4ad.xlarge", "us-east-1", 0.37853, 4, 16, 1, 0.184294),
    # 3.673 - 24 x 0.031611 (0.758664) - 220 x 0.004237 (0.93214)
    ("NVIDIA-A100-80GB-PCIe", "Standard_NC24ads_A100_v4", "eastus", 3.673, 24, 220, 1, 1.982196),
    # 6.98 - 40 x 0.031611 (1.26444) - 320 x 0.004237 (1.35584)
    ("NVIDIA-H100-NVL", "Standard_NC40ads_H100_v5", "eastus", 6.98, 40, 320, 1, 4.35972),
    # 48.0 - 96 x 0.031611 (3.034656) - 1850 x 0.004237 (7.83845) = 37.126894; / 8
    ("AMD-Instinct-MI300X", "Standard_ND96isr_MI300X_v5", "eastus2", 48.0, 96, 1850, 8, 4.64086175),
]


@pytest.mark.parametrize(("model", "itype", "region", "hourly", "vcpu", "gib", "gpus", "per_gpu"), MODELS)
def test_model_price_is_the_reference_instance_less_its_host(
    model: str, itype: str, region: str, hourly: float, vcpu: int, gib: int, gpus: int, per_gpu: float,
) -> None:
    assert catalog.GPU_MODELS[model] == pytest.approx(per_gpu, abs=5e-9)
    assert catalog.INSTANCE_TYPES[itype][:4] == (hourly, vcpu, gib, gpus)
    # The reference price is the shipped catalog's own row, and the hardware table agrees.
    row = regional.builtin().lookup(itype, region, "on-demand")
    assert row is not None and row.hourly == hourly and not row.region_fallback
    assert catalog.INSTANCE_GPUS[itype] == (gpus, model)


@pytest.mark.parametrize(("label", "model"), [
    # nvidia.com/gpu.product as GPU Feature Discovery writes it on a B300 node (label listings in
    # public cluster tooling: NVIDIA-B300-SXM6-AC, gpu.memory 275040, gpu.count 8); NVML's name;
    # Karpenter's instance-gpu-name (EC2 GpuInfo "B300", lower-cased)
    ("NVIDIA-B300-SXM6-AC", "NVIDIA-B300"), ("NVIDIA B300 SXM6 AC", "NVIDIA-B300"), ("b300", "NVIDIA-B300"),
])
def test_a_b300_is_known_by_the_names_platforms_give_it(label: str, model: str) -> None:
    from gpucost import gpumodels

    assert gpumodels.canonical(label) == model
    assert PricingConfig().gpu_model_price(label) == (pytest.approx(14.873992), False)


@pytest.mark.parametrize(("model", "itype", "region", "hourly", "vcpu", "gib", "gpus", "per_gpu"), MODELS)
def test_the_reference_instance_splits_back_into_its_list_price(
    model: str, itype: str, region: str, hourly: float, vcpu: int, gib: int, gpus: int, per_gpu: float,
) -> None:
    node = NodeFacts("ref", {}, vcpu, gib, gpus, model, itype, region, "on-demand")
    price = resolve_node_price(PricingConfig(), node)
    assert (price.source, price.gpu_price_defaulted) == ("catalog", False)
    assert price.cpu == pytest.approx(vcpu * CORE, rel=1e-9)
    assert price.memory == pytest.approx(gib * GIB, rel=1e-9)
    assert price.gpu == pytest.approx(gpus * per_gpu, rel=1e-9)
    assert price.total == pytest.approx(hourly, rel=1e-12)


def test_an_l40s_node_of_another_size_is_split_by_the_l40s_price() -> None:
    # g6e.12xlarge, us-east-1: 10.49264 $/h (karpenter_aws.go), 48 vCPU, 384 GiB, 4 x L40S
    # (SkyPilot v8). Weights: cpu 48 x 0.031611 = 1.517328, memory 384 x 0.004237 = 1.627008,
    # gpu 4 x 1.598972 = 6.395888; 9.540224 in all. Before the L40S had a price, its GPUs
    # weighed 4 x 2.93391 (default.gpu_hour) and the node was flagged.
    node = NodeFacts("g6e", {}, 48, 384, 4, "NVIDIA-L40S", "g6e.12xlarge", "us-east-1", "on-demand")
    price = resolve_node_price(PricingConfig(), node)
    assert (price.source, price.gpu_price_defaulted) == ("catalog", False)
    assert price.gpu == pytest.approx(10.49264 * 6.395888 / 9.540224, rel=1e-9)  # 7.034399849
    assert price.cpu == pytest.approx(10.49264 * 1.517328 / 9.540224, rel=1e-9)  # 1.668805310
    assert price.memory == pytest.approx(10.49264 * 1.627008 / 9.540224, rel=1e-9)  # 1.789434841
    assert price.gpu + price.cpu + price.memory == pytest.approx(10.49264, rel=1e-12)


def test_a_b200_server_no_catalog_prices_is_priced_by_its_model() -> None:
    # An on-premises or unlisted node (GKE a4-highgpu-8g has no catalog row) with 8 B200: the
    # default unit prices for the host, 12.398264 $ per B200-hour for the GPUs.
    node = NodeFacts("dgx-b200", {}, 224, 2048, 8, "NVIDIA-B200", "", "", "")
    price = resolve_node_price(PricingConfig(), node)
    assert (price.source, price.gpu_price_defaulted) == ("default", False)
    assert price.gpu == pytest.approx(8 * 12.398264, rel=1e-9)
    assert price.cpu == pytest.approx(224 * CORE, rel=1e-9)
    assert price.memory == pytest.approx(2048 * GIB, rel=1e-9)


def test_a_model_no_instance_carries_whole_is_still_defaulted_and_flagged() -> None:
    # The A10 (Azure NVads A10 v5: no whole-GPU size is a fair reference) and the GB200 (no size
    # here with a published shape) have no built-in price: default.gpu_hour, flagged.
    for model in ("NVIDIA-A10", "NVIDIA-GB200"):
        price = resolve_node_price(PricingConfig(), NodeFacts("x", {}, 36, 440, 1, model, "", "", ""))
        assert (price.gpu, price.gpu_price_defaulted) == (pytest.approx(2.93391), True)

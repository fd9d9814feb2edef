"""Built-in prices: public on-demand list prices, used when the pricing file does not say.

Sources (see docs/pricing.md and shared/reference/gpu-instance-prices.md):
  [P] AWS Price List offer files, version 2026-09-24 (us-east-1, Linux, on demand).
  [S] SkyPilot catalog (skypilot-org/skypilot-catalog v6/v7 vms.csv).
  [O] OpenCost configs/default.json (GCP us-central1 unit prices).
  [K] AWS Price List API (us-east-1, Linux, on demand) as karpenter-provider-aws generated it
      (zz_generated.pricing_aws.go @1d927085, 2026-07-20); vCPU and GiB from SkyPilot v8 vms.csv
      (@00148f2a), which agrees on the price.
  [Z] Azure Retail Prices API (Linux, pay as you go) as karpenter-provider-azure generated it
      (zz_generated.pricing.go @352646f5, 2026-06-18; eastus, ND MI300X v5 eastus2); vCPU, GiB
      and GPUs from Microsoft's size tables (azure-docs sizes/gpu-accelerated, and the AKS VM
      size list of microsoft/aspire AksNodeVmSizes.cs).
Figures marked "uncertain" in the reference are left out on purpose.
"""

from __future__ import annotations

CATALOG_DATE = "2026-09-24"

#: Unit prices for nodes nothing else prices, and the weights that split whole-node prices. [O]
DEFAULT_CPU_CORE_HOUR = 0.031611
DEFAULT_MEMORY_GIB_HOUR = 0.004237
#: GCP us-central1 A100 40GB GPU component of a2-highgpu-1g (host 0.73948 + GPU 2.93391). [S]
DEFAULT_GPU_HOUR = 2.93391

#: Whole-instance $/h by node.kubernetes.io/instance-type: (price, vCPU, RAM GiB, GPUs, source).
INSTANCE_TYPES: dict[str, tuple[float, int, int, int, str]] = {
    "p4d.24xlarge": (21.957642, 96, 1152, 8, "P"),
    "p4de.24xlarge": (27.44705, 96, 1152, 8, "P"),
    "p5.48xlarge": (55.04, 192, 2048, 8, "P"),
    "p5en.48xlarge": (63.296, 192, 2048, 8, "P"),
    "g5.xlarge": (1.006, 4, 16, 1, "S=P"),
    "g5.12xlarge": (5.672, 48, 192, 4, "S=P"),
    "g6.xlarge": (0.8048, 4, 16, 1, "S=P"),
    "g4dn.xlarge": (0.526, 4, 16, 1, "S=P"),
    "m5.xlarge": (0.192, 4, 16, 0, "S=P"),
    "a2-highgpu-1g": (3.6734, 12, 85, 1, "S"),
    "a2-highgpu-8g": (29.3871, 96, 680, 8, "S"),
    "g2-standard-4": (0.7068, 4, 16, 1, "S"),
    "n2-standard-4": (0.19424, 4, 16, 0, "S"),
    "Standard_NC24ads_A100_v4": (3.673, 24, 220, 1, "S"),
    "Standard_ND96asr_v4": (27.197, 96, 900, 8, "S"),
    "Standard_ND96amsr_A100_v4": (32.77, 96, 1900, 8, "S"),
    "Standard_D4s_v5": (0.192, 4, 16, 0, "S"),
    # The reference instances of the GPU models below that none of the above carries.
    "p6-b200.48xlarge": (113.9328, 192, 2048, 8, "K"),
    "p6-b300.48xlarge": (142.416, 192, 4096, 8, "K"),
    "g6e.xlarge": (1.861, 4, 32, 1, "K"),
    "g7e.2xlarge": (3.36312, 8, 64, 1, "K"),
    "p3.2xlarge": (3.06, 8, 61, 1, "K"),
    "p3dn.24xlarge": (31.212, 96, 768, 8, "K"),
    "g5g.xlarge": (0.42, 4, 8, 1, "K"),
    "g4ad.xlarge": (0.37853, 4, 16, 1, "K"),
    "Standard_NC40ads_H100_v5": (6.98, 40, 320, 1, "Z"),
    "Standard_ND96isr_MI300X_v5": (48.0, 96, 1850, 8, "Z"),
}

#: GPU model (canonical, see gpumodels) -> the instance type it is priced from: an AWS one where
#: AWS sells the GPU, else Azure's. Left out: models no instance carries whole (GB200's sizes
#: are not listed with their shapes here) and the A10, whose Azure sizes carry so much memory
#: that the remainder is not a GPU price (NV36ads_A10_v5: 3.2 $/h - 36 vCPU - 440 GiB leaves
#: 0.198 $/h; see docs/pricing.md).
_MODEL_REFERENCE_INSTANCE = {
    "NVIDIA-A100-SXM4-40GB": "p4d.24xlarge",
    "NVIDIA-A100-SXM4-80GB": "p4de.24xlarge",
    "NVIDIA-H100-80GB-HBM3": "p5.48xlarge",
    "NVIDIA-H200": "p5en.48xlarge",
    "NVIDIA-B200": "p6-b200.48xlarge",
    "NVIDIA-B300": "p6-b300.48xlarge",
    "NVIDIA-A10G": "g5.xlarge",
    "NVIDIA-L4": "g6.xlarge",
    "NVIDIA-L40S": "g6e.xlarge",
    "NVIDIA-RTX-PRO-6000": "g7e.2xlarge",
    "NVIDIA-T4": "g4dn.xlarge",
    "NVIDIA-T4G": "g5g.xlarge",
    "NVIDIA-V100-SXM2-16GB": "p3.2xlarge",
    "NVIDIA-V100-SXM2-32GB": "p3dn.24xlarge",
    "NVIDIA-A100-80GB-PCIe": "Standard_NC24ads_A100_v4",
    "NVIDIA-H100-NVL": "Standard_NC40ads_H100_v5",
    "AMD-Instinct-MI300X": "Standard_ND96isr_MI300X_v5",
    "AMD-Radeon-Pro-V520": "g4ad.xlarge",
}


def derived_gpu_price(instance_type: str) -> float:
    """$ per GPU-hour implied by an instance price: what remains after charging the host's
    vCPUs and RAM at the default unit prices, shared equally by its GPUs. Splitting that
    instance's price by the default weights then gives back exactly the list price."""
    price, vcpu, ram_gib, gpus, _ = INSTANCE_TYPES[instance_type]
    host = vcpu * DEFAULT_CPU_CORE_HOUR + ram_gib * DEFAULT_MEMORY_GIB_HOUR
    return (price - host) / gpus


#: $ per physical GPU-hour by model, derived from list prices (see derived_gpu_price).
GPU_MODELS: dict[str, float] = {
    model: derived_gpu_price(itype) for model, itype in _MODEL_REFERENCE_INSTANCE.items()
}


#: Physical GPUs and their model by instance type (hardware facts, not prices). Used when no
#: label says what a node has: AKS and Bottlerocket nodes without GPU Feature Discovery, nodes
#: whose device plugin is down. Sources:
#:   AWS: "Amazon EC2 instance types - Accelerated computing" specifications (docs.aws.amazon.com);
#:   GCP: "GPU machine types" (cloud.google.com/compute/docs/gpus);
#:   Azure: "Sizes for virtual machines in Azure", GPU-accelerated families (learn.microsoft.com).
#: Azure NVadsA10 v5 sizes below NV36ads hold a fraction of one A10 and are left out on purpose.
INSTANCE_GPUS: dict[str, tuple[int, str]] = {
    # AWS
    "p3.2xlarge": (1, "NVIDIA-V100-SXM2-16GB"), "p3.8xlarge": (4, "NVIDIA-V100-SXM2-16GB"),
    "p3.16xlarge": (8, "NVIDIA-V100-SXM2-16GB"), "p3dn.24xlarge": (8, "NVIDIA-V100-SXM2-32GB"),
    "p4d.24xlarge": (8, "NVIDIA-A100-SXM4-40GB"), "p4de.24xlarge": (8, "NVIDIA-A100-SXM4-80GB"),
    "p5.4xlarge": (1, "NVIDIA-H100-80GB-HBM3"), "p5.48xlarge": (8, "NVIDIA-H100-80GB-HBM3"),
    "p5e.48xlarge": (8, "NVIDIA-H200"), "p5en.48xlarge": (8, "NVIDIA-H200"),
    "p6-b200.48xlarge": (8, "NVIDIA-B200"), "p6-b300.48xlarge": (8, "NVIDIA-B300"),
    **{f"g4dn.{s}": (1, "NVIDIA-T4") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g4dn.12xlarge": (4, "NVIDIA-T4"), "g4dn.metal": (8, "NVIDIA-T4"),
    **{f"g4ad.{s}": (1, "AMD-Radeon-Pro-V520") for s in ("xlarge", "2xlarge", "4xlarge")},
    "g4ad.8xlarge": (2, "AMD-Radeon-Pro-V520"), "g4ad.16xlarge": (4, "AMD-Radeon-Pro-V520"),
    **{f"g5.{s}": (1, "NVIDIA-A10G") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g5.12xlarge": (4, "NVIDIA-A10G"), "g5.24xlarge": (4, "NVIDIA-A10G"), "g5.48xlarge": (8, "NVIDIA-A10G"),
    **{f"g5g.{s}": (1, "NVIDIA-T4G") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge")},
    "g5g.16xlarge": (2, "NVIDIA-T4G"), "g5g.metal": (2, "NVIDIA-T4G"),
    **{f"g6.{s}": (1, "NVIDIA-L4") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g6.12xlarge": (4, "NVIDIA-L4"), "g6.24xlarge": (4, "NVIDIA-L4"), "g6.48xlarge": (8, "NVIDIA-L4"),
    **{f"g6e.{s}": (1, "NVIDIA-L40S") for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g6e.12xlarge": (4, "NVIDIA-L40S"), "g6e.24xlarge": (4, "NVIDIA-L40S"), "g6e.48xlarge": (8, "NVIDIA-L40S"),
    **{f"g7e.{s}": (1, "NVIDIA-RTX-PRO-6000") for s in ("2xlarge", "4xlarge", "8xlarge")},
    "g7e.12xlarge": (2, "NVIDIA-RTX-PRO-6000"), "g7e.24xlarge": (4, "NVIDIA-RTX-PRO-6000"),
    "g7e.48xlarge": (8, "NVIDIA-RTX-PRO-6000"),
    # GCP (n1 machine types take 1-8 attached GPUs: the machine type alone does not say)
    **{f"a2-highgpu-{n}g": (n, "NVIDIA-A100-SXM4-40GB") for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": (16, "NVIDIA-A100-SXM4-40GB"),
    **{f"a2-ultragpu-{n}g": (n, "NVIDIA-A100-SXM4-80GB") for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": (n, "NVIDIA-H100-80GB-HBM3") for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": (8, "NVIDIA-H100-80GB-HBM3"), "a3-edgegpu-8g": (8, "NVIDIA-H100-80GB-HBM3"),
    "a3-ultragpu-8g": (8, "NVIDIA-H200"), "a4-highgpu-8g": (8, "NVIDIA-B200"),
    "a4x-highgpu-4g": (4, "NVIDIA-GB200"),
    **{f"g2-standard-{n}": (1, "NVIDIA-L4") for n in (4, 8, 12, 16, 32)},
    "g2-standard-24": (2, "NVIDIA-L4"), "g2-standard-48": (4, "NVIDIA-L4"), "g2-standard-96": (8, "NVIDIA-L4"),
    # Azure
    "Standard_NC4as_T4_v3": (1, "NVIDIA-T4"), "Standard_NC8as_T4_v3": (1, "NVIDIA-T4"),
    "Standard_NC16as_T4_v3": (1, "NVIDIA-T4"), "Standard_NC64as_T4_v3": (4, "NVIDIA-T4"),
    "Standard_NC6s_v3": (1, "NVIDIA-V100-PCIE-16GB"), "Standard_NC12s_v3": (2, "NVIDIA-V100-PCIE-16GB"),
    "Standard_NC24s_v3": (4, "NVIDIA-V100-PCIE-16GB"), "Standard_NC24rs_v3": (4, "NVIDIA-V100-PCIE-16GB"),
    "Standard_NC24ads_A100_v4": (1, "NVIDIA-A100-80GB-PCIe"), "Standard_NC48ads_A100_v4": (2, "NVIDIA-A100-80GB-PCIe"),
    "Standard_NC96ads_A100_v4": (4, "NVIDIA-A100-80GB-PCIe"),
    "Standard_NC40ads_H100_v5": (1, "NVIDIA-H100-NVL"), "Standard_NC80adis_H100_v5": (2, "NVIDIA-H100-NVL"),
    "Standard_ND40rs_v2": (8, "NVIDIA-V100-SXM2-32GB"),
    "Standard_ND96asr_v4": (8, "NVIDIA-A100-SXM4-40GB"), "Standard_ND96amsr_A100_v4": (8, "NVIDIA-A100-SXM4-80GB"),
    "Standard_ND96isr_H100_v5": (8, "NVIDIA-H100-80GB-HBM3"), "Standard_ND96isr_H200_v5": (8, "NVIDIA-H200"),
    "Standard_ND96isr_MI300X_v5": (8, "AMD-Instinct-MI300X"),
    "Standard_NV36ads_A10_v5": (1, "NVIDIA-A10"), "Standard_NV72ads_A10_v5": (2, "NVIDIA-A10"),
    "Standard_NV12s_v3": (1, "NVIDIA-M60"), "Standard_NV24s_v3": (2, "NVIDIA-M60"), "Standard_NV48s_v3": (4, "NVIDIA-M60"),
}

"""Built-in prices: public on-demand list prices, used when the pricing file does not say.

Sources (see docs/pricing.md and shared/reference/gpu-instance-prices.md):
  [P] AWS Price List offer files, version 2026-09-24 (us-east-1, Linux, on demand).
  [S] SkyPilot catalog (skypilot-org/skypilot-catalog v6/v7 vms.csv).
  [O] OpenCost configs/default.json (GCP us-central1 unit prices).
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
}

#: GPU model (GPU Feature Discovery product label) -> the AWS instance type it is priced from.
_MODEL_REFERENCE_INSTANCE = {
    "NVIDIA-A100-SXM4-40GB": "p4d.24xlarge",
    "NVIDIA-A100-SXM4-80GB": "p4de.24xlarge",
    "NVIDIA-H100-80GB-HBM3": "p5.48xlarge",
    "NVIDIA-H200": "p5en.48xlarge",
    "NVIDIA-A10G": "g5.xlarge",
    "NVIDIA-L4": "g6.xlarge",
    "Tesla-T4": "g4dn.xlarge",
}


def derived_gpu_price(instance_type: str) -> float:
    """$ per GPU-hour implied by an instance price: what remains after charging the host's
    vCPUs and RAM at the default unit prices, shared equally by its GPUs. Splitting that
    instance's price by the default weights then gives back exactly the list price."""
    price, vcpu, ram_gib, gpus, _ = INSTANCE_TYPES[instance_type]
    host = vcpu * DEFAULT_CPU_CORE_HOUR + ram_gib * DEFAULT_MEMORY_GIB_HOUR
    return (price - host) / gpus


#: $ per physical GPU-hour by model, derived from [P] list prices (see derived_gpu_price).
GPU_MODELS: dict[str, float] = {
    model: derived_gpu_price(itype) for model, itype in _MODEL_REFERENCE_INSTANCE.items()
}

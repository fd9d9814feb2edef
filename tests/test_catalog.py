"""The built-in regional catalog: lookups by instance type, region and capacity type against
figures copied by hand from their sources (scripts/catalog_sources/), and the region fallback."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from gpucost import regional

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("instance_type", "region", "capacity", "hourly", "row_region", "fallback", "spot_missing", "date"),
    [
        # AWS Price List offer file 2026-09-24, us-east-1 on demand (shared/reference).
        ("p5.48xlarge", "us-east-1", "on-demand", 55.04, "us-east-1", False, False, "2026-09-24"),
        ("g4dn.xlarge", "us-east-1", "", 0.526, "us-east-1", False, False, "2026-09-24"),
        # no p5 row for eu-west-1: the cheapest listed region, flagged
        ("p5.48xlarge", "eu-west-1", "on-demand", 55.04, "us-east-1", True, False, "2026-09-24"),
        # no spot row for p5: the on-demand price, flagged
        ("p5.48xlarge", "us-east-1", "spot", 55.04, "us-east-1", False, True, "2026-09-24"),
        # SkyPilot v7 aws/vms.csv @001367d2, read 2026-11-30: r5a.2xlarge
        ("r5a.2xlarge", "eu-west-1", "on-demand", 0.508, "eu-west-1", False, False, "2026-11-30"),
        ("r5a.2xlarge", "eu-central-1", "on-demand", 0.548, "eu-central-1", False, False, "2026-11-30"),
        # spot: median of the zones' prices; eu-west-1 zones 0.2513, 0.2195, 0.2330 -> 0.2330
        ("r5a.2xlarge", "eu-west-1", "spot", 0.233, "eu-west-1", False, False, "2026-11-30"),
        # us-west-2 zones 0.1914, 0.1886, 0.1895, 0.2281 -> (0.1895 + 0.1914) / 2 = 0.19045
        ("r5a.2xlarge", "us-west-2", "spot", 0.19045, "us-west-2", False, False, "2026-11-30"),
        # a region not listed, spot: the cheapest region's spot price (ap-south-1 0.1425), flagged
        ("r5a.2xlarge", "sa-east-1", "spot", 0.1425, "ap-south-1", True, False, "2026-11-30"),
        # no region label at all: cheapest on-demand region (ap-south-1 0.286), flagged
        ("r5a.2xlarge", "", "", 0.286, "ap-south-1", True, False, "2026-11-30"),
        # GCP us-central1 (SkyPilot: host 0.73948 + GPU 2.93391) and Azure eastus
        ("a2-highgpu-1g", "us-central1", "on-demand", 3.6734, "us-central1", False, False, "2026-09-24"),
        ("Standard_ND96amsr_A100_v4", "eastus", "on-demand", 32.77, "eastus", False, False, "2026-09-24"),
        ("Standard_ND96amsr_A100_v4", "westeurope", "", 32.77, "eastus", True, False, "2026-09-24"),
    ],
)
def test_lookup(instance_type: str, region: str, capacity: str, hourly: float, row_region: str,
                fallback: bool, spot_missing: bool, date: str) -> None:
    hit = regional.builtin().lookup(instance_type, region, capacity)
    assert hit is not None
    assert (hit.row.hourly, hit.row.region, hit.region_fallback, hit.spot_missing, hit.row.date) == (
        hourly, row_region, fallback, spot_missing, date)
    assert hit.row.source


def test_unknown_type() -> None:
    assert regional.builtin().lookup("x9.huge", "us-east-1") is None


def test_every_row_names_source_and_date() -> None:
    rows = regional.builtin().rows
    assert len(rows) == 27
    assert all(r.source and len(r.date) == 10 and r.hourly > 0 for r in rows)
    assert regional.builtin().date == "2026-11-30"


def test_generator_reproduces_the_shipped_table(tmp_path: Path) -> None:
    out = tmp_path / "catalog.csv.gz"
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_catalog.py"), "--output", str(out)],
                   check=True, capture_output=True)
    shipped = REPO / "exporter" / "gpucost" / "data" / "catalog.csv.gz"
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(shipped.read_bytes())

"""Regenerate the built-in regional catalog (exporter/gpucost/data/catalog.csv.gz).

    python scripts/gen_catalog.py                         # from scripts/catalog_sources/
    python scripts/gen_catalog.py --skypilot aws=vms.csv  # add a SkyPilot catalog file

Sources (see scripts/catalog_sources/README.md):
- hand-copied list prices with source and date per row (`list_prices.csv`);
- SkyPilot catalog files (skypilot-org/skypilot-catalog `catalogs/v7/aws/vms.csv` layout:
  InstanceType, ..., Price, SpotPrice, Region, AvailabilityZone): on-demand price per region,
  spot price = median of the region's zones. Only instance families given by --families are
  kept (default: the GPU, accelerator and general-purpose families users run beside them).
GCP and Azure SkyPilot files list GPUs apart from hosts; only AWS layout is read here, and GCP
and Azure prices come from `list_prices.csv` until their host + GPU rows are summed.

The output is deterministic (sorted, gzip mtime 0), so a rerun on the same inputs changes
nothing in git.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "scripts" / "catalog_sources"
OUTPUT = REPO / "exporter" / "gpucost" / "data" / "catalog.csv.gz"
COLUMNS = ("provider", "instance_type", "region", "capacity_type", "hourly", "vcpus", "memory_gib", "gpus",
           "source", "date")
#: AWS families kept from a SkyPilot file: GPU and accelerator nodes, and general purpose ones.
DEFAULT_FAMILIES = r"^(p3|p3dn|p4d|p4de|p5|p5e|p5en|p6-b200|g4dn|g4ad|g5|g5g|g6|g6e|inf2|trn1|trn1n|trn2|m5|m6i|m7i|c5|c6i|c7i|r5|r5a|r6i)\."


def read_list_prices(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [dict(row) for row in csv.DictReader(lines)]


def read_skypilot_aws(path: Path, families: re.Pattern[str], source: str, date: str) -> list[dict[str, str]]:
    """On-demand and spot rows per (instance type, region) from SkyPilot's AWS layout."""
    zones: dict[tuple[str, str], list[dict[str, str]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if families.search(row["InstanceType"]):
                zones.setdefault((row["InstanceType"], row["Region"]), []).append(row)
    out = []
    for (itype, region), rows in sorted(zones.items()):
        first = rows[0]
        gpus = str(int(float(first["AcceleratorCount"]))) if first["AcceleratorCount"] else "0"
        common = {"provider": "aws", "instance_type": itype, "region": region,
                  "vcpus": str(int(float(first["vCPUs"]))), "memory_gib": str(float(first["MemoryGiB"])).removesuffix(".0"),
                  "gpus": gpus, "source": source, "date": date}
        prices = {float(r["Price"]) for r in rows if r["Price"]}
        if len(prices) == 1:  # one on-demand price per region, whatever the zone
            out.append({**common, "capacity_type": "on-demand", "hourly": f"{prices.pop():g}"})
        spots = [float(r["SpotPrice"]) for r in rows if r["SpotPrice"]]
        if spots:
            out.append({**common, "capacity_type": "spot", "hourly": f"{statistics.median(spots):.6g}"})
    return out


def render(rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    w = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in sorted(rows, key=lambda r: (r["provider"], r["instance_type"], r["region"], r["capacity_type"])):
        w.writerow({k: row[k] for k in COLUMNS})
    return gzip.compress(text.getvalue().encode(), mtime=0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skypilot", action="append", default=[], metavar="aws=PATH[@SOURCE@DATE]",
                   help="a SkyPilot vms.csv (AWS layout); repeatable")
    p.add_argument("--families", default=DEFAULT_FAMILIES, help="regex on instance types to keep")
    p.add_argument("--output", default=str(OUTPUT))
    args = p.parse_args(argv)
    rows = read_list_prices(SOURCES / "list_prices.csv")
    families = re.compile(args.families)
    inputs = [("aws=" + str(SOURCES / "skypilot_aws_r5a_2xlarge.csv")
               + "@skypilot-v7-aws@001367d2@2026-11-30")] + args.skypilot
    for spec in inputs:
        cloud, _, rest = spec.partition("=")
        path, *meta = rest.split("@")
        if cloud != "aws":
            raise SystemExit(f"--skypilot {spec}: only the AWS layout is read (see the docstring)")
        source = "@".join(meta[:-1]) if len(meta) >= 2 else "skypilot"
        date = meta[-1] if meta else "unknown"
        rows.extend(read_skypilot_aws(Path(path), families, source, date))
    seen: set[tuple[str, str, str]] = set()
    for r in rows:
        key = (r["instance_type"], r["region"], r["capacity_type"])
        if key in seen:
            raise SystemExit(f"two prices for {key}: keep one source per row")
        seen.add(key)
    Path(args.output).write_bytes(render(rows))
    print(f"{args.output}: {len(rows)} rows")


if __name__ == "__main__":
    main()

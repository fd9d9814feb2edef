"""Regenerate the built-in regional catalog (exporter/gpucost/data/catalog.csv.gz).

    python scripts/gen_catalog.py                      # from scripts/catalog_sources/
    python scripts/gen_catalog.py extract LAYOUT UPSTREAM OUT
                                                       # cut an upstream file down to the kept families

Every input is a file of scripts/catalog_sources/ in its publisher's own layout, cut down to
the instance families kept (`extract` does the cutting, so a refresh is: fetch the upstream
file, extract, regenerate). SOURCES below names each file's repository, commit and date, and
scripts/catalog_sources/README.md says where the publishers got the prices. Layouts read:

- `list`: hand-copied rows with their own source and date (`list_prices.csv`);
- `karpenter-aws`: karpenter-provider-aws `zz_generated.pricing_aws.go` (us-east-1) and
  `zz_generated.pricing_aws_us_gov.go` (the two GovCloud regions), on-demand $/h by region from
  the AWS Price List API (`zz_generated.pricing_aws_cn.go` is left out: its prices are in CNY);
- `karpenter-azure`: karpenter-provider-azure `zz_generated.pricing.go`, on-demand $/h (Linux)
  by region from the Azure Retail Prices API;
- `karpenter-gcp`: karpenter-provider-gcp `initial-prices.json`, on-demand and spot $/h of
  whole machine types by region from the Cloud Billing Catalog API;
- `gce-gpus`: kubernetes/autoscaler `gce_price_info.go` `gpuPrices`, $/h per GPU attached to
  an N1 machine (rows named by the GKE accelerator, `nvidia-tesla-t4`);
- `skypilot-aws`: skypilot-catalog `catalogs/v8/aws/vms.csv`, on-demand price per region and
  spot price per zone (spot = the median of the region's zones; Local Zones left out), taken
  only for instance types whose us-east-1 price agrees with the AWS Price List's.

Sources are read in SOURCES order and the first to price an (instance type, region, capacity
type) wins: hand-copied list prices, then the providers' APIs, then SkyPilot. The output is
deterministic (sorted, gzip mtime 0), so a rerun on the same inputs changes nothing in git.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES_DIR = REPO / "scripts" / "catalog_sources"
OUTPUT = REPO / "exporter" / "gpucost" / "data" / "catalog.csv.gz"
COLUMNS = ("provider", "instance_type", "region", "capacity_type", "hourly", "vcpus", "memory_gib", "gpus",
           "source", "date")

#: Instance types kept, per provider: every GPU and accelerator family, and the general-purpose
#: families clusters run beside them.
FAMILIES = {
    "aws": re.compile(
        r"^(p3|p3dn|p4d|p4de|p5|p5e|p5en|p6-b200|p6-b300|g4dn|g4ad|g5|g5g|g6|g6e|g6f|gr6|g7|g7e"
        r"|inf2|trn1|trn1n|trn2|(m|c|r)[5-9][a-z]*(-flex)?|t3a?|t4g)\.[0-9a-z-]+$"),  # c7i.metal-24xl
    "gcp": re.compile(
        r"^(a2-(high|mega|ultra)gpu-\d+g|a3-(high|mega|edge|ultra)gpu-\d+g|a4x?-highgpu-\d+g|g2-standard-\d+"
        r"|g4-standard-\d+|n1-(standard|highmem|highcpu)-\d+|n2d?-(standard|highmem|highcpu)-\d+"
        r"|e2-(standard|highmem|highcpu)-\d+|e2-(micro|small|medium)|c3-(standard|highmem|highcpu)-\d+"
        r"|n4-(standard|highmem|highcpu)-\d+|t2d-standard-\d+)$"),  # e2-medium: GKE's default node
    # RTXPRO6000BSE_v6 sizes are left out: their retail rows price larger sizes at or below
    # smaller ones (NC288ds = NC256ds = 11.0 in eastus), which no published page confirms.
    "azure": re.compile(
        r"^Standard_(N(C|D|V)\d+[a-z]*(_[A-Z0-9]+)*(_v\d)?|D\d+(a|d)?s_v5|E\d+a?s_v5"
        r"|B\d+[a-z]*(_v2)?|D\d+s_v3|DS\d+_v2)$"),  # burstable B; AKS's older defaults DS2_v2, D*s_v3
}
#: AWS families with GPUs or other accelerators (the rest have none).
ACCELERATED = re.compile(r"^(p\d|g\d|gr\d|inf\d|trn\d)")
#: GKE accelerator names priced per GPU on N1 machines.
GCE_GPUS = re.compile(r"^nvidia-tesla-(t4|p4|v100|p100)$")


@dataclass(frozen=True)
class Source:
    file: str  # in scripts/catalog_sources/
    layout: str
    label: str  # the rows' `source`: repository@commit
    date: str  # when the publisher generated the prices (YYYY-MM-DD)


SOURCES = (
    Source("list_prices.csv", "list", "", ""),
    Source("karpenter_aws.go", "karpenter-aws", "karpenter-provider-aws@1d927085", "2026-07-20"),
    Source("karpenter_aws_us_gov.go", "karpenter-aws", "karpenter-provider-aws@1d927085", "2026-07-20"),
    Source("karpenter_gcp.json", "karpenter-gcp", "karpenter-provider-gcp@417f047b", "2026-08-03"),
    Source("karpenter_azure.go", "karpenter-azure", "karpenter-provider-azure@352646f5", "2026-06-18"),
    Source("gce_gpus.go", "gce-gpus", "kubernetes-autoscaler@55c37cd5", "2020-07-15"),
    Source("skypilot_aws.csv", "skypilot-aws", "skypilot-catalog-v8-aws@00148f2a", "2026-11-30"),
)


@dataclass(frozen=True)
class Price:
    """One price as a layout states it, before source and date are attached."""

    provider: str
    instance_type: str
    region: str
    capacity_type: str
    hourly: float
    vcpus: str = ""
    memory_gib: str = ""
    gpus: str = ""


_ENTRY = re.compile(r'"([^"]+)":\s*([0-9.]+)')


def read_karpenter_aws(text: str) -> Iterator[Price]:
    region = ""
    for line in text.splitlines():
        if m := re.match(r'\s*"([a-z0-9-]+)":\s*\{', line):
            region = m[1]
            continue
        for itype, price in _ENTRY.findall(line):
            if region and FAMILIES["aws"].match(itype):
                yield Price("aws", itype, region, "on-demand", float(price))


def read_karpenter_azure(text: str) -> Iterator[Price]:
    region = ""
    for line in text.splitlines():
        if m := re.search(r'initialOnDemandPrices\["([a-z0-9]+)"\]', line):
            region = m[1]
            continue
        for sku, price in _ENTRY.findall(line):
            if region and FAMILIES["azure"].match(sku) and float(price) > 0:
                yield Price("azure", sku, region, "on-demand", float(price))


def read_karpenter_gcp(text: str) -> Iterator[Price]:
    for region, by_capacity in json.loads(text)["prices"].items():
        for key, capacity in (("on_demand", "on-demand"), ("spot", "spot")):
            for mtype, price in by_capacity.get(key, {}).items():
                if FAMILIES["gcp"].match(mtype) and price > 0:
                    # Accelerator-optimized names end in the GPU count (a3-highgpu-8g).
                    gpus = m[1] if (m := re.search(r"-(\d+)g$", mtype)) else ""
                    yield Price("gcp", mtype, region, capacity, float(price), gpus=gpus)


def read_gce_gpus(text: str) -> Iterator[Price]:
    """On-demand $/h per attached GPU (`gpuPrices`); the file's preemptible figures date from
    2020 and Spot GPU prices have changed monthly since, so they are not kept. The figures are
    us-central1's (GCP's GPU price page lists the same there)."""
    body = re.search(r"gpuPrices = map\[string\]float64\{(.*?)\}", text, re.S)
    for name, price in _ENTRY.findall(body[1] if body else ""):
        if GCE_GPUS.match(name) and float(price) > 0:
            yield Price("gcp", name, "us-central1", "on-demand", float(price), gpus="1")


SKYPILOT_AWS_HEADER = ["InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "GpuInfo",
                       "Price", "SpotPrice", "Region", "AvailabilityZone", "Arch"]
_DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
               "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}


def zone_prefix(region: str) -> str:
    """The prefix of an AWS zone ID in `region`: us-east-1 -> use1 (zone IDs are use1-az1 ...),
    ap-northeast-2 -> apne2, us-gov-west-1 -> usgw1."""
    area, *words, number = region.split("-")
    return area + "".join(_DIRECTIONS.get(w, w[:1]) for w in words) + number


def read_skypilot_aws(text: str) -> Iterator[Price]:
    """Per (type, region): the on-demand price, which must be the same in every zone of the region
    (it is AWS's regional price), and the median of the zones' spot prices. Local Zone rows
    (zone IDs with a zone group, use1-atl2-az1) are left out: they are priced apart from their
    region. A row whose zone ID is not of its region, or a region whose zones disagree on the
    on-demand price, is an error in the input (an upstream change, or a bad cut) and stops the
    run."""
    reader = csv.reader(io.StringIO(text))
    if (header := next(reader)) != SKYPILOT_AWS_HEADER:
        raise ValueError(f"skypilot-aws: unexpected header {header}")
    zones: dict[tuple[str, str], list[dict[str, str]]] = {}
    for line, fields in enumerate(reader, start=2):
        row = dict(zip(SKYPILOT_AWS_HEADER, fields, strict=True))
        if not FAMILIES["aws"].match(row["InstanceType"]):
            continue
        prefix, zone = zone_prefix(row["Region"]), row["AvailabilityZone"]
        if re.fullmatch(prefix + r"-[a-z]+\d+-az\d+", zone):
            continue  # a Local Zone
        if not re.fullmatch(prefix + r"-az\d+", zone):
            raise ValueError(f"skypilot-aws line {line}: zone {row['AvailabilityZone']} is not in {row['Region']}")
        zones.setdefault((row["InstanceType"], row["Region"]), []).append(row)
    for (itype, region), rows in sorted(zones.items()):
        first = rows[0]
        shape = {"vcpus": f"{float(first['vCPUs']):g}", "memory_gib": f"{float(first['MemoryGiB']):g}",
                 "gpus": f"{float(first['AcceleratorCount']):g}" if first["AcceleratorCount"]
                 else "" if ACCELERATED.match(itype) else "0"}  # trn2's count is not stated
        if any((r["vCPUs"], r["MemoryGiB"], r["AcceleratorCount"]) != (first["vCPUs"], first["MemoryGiB"],
               first["AcceleratorCount"]) for r in rows):
            raise ValueError(f"skypilot-aws: {itype} in {region}: zones disagree on the shape")
        prices = {float(r["Price"]) for r in rows if r["Price"]}
        if len(prices) > 1:
            raise ValueError(f"skypilot-aws: {itype} in {region}: zones disagree on the on-demand price {prices}")
        if prices:
            yield Price("aws", itype, region, "on-demand", prices.pop(), **shape)
        spots = [float(r["SpotPrice"]) for r in rows if r["SpotPrice"]]
        if spots:  # zones' prices have 6 decimals, the mean of the middle two at most 7
            yield Price("aws", itype, region, "spot", round(statistics.median(spots), 7), **shape)


READERS = {
    "karpenter-aws": read_karpenter_aws,
    "karpenter-azure": read_karpenter_azure,
    "karpenter-gcp": read_karpenter_gcp,
    "gce-gpus": read_gce_gpus,
    "skypilot-aws": read_skypilot_aws,
}


def read_list_prices(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [dict(row) for row in csv.DictReader(lines)]


def out_of_date(found: list[dict[str, str]], earlier: dict[tuple[str, str, str], dict[str, str]]) -> set[str]:
    """The instance types whose us-east-1 on-demand price in `found` differs from an earlier
    source's (the AWS Price List's): that source's figures for the type predate a price change
    (SkyPilot snapshots before June 2025 still had P4 and P5 at their old prices), so none of its
    rows of the type are taken, in any region."""
    stale = set()
    for row in found:
        key = (row["instance_type"], "us-east-1", "on-demand")
        if key == (row["instance_type"], row["region"], row["capacity_type"]) and key in earlier \
                and float(earlier[key]["hourly"]) != float(row["hourly"]):
            stale.add(row["instance_type"])
    return stale


def collect(sources_dir: Path = SOURCES_DIR) -> list[dict[str, str]]:
    """Every row, first source first; an (instance type, region, capacity type) that an
    earlier source priced is not taken again, and a SkyPilot type whose us-east-1 price is out
    of date is not taken at all."""
    rows: dict[tuple[str, str, str], dict[str, str]] = {}
    for src in SOURCES:
        text = (sources_dir / src.file).read_text()
        if src.layout == "list":
            found = read_list_prices(text)
        else:
            found = [{"provider": p.provider, "instance_type": p.instance_type, "region": p.region,
                      "capacity_type": p.capacity_type, "hourly": repr(p.hourly), "vcpus": p.vcpus,
                      "memory_gib": p.memory_gib, "gpus": p.gpus, "source": src.label, "date": src.date}
                     for p in READERS[src.layout](text)]
        if src.layout == "skypilot-aws" and (stale := out_of_date(found, rows)):
            print(f"{src.file}: left out, out of date against the AWS Price List: {sorted(stale)}", file=sys.stderr)
            found = [row for row in found if row["instance_type"] not in stale]
        for row in found:
            rows.setdefault((row["instance_type"], row["region"], row["capacity_type"]), row)
    return list(rows.values())


def render(rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    w = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in sorted(rows, key=lambda r: (r["provider"], r["instance_type"], r["region"], r["capacity_type"])):
        w.writerow({k: row[k] for k in COLUMNS})
    return gzip.compress(text.getvalue().encode(), mtime=0)


def extract(layout: str, upstream: str) -> str:
    """The upstream file cut down to the kept families, in its own layout."""
    prices = list(READERS[layout](upstream))
    if layout == "karpenter-gcp":
        out: dict[str, dict[str, dict[str, float]]] = {}
        for p in prices:
            key = "on_demand" if p.capacity_type == "on-demand" else "spot"
            out.setdefault(p.region, {}).setdefault(key, {})[p.instance_type] = p.hourly
        return json.dumps({"prices": out}, indent=0, sort_keys=True) + "\n"
    if layout == "skypilot-aws":
        reader = csv.reader(io.StringIO(upstream))
        header = next(reader)
        # GpuInfo (a quoted dict of GPU names and memory) is blanked: the catalog takes the GPU
        # count from AcceleratorCount, and the column is most of a GPU row's size.
        kept = [[*row[:5], "", *row[6:]] for row in reader if FAMILIES["aws"].match(row[0])]
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *kept])
        return text.getvalue()
    generated = next((line for line in upstream.splitlines() if "generated at" in line), "")
    lines = [generated.strip()]
    by_region: dict[str, list[Price]] = {}
    for p in prices:
        by_region.setdefault(p.region, []).append(p)
    for region, ps in by_region.items():
        lines.append(f'initialOnDemandPrices["{region}"] = map[string]float64{{' if layout == "karpenter-azure"
                     else f'"{region}": {{')
        lines.extend(f'\t"{p.instance_type}": {p.hourly:.6f},' for p in ps)
        lines.append("}")
    if layout == "gce-gpus":
        lines = ["gpuPrices = map[string]float64{", *(f'\t"{p.instance_type}": {p.hourly:g},' for p in prices), "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["extract"]:
        p = argparse.ArgumentParser(prog="gen_catalog.py extract")
        p.add_argument("layout", choices=sorted(READERS))
        p.add_argument("upstream")
        p.add_argument("out")
        ns = p.parse_args(args[1:])
        Path(ns.out).write_text(extract(ns.layout, Path(ns.upstream).read_text()))
        return
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--sources", default=str(SOURCES_DIR))
    p.add_argument("--output", default=str(OUTPUT))
    ns = p.parse_args(args)
    rows = collect(Path(ns.sources))
    Path(ns.output).write_bytes(render(rows))
    print(f"{ns.output}: {len(rows)} rows")


if __name__ == "__main__":
    main()

"""The billing-export benchmark (issue 11): a 30-day hourly FOCUS export for 5,000 nodes,
loaded as `--billing-export` loads it, against a cold sync of the same nodes in the same run.

    python -m bench.billing                       # 5,000 nodes, 30 days, 30 pods a node
    python -m bench.billing --nodes 500 --days 7  # a quick look

Measures
1. load: `billing.load_billing` of the export (gzip'd CSV, as AWS Data Exports deliver it),
   seconds, as a ratio to a cold sync (list pages -> state -> gzip exposition, bench.run's
   cold_sync) of the cluster whose nodes the export bills;
2. memory: in a fresh process that only loads the export, the RSS the loaded prices keep
   (after load, garbage collected, minus before) and the peak RSS growth while loading.

The export has one row per node per hour in the AWS layout of tests/fixtures/focus (FOCUS 1.0
columns and AWS's `x_UsageType`), plus a storage row per node per day that the loader must
read and drop, as real exports interleave them. No pass/fail: the goal is printed beside it.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpucost import billing_rows
from gpucost.billing import load_billing
from gpucost.pricing import PricingConfig

from bench import run, synth

#: Columns of the AWS FOCUS 1.0 fixture (tests/fixtures/focus/aws-focus-1.0.csv).
COLUMNS = ("BilledCost", "BillingAccountId", "BillingCurrency", "ChargeCategory", "ChargeClass",
           "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit",
           "EffectiveCost", "ListCost", "PricingCategory", "RegionId", "ResourceId", "ServiceCategory",
           "ServiceName", "SkuId", "x_UsageType")
END = datetime(2026, 11, 30, tzinfo=UTC)


def node_instances(cluster: synth.Cluster) -> list[tuple[str, str, str]]:
    """(instance id, instance type, region) of each node, from its providerID and labels."""
    out = []
    for node in cluster.nodes:
        labels = node["metadata"]["labels"]
        out.append((node["spec"]["providerID"].rsplit("/", 1)[-1], labels["node.kubernetes.io/instance-type"],
                    labels["topology.kubernetes.io/region"]))
    return out


def write_export(path: Path, instances: list[tuple[str, str, str]], days: int) -> int:
    """An hourly FOCUS export of `days` days ending at END; returns its data rows."""
    n = 0
    with gzip.open(path, "wt", newline="", compresslevel=1) as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for h in range(days * 24):
            start = END - timedelta(hours=days * 24 - h)
            s, e = start.strftime("%Y-%m-%dT%H:%M:%SZ"), (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for i, (iid, itype, region) in enumerate(instances):
                cost = f"{1.0 + (i % 97) / 10:.4f}"
                w.writerow((cost, "111122223333", "USD", "Usage", "", f"On Demand {itype}", e, s, "1.0", "Hrs",
                            cost, cost, "Standard", region, iid, "Compute", "Amazon Elastic Compute Cloud",
                            "QJ3XXXXXXXXXXXX", f"BoxUsage:{itype}"))
                n += 1
                if h % 24 == 0:  # the node's root volume, billed daily: read and dropped
                    w.writerow(("0.0800", "111122223333", "USD", "Usage", "", "EBS gp3", e, s, "24", "GB-Mo",
                                "0.0800", "0.0800", "Standard", region, f"vol-{iid[2:]}", "Storage",
                                "Amazon Elastic Compute Cloud", "VOLXXXXXXXXXXXX", "EBS:VolumeUsage.gp3"))
                    n += 1
    return n


def rss() -> int:
    return run.rss_bytes()


def peak_rss() -> int:
    """This process's peak RSS in bytes: VmHWM, the high-water mark of its own address space.
    Not getrusage's ru_maxrss: Linux carries that across fork and exec, so a child started by
    this benchmark would report the parent's cluster (gigabytes) as its own peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(export: Path) -> None:
    """In this fresh process: import the column reader (numpy; the exporter imports it with the
    first export it reads), then load the export; print the RSS the import took, the RSS the
    prices keep and the peak growth while loading (bytes)."""
    gc.collect()
    start = rss()
    billing_rows.columnar()
    gc.collect()
    before = rss()
    prices = load_billing(export, "USD")
    gc.collect()
    print(before - start, rss() - before, peak_rss() - before, len(prices.resources))


def memory(export: Path) -> tuple[int, int, int]:
    out = subprocess.run([sys.executable, "-m", "bench.billing", "--memory-child", str(export)],
                         capture_output=True, text=True, check=True)
    library, kept, peak, _ = out.stdout.split()
    return int(library), int(kept), int(peak)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--passes", type=int, default=3, help="best of this many loads and cold syncs")
    p.add_argument("--memory-child", metavar="EXPORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        memory_child(Path(args.memory_child))
        return

    cluster = synth.generate(args.nodes * args.pods_per_node, nodes=args.nodes)
    pages = run.list_pages(cluster)
    instances = node_instances(cluster)
    del cluster
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "focus-30d.csv.gz"
        rows = write_export(export, instances, args.days)
        size = export.stat().st_size
        library, kept, peak = memory(export)
        first_load, prices = run.Timing.of(load_billing, export, "USD")
        load = first_load
        if args.passes > 1:
            rest = run.best_of(args.passes - 1, load_billing, export, "USD")
            load = run.Timing(min(load.wall, rest.wall), min(load.cpu, rest.cpu))

    matched = sum(1 for iid, _, _ in instances if prices.node_price(f"aws:///us-east-1a/{iid}") is not None)
    sync = run.best_of(args.passes, run.cold_sync, pages, PricingConfig())
    pods = args.nodes * args.pods_per_node
    print(f"billing export: {args.nodes:,} nodes x {args.days} days hourly = {rows:,} rows, "
          f"{size / 2**20:.1f} MiB gzip'd; {matched:,} nodes priced from it")
    print("| measure | result | goal |")
    print("|---|---|---|")
    print(f"| cold sync ({args.nodes:,} nodes, {pods:,} pods) | {sync.wall * 1000:,.0f} ms "
          f"(CPU {sync.cpu * 1000:,.0f} ms) | reference |")
    print(f"| load the export | {load.wall * 1000:,.0f} ms = {load.wall / sync.wall:.2f} x cold sync "
          f"(CPU {load.cpu * 1000:,.0f} ms = {load.cpu / sync.cpu:.2f} x; {rows / load.wall:,.0f} rows/s) "
          "| well under 1 x |")
    print(f"| memory kept by the loaded prices | {kept / 2**20:.1f} MiB (and {library / 2**20:.1f} MiB for numpy, "
          "imported with the first export) | little |")
    print(f"| peak RSS growth while loading | {max(peak, 0) / 2**20:.1f} MiB | little |")


if __name__ == "__main__":
    main()

"""The billing-export benchmark (issue 11): a 30-day hourly FOCUS export for 5,000 nodes,
loaded as `--billing-export` loads it, against a cold sync of the same nodes in the same run.

    python -m bench.billing                       # 5,000 nodes, 30 days, 30 pods a node
    python -m bench.billing --nodes 500 --days 7  # a quick look
    python -m bench.billing --parquet             # also the same export as Parquet (pyarrow)

Each figure is measured in a fresh process (the generator writes the export and the cluster's
list pages from a process of its own, which exits), as bench.run measures its syncs.

Measures
1. load: `billing.load_billing` of the export (gzip'd CSV, as AWS Data Exports deliver it),
   seconds, as a ratio to a cold sync (list pages -> state -> gzip exposition, bench.run's
   cold_sync) of the cluster whose nodes the export bills;
2. memory: in a fresh process that only loads the export, the RSS the loaded prices keep
   (after load, garbage collected, minus before) and the peak RSS growth while loading.

With --parquet the same rows are also written as Parquet, typed as AWS Data Exports type FOCUS
(costs double, periods timestamp_milliseconds), in row groups of pyarrow's default size, and
loaded and measured the same way (the pyarrow import is reported with the library's memory).

The export has one row per node per hour in the AWS layout of tests/fixtures/focus (FOCUS 1.0
columns and AWS's `x_UsageType`), plus a storage row per node per day that the loader must
read and drop, as real exports interleave them. A second export adds a `Tags` column of JSON
on every row (see TAGS), as exports with cost allocation tags carry: quoted fields. A third
replaces each node's instance every CHURN_HOURS hours, as spot and autoscaled node pools do:
30 times as many resources in the window. With --wide, a fourth export holds the same charges
in every column of AWS's "FOCUS 1.0 with AWS columns" table (WIDE_COLUMNS, 48 columns, about
700 bytes a row), filled in AWS's formats: the size of a real export of these rows. Each load
is also checked: the nodes (or, churned, the instances) whose price is exactly the hourly cost
their rows bill. The export files are dated DELIVERED, a few hours after their last charges,
as a delivered export is; the CSV exports are also loaded without a guess of the window (two
reads), and the plain one with a guess a day late. No pass/fail: the goal is printed beside it.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import os
import pickle
import resource
import tempfile
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from gpucost import billing_chunks
from gpucost.billing import load_billing
from gpucost.pricing import PricingConfig

from bench import run, synth

#: Columns of the AWS FOCUS 1.0 fixture (tests/fixtures/focus/aws-focus-1.0.csv).
COLUMNS = ("BilledCost", "BillingAccountId", "BillingCurrency", "ChargeCategory", "ChargeClass",
           "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit",
           "EffectiveCost", "ListCost", "PricingCategory", "RegionId", "ResourceId", "ServiceCategory",
           "ServiceName", "SkuId", "x_UsageType")
END = datetime(2026, 11, 30, tzinfo=UTC)
#: When the export's files were written (their modification time, which the loader guesses its
#: window from): six hours after its last charges, as a Data Export refreshed a few times a day
#: is delivered.
DELIVERED = END + timedelta(hours=6)
#: The window the loader finds (7 days ending with END's day before), and a guess of it a day
#: late, which costs the second read (`--expect`).
WINDOW_START = "2026-11-23"
LATE_GUESS = "2026-11-24"
#: The churned export replaces each node's instance every so many hours (spot and autoscaled
#: node pools): 5,000 x 8 days x 24 / 6 = 160,000 instances in the window read (a day early).
CHURN_HOURS = 6
#: The tagged export's extra column: FOCUS 1.0 `Tags`, which AWS Data Exports fill with the line
#: item's cost allocation tags (a map of strings, written as JSON in CSV; "Resource tags
#: columns", AWS Data Exports user guide) and Azure's export likewise. JSON in CSV is quoted
#: with its quotes doubled, so every row of such an export takes the loader's quoted path.
TAGS = json.dumps({"user:team": "ml-platform", "user:cost-center": "4711",
                   "eks:cluster-name": "prod-gpu", "karpenter.sh/nodepool": "gpu-a100"}, separators=(",", ":"))


def node_instances(cluster: synth.Cluster) -> list[tuple[str, str, str]]:
    """(instance id, instance type, region) of each node, from its providerID and labels."""
    out = []
    for node in cluster.nodes:
        labels = node["metadata"]["labels"]
        out.append((node["spec"]["providerID"].rsplit("/", 1)[-1], labels["node.kubernetes.io/instance-type"],
                    labels["topology.kubernetes.io/region"]))
    return out


#: AWS Data Exports, "FOCUS 1.0 with AWS columns": every column of the table, in the table
#: dictionary's order (docs.aws.amazon.com/cur/latest/userguide/table-dictionary-focus-1-0-aws-columns.html).
WIDE_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
    "x_CostCategories", "x_Discounts", "x_Operation", "x_ServiceCode", "x_UsageType",
)


def churned_id(generation: int, i: int) -> str:
    """The instance id of the i-th node's `generation`-th instance in a churned export (17 hex
    digits, as EC2's): the node's index is its last 12."""
    return f"i-{generation:05x}{i:012x}"


def hourly_cost(i: int) -> str:
    """The hourly cost the export bills the i-th node, as written."""
    return f"{1.0 + (i % 97) / 10:.4f}"


def write_export(path: Path, instances: list[tuple[str, str, str]], days: int, layout: str = "plain",
                 churn_hours: int = 0) -> int:
    """An hourly FOCUS export of `days` days ending at END; returns its data rows. `layout`:
    "plain" (COLUMNS), "tagged" (and a Tags column holding TAGS on every row), "wide"
    (WIDE_COLUMNS, see _Wide). `churn_hours`: each node's instance is replaced every so many
    hours (churned_id), as spot and autoscaled node pools replace theirs."""
    n = 0
    with gzip.open(path, "wt", newline="", compresslevel=1) as f:
        w = csv.writer(f)
        if layout == "tagged":
            w = _Tagged(w)
        elif layout == "wide":
            w = _Wide(w, END)
        w.writerow(COLUMNS)
        for h in range(days * 24):
            start = END - timedelta(hours=days * 24 - h)
            s, e = start.strftime("%Y-%m-%dT%H:%M:%SZ"), (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for i, (iid, itype, region) in enumerate(instances):
                cost = hourly_cost(i)
                rid = churned_id(h // churn_hours, i) if churn_hours else iid
                w.writerow((cost, "111122223333", "USD", "Usage", "", f"On Demand {itype}", e, s, "1.0", "Hrs",
                            cost, cost, "Standard", region, rid, "Compute", "Amazon Elastic Compute Cloud",
                            "QJ3XXXXXXXXXXXX", f"BoxUsage:{itype}"))
                n += 1
                if h % 24 == 0:  # the node's root volume, billed daily: read and dropped
                    w.writerow(("0.0800", "111122223333", "USD", "Usage", "", "EBS gp3", e, s, "24", "GB-Mo",
                                "0.0800", "0.0800", "Standard", region, f"vol-{iid[2:]}", "Storage",
                                "Amazon Elastic Compute Cloud", "VOLXXXXXXXXXXXX", "EBS:VolumeUsage.gp3"))
                    n += 1
    os.utime(path, (DELIVERED.timestamp(), DELIVERED.timestamp()))
    return n


class _Wide:
    """A csv writer that writes each row of COLUMNS in every column of WIDE_COLUMNS, the others
    filled in AWS's formats for an On-Demand instance hour or an EBS volume's day (billing
    account and period, descriptions, names, the SKU's price id with the On-Demand term and rate
    codes, tags); the header is WIDE_COLUMNS. The values are this benchmark's own."""

    #: Columns the same on every row.
    FIXED = {
        "BillingAccountName": "example-payer", "ChargeFrequency": "Usage-Based",
        "InvoiceIssuerName": "Amazon Web Services, Inc.", "ProviderName": "AWS",
        "PublisherName": "Amazon Web Services, Inc.", "SubAccountId": "444455556666",
        "SubAccountName": "ml-production", "Tags": TAGS, "x_CostCategories": "{}", "x_Discounts": "{}",
        "x_ServiceCode": "AmazonEC2",
    }
    REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "us-west-2": "US West (Oregon)",
                    "eu-west-1": "Europe (Ireland)"}

    def __init__(self, w: Any, end: datetime) -> None:
        self.w = w
        self.header = True
        month = end - timedelta(days=1)
        start = month.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        self.period = (start.strftime("%Y-%m-%dT%H:%M:%S.000Z"), following.strftime("%Y-%m-%dT%H:%M:%S.000Z"))

    def writerow(self, row: tuple[str, ...]) -> None:
        if self.header:
            self.w.writerow(WIDE_COLUMNS)
            self.header = False
            return
        r = dict(zip(COLUMNS, row, strict=True))
        r.update(self.FIXED)
        volume = r["ServiceCategory"] == "Storage"
        region = r["RegionId"]
        r.update({
            "AvailabilityZone": f"{region}a", "BillingPeriodStart": self.period[0], "BillingPeriodEnd": self.period[1],
            "ContractedCost": r["BilledCost"], "ContractedUnitPrice": r["BilledCost"] if not volume else "0.08",
            "ListUnitPrice": r["BilledCost"] if not volume else "0.08",
            "PricingQuantity": r["ConsumedQuantity"], "PricingUnit": r["ConsumedUnit"],
            "RegionName": self.REGION_NAMES.get(region, region), "ResourceName": "",
            "ResourceType": "Volume" if volume else "Instance",
            "SkuPriceId": f"{r['SkuId']}.JRTCKXETXF.6YS6EN2CT7",
            "x_Operation": "CreateVolume-Gp3" if volume else "RunInstances",
        })
        if not volume:
            itype = r["x_UsageType"].split(":", 1)[1]
            r["ChargeDescription"] = f"${r['BilledCost']} per On Demand Linux {itype} Instance Hour"
        self.w.writerow([r.get(c, "") for c in WIDE_COLUMNS])


class _Tagged:
    """A csv writer that adds the Tags column: its name to the header, TAGS to every row."""

    def __init__(self, w: Any) -> None:
        self.w = w
        self.header = True

    def writerow(self, row: tuple[str, ...]) -> None:
        self.w.writerow((*row, "Tags" if self.header else TAGS))
        self.header = False


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


def write_parquet(csv_gz: Path, out: Path) -> None:
    """The gzip'd CSV export as Parquet, typed as AWS types its FOCUS columns, in row groups of
    pyarrow's default size (1 Mi rows: about 8.7 days of 5,000 nodes), converted a row group at
    a time."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types = {c: pa.string() for c in COLUMNS}
    types.update({c: pa.float64() for c in ("BilledCost", "EffectiveCost", "ListCost", "ConsumedQuantity")})
    types.update({c: pa.timestamp("ms", tz="UTC") for c in ("ChargePeriodStart", "ChargePeriodEnd")})
    reader = pacsv.open_csv(csv_gz, convert_options=pacsv.ConvertOptions(column_types=types))
    group = 1 << 20
    with pq.ParquetWriter(out, reader.schema) as writer:
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= group:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=group)
                pending, rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=group)


def memory_child(export: Path) -> None:
    """In this fresh process: import the column reader (numpy; the exporter imports it with the
    first export it reads; for a Parquet export pyarrow too, warmed by loading its first 100
    rows), then load the export; print the RSS the libraries took, the RSS the prices keep and
    the peak growth while loading (bytes)."""
    gc.collect()
    start = rss()
    billing_chunks.columnar()
    if export.suffix == ".parquet":  # pyarrow's import and first use: a small file's load
        import pyarrow as pa
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory() as tmp:
            first = next(pq.ParquetFile(export).iter_batches(batch_size=100))
            pq.write_table(pa.Table.from_batches([first]), f"{tmp}/warm.parquet")
            load_billing(Path(tmp) / "warm.parquet", "USD")
    gc.collect()
    before = rss()
    prices = load_billing(export, "USD")
    gc.collect()
    print(before - start, rss() - before, peak_rss() - before, len(prices.resources))


def memory(export: Path) -> tuple[int, int, int]:
    library, kept, peak, _ = _child("--memory-child", str(export)).split()
    return int(library), int(kept), int(peak)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--passes", type=int, default=3, help="best of this many loads and cold syncs")
    p.add_argument("--parquet", action="store_true", help="also the same export as Parquet (needs pyarrow)")
    p.add_argument("--wide", action="store_true",
                   help="also the same charges in every column of AWS's FOCUS 1.0 table (about 2.6 GB of CSV)")
    p.add_argument("--memory-child", metavar="EXPORT", help=argparse.SUPPRESS)
    p.add_argument("--generate-child", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--load-child", metavar="EXPORT", help=argparse.SUPPRESS)
    p.add_argument("--expect", help=argparse.SUPPRESS)  # load_billing's guess of the window ("": none)
    p.add_argument("--sync-child", metavar="PAGES", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        memory_child(Path(args.memory_child))
        return
    if args.generate_child:
        generate_child(Path(args.generate_child), args.nodes, args.pods_per_node, args.days, args.parquet, args.wide)
        return
    if args.load_child:
        load_child(Path(args.load_child), args.passes, args.expect)
        return
    if args.sync_child:
        sync_child(Path(args.sync_child), args.passes)
        return

    # Each figure in a fresh process, none beside the generator's heap (as bench.run; see
    # docs/performance.md, "Measured in fresh processes"): the generator writes the export and
    # the cluster's list pages and exits.
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        facts = json.loads(_child("--generate-child", str(work), "--nodes", str(args.nodes),
                                  "--pods-per-node", str(args.pods_per_node), "--days", str(args.days),
                                  *(["--parquet"] if args.parquet else []), *(["--wide"] if args.wide else [])))
        exports = [("gzip'd CSV", work / "focus-30d.csv.gz"),
                   ("gzip'd CSV with a Tags column", work / "focus-30d-tagged.csv.gz"),
                   (f"gzip'd CSV, each node's instance replaced every {CHURN_HOURS} hours",
                    work / "focus-30d-churn.csv.gz")]
        if args.wide:
            exports.append(("gzip'd CSV, every AWS FOCUS 1.0 column", work / "focus-30d-wide.csv.gz"))
        if args.parquet:
            exports.append(("Parquet", work / "focus-30d.parquet"))
        results = [(label, path.stat().st_size, *measure(path, args.passes)) for label, path in exports]
        # The CSV exports without a guess of the window (two reads), and the plain one with a
        # guess a day late (one read, then the second).
        guesses = [(label, how, run.Timing(*json.loads(_child(
            "--load-child", str(path), "--passes", str(args.passes), f"--expect={expect}"))[:2]))
            for label, path in exports if path.suffix == ".gz"
            for how, expect in (("without a guess of the window (two reads)", ""),
                                (f"with a guess of the window a day late ({LATE_GUESS})", LATE_GUESS))
            if expect == "" or path.name == "focus-30d.csv.gz"]
        sync = run.Timing(*json.loads(_child("--sync-child", str(work / "pages.pickle"),
                                             "--passes", str(args.passes))))
    rows = facts["rows"]
    pods = args.nodes * args.pods_per_node
    print(f"billing export: {args.nodes:,} nodes x {args.days} days hourly = {rows:,} rows")
    print("| measure | result | goal |")
    print("|---|---|---|")
    print(f"| cold sync ({args.nodes:,} nodes, {pods:,} pods) | {sync.wall * 1000:,.0f} ms "
          f"(CPU {sync.cpu * 1000:,.0f} ms) | reference |")
    for label, size, load, (library, kept, peak), matched in results:
        priced = "instances" if "replaced" in label else "nodes"
        print(f"| load the export, {label} ({size / 2**20:.1f} MiB; {matched:,} {priced} priced from it, each exactly) | "
              f"{load.wall * 1000:,.0f} ms = {load.wall / sync.wall:.2f} x cold sync "
              f"(CPU {load.cpu * 1000:,.0f} ms = {load.cpu / sync.cpu:.2f} x; {rows / load.wall:,.0f} rows/s) "
              "| well under 1 x |")
        print(f"| memory kept by the loaded prices, {label} | {kept / 2**20:.1f} MiB (and {library / 2**20:.1f} MiB "
              "for the libraries, imported with the first export) | little |")
        print(f"| peak RSS growth while loading, {label} | {max(peak, 0) / 2**20:.1f} MiB | little |")
    for label, how, load in guesses:
        print(f"| load the export, {label}, {how} | {load.wall * 1000:,.0f} ms = {load.wall / sync.wall:.2f} x "
              f"cold sync (CPU {load.cpu / sync.cpu:.2f} x) | |")


def _child(*args: str) -> str:
    """`python -m bench.billing ARGS` in a fresh interpreter: the last line it printed."""
    return run.child("bench.billing", *args)


def generate_child(work: Path, nodes: int, pods_per_node: int, days: int, parquet: bool, wide: bool) -> None:
    """Generate the cluster; write its list pages, its nodes' instances and the export."""
    cluster = synth.generate(nodes * pods_per_node, nodes=nodes)
    with (work / "pages.pickle").open("wb") as f:
        pickle.dump(run.list_pages(cluster), f, protocol=pickle.HIGHEST_PROTOCOL)
    instances = node_instances(cluster)
    del cluster
    (work / "instances.json").write_text(json.dumps(instances))
    rows = write_export(work / "focus-30d.csv.gz", instances, days)
    write_export(work / "focus-30d-tagged.csv.gz", instances, days, "tagged")
    write_export(work / "focus-30d-churn.csv.gz", instances, days, churn_hours=CHURN_HOURS)
    if wide:
        write_export(work / "focus-30d-wide.csv.gz", instances, days, "wide")
    if parquet:
        write_parquet(work / "focus-30d.csv.gz", work / "focus-30d.parquet")
    print(json.dumps({"rows": rows}))


def load_child(export: Path, passes: int, expect: str | None = None) -> None:
    """The best of `passes` loads of the export (wall, CPU), and how many of the cluster's nodes
    it prices at exactly the hourly cost their rows bill (hourly_cost). `expect`: the loader's
    guess of where the window starts (None: its own, from the files' modification time)."""
    instances = json.loads((export.parent / "instances.json").read_text())
    loader = partial(load_billing, expect=expect)
    load, prices = run.Timing.of(loader, export, "USD")
    assert prices.window_start == WINDOW_START, prices.window_start
    if passes > 1:
        rest = run.best_of(passes - 1, loader, export, "USD")
        load = run.Timing(min(load.wall, rest.wall), min(load.cpu, rest.cpu))
    matched = 0
    if "churn" in export.name:  # every instance of the window, its node's index in its id
        for key, p in prices.resources.items():
            matched += abs(p.hourly - float(hourly_cost(int(key[-12:], 16)))) <= 1e-9 * p.hourly
    else:
        for i, (iid, _, _) in enumerate(instances):
            price = prices.node_price(f"aws:///us-east-1a/{iid}")
            matched += price is not None and abs(price - float(hourly_cost(i))) <= 1e-9 * price
    print(json.dumps([load.wall, load.cpu, matched]))


def sync_child(pages: Path, passes: int) -> None:
    """The best of `passes` cold syncs of the cluster (wall, CPU)."""
    with pages.open("rb") as f:
        listed = pickle.load(f)
    sync = run.best_of(passes, run.cold_sync, listed, PricingConfig())
    print(json.dumps([sync.wall, sync.cpu]))


def measure(export: Path, passes: int) -> tuple[run.Timing, tuple[int, int, int], int]:
    """(the best load of `passes`, the memory child's figures, the nodes the export prices)."""
    figures = memory(export)
    wall, cpu, matched = json.loads(_child("--load-child", str(export), "--passes", str(passes)))
    return run.Timing(wall, cpu), figures, matched


if __name__ == "__main__":
    main()

"""FOCUS billing exports: nodes priced from their own rows, from their SKU's rows, or falling
back to the catalog; currency mismatches refused; malformed rows skipped and counted.
Fixtures and where their shapes come from: tests/fixtures/focus/README.md."""

from __future__ import annotations

import dataclasses
import gc
import gzip
import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gpucost import billing, billing_chunks, billing_rows
from gpucost.billing import BillingError, BillingPrices, load_billing, resource_key
from gpucost.pricing import NodeFacts, PricingConfig, resolve_node_price
from gpucost.reload import PricingSource

#: Every test with each kind of guess of where the window starts (conftest.window_guess).
pytestmark = pytest.mark.usefixtures("window_guess")
EXPECTED_START = billing._expected_start  # the loader's own guess, from when the export was delivered
FOCUS = Path(__file__).parent / "fixtures" / "focus"


def approx(x: object) -> object:
    return pytest.approx(x, rel=1e-9)


@pytest.fixture(autouse=True, params=["columns", "rows"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here with pieces read column by column (numpy, where they are plain enough)
    and with every piece read row by row: the hand-worked figures hold for both."""
    if request.param == "rows":
        monkeypatch.setattr(billing_rows, "columnar", lambda: None)
        monkeypatch.setattr(billing, "columnar", lambda: None)
    return str(request.param)


@pytest.mark.parametrize(
    ("provider_id", "key"),
    [
        ("aws:///us-east-1a/i-0aaa1111aaaa1111a", "i-0aaa1111aaaa1111a"),
        ("gce://ml-prod/us-central1-a/gke-ml-a2-pool-1", "gke-ml-a2-pool-1"),
        ("azure:///subscriptions/s/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachines/aks-vm-1", "aks-vm-1"),
        ("azure:///subscriptions/s/resourceGroups/MC_rg/providers/Microsoft.Compute/"
         "virtualMachineScaleSets/aks-gpu-12345678-vmss/virtualMachines/0", "aks-gpu-12345678-vmss_0"),
        # OKE node pools: the bare instance OCID (kubernetes-sigs/kueue#5039); self-managed: oci://
        ("ocid1.instance.oc1.iad.anuwcljtpwneysacfkeyronlgetsvqc346gwp2lkznbvxhhguz2n2zkdm3ha",
         "ocid1.instance.oc1.iad.anuwcljtpwneysacfkeyronlgetsvqc346gwp2lkznbvxhhguz2n2zkdm3ha"),
        ("oci://ocid1.instance.oc1.phx.anyhqljt", "ocid1.instance.oc1.phx.anyhqljt"),
        ("", ""),
    ],
)
def test_resource_key_from_provider_id(provider_id: str, key: str) -> None:
    assert resource_key(provider_id) == key


def test_aws_export_effective_hourly_prices() -> None:
    b = load_billing(FOCUS / "aws-focus-1.0.csv", "USD")
    assert (b.window_start, b.window_end) == ("2026-11-14", "2026-11-20")  # 7 UTC days ending on the last
    # i-0aaa: 4 covered hours at 38.528 + 0.6 h covered (23.1168) + 0.4 h on demand (22.016) =
    # 199.2448 over 5 hours (span 00:00-05:00; 4 + 0.6 + 0.4 Hrs) = 39.84896 $/h. The 999 row
    # of 2026-11-10 is outside the window; EBS, data transfer, purchase and tax rows don't count.
    a = b.resources["i-0aaa1111aaaa1111a"]
    assert (a.hourly, a.hours) == (approx(39.84896), approx(5.0))
    assert (a.instance_type, a.region, a.capacity_type) == ("p5.48xlarge", "us-east-1", "on-demand")
    assert b.resources["i-0bbb2222bbbb2222b"].hourly == approx(55.04)  # 2 x 55.04 over 2 h
    spot = b.resources["i-0ddd4444dddd4444d"]
    assert (spot.hourly, spot.capacity_type, spot.instance_type) == (approx(0.3018), "spot", "g5.xlarge")
    assert "vol-0aaa1111aaaa1111a" not in b.resources
    # The SKU: (199.2448 + 110.08) / (5 + 2) h = 44.18925714... $/h
    assert b.sku_price("p5.48xlarge", "us-east-1", "on-demand") == approx(309.3248 / 7)
    assert b.sku_price("p5.48xlarge", "us-east-1", "") == approx(309.3248 / 7)  # unknown = on demand
    assert b.sku_price("p5.48xlarge", "eu-west-1", "on-demand") is None
    assert b.sku_price("g5.xlarge", "us-east-1", "spot") == approx(0.3018)
    # Malformed: 'n/a' cost and a period ending before it starts; one row a column short.
    assert b.skipped == {"malformed_value": 2, "wrong_column_count": 1}
    assert b.rows == 19


def test_the_load_is_reported_on_metrics() -> None:
    """What the last load read and how long it took: the fixture's 19 data rows (every charge
    and day: the rows before the window and the storage rows are counted too), timed by the
    source's timer (here one that reads 100.0 and then 103.25)."""
    source = PricingSource(None, str(FOCUS / "aws-focus-1.0.csv"), timer=iter([100.0, 103.25]).__next__)
    source.load()
    families = {f.name: f.samples for f in source.metric_families()}
    assert families["gpucost_billing_export_rows"] == [((), 19)]
    assert families["gpucost_billing_export_load_duration_seconds"] == [((), 3.25)]
    assert source.billing is not None and families["gpucost_billing_export_reads"] == [((), source.billing.reads)]
    # The latest compute charge of the window ends 2026-11-20T05:00:00Z (i-0aaa's fifth hour;
    # the savings plan's purchase row, ending 12-01, is no compute usage).
    assert families["gpucost_billing_export_last_charge_timestamp_seconds"] == [((), 1795150800.0)]
    assert "gpucost_billing_export_rows" not in {f.name for f in PricingSource(None).metric_families()}


def test_the_garbage_collector_is_paused_only_while_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cyclic collector waits while the export loads, and is as it was after: enabled again
    after a load, and after one that fails; left disabled where something else disabled it."""
    seen: list[bool] = []
    price = billing._price

    def spy(*args: Any) -> BillingPrices:
        seen.append(gc.isenabled())
        return price(*args)

    monkeypatch.setattr(billing, "_price", spy)
    assert gc.isenabled()
    load_billing(FOCUS / "aws-focus-1.0.csv", "USD")
    assert seen == [False] and gc.isenabled()
    with pytest.raises(BillingError):
        load_billing(FOCUS / "aws-focus-1.0.csv", "EUR")
    assert gc.isenabled()
    gc.disable()
    try:
        load_billing(FOCUS / "aws-focus-1.0.csv", "USD")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_other_cost_columns() -> None:
    billed = load_billing(FOCUS / "aws-focus-1.0.csv", "USD", cost_column="BilledCost")
    # Billed: the covered hours cost 0, the 0.4 h on demand 22.016 -> 22.016 / 5 h
    assert billed.resources["i-0aaa1111aaaa1111a"].hourly == approx(4.4032)
    listed = load_billing(FOCUS / "aws-focus-1.0.csv", "USD", cost_column="ListCost")
    # List: 4 x 55.04 + 33.024 + 22.016 = 275.2 over 5 h = 55.04
    assert listed.resources["i-0aaa1111aaaa1111a"].hourly == approx(55.04)


def test_window_days() -> None:
    b = load_billing(FOCUS / "aws-focus-1.0.csv", "USD", window_days=11)
    assert b.window_start == "2026-11-10"
    # The 999 $ hour counts now; span 2026-11-10T00:00 .. 11-20T05:00 is 245 h, but the rows
    # are metered: 1 + 5 = 6 Hrs. (199.2448 + 999) / 6
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(1198.2448 / 6)


def test_gcp_vm_billed_by_component_skus() -> None:
    b = load_billing(FOCUS / "gcp-focus.csv", "USD")
    # Per hour: cores 0.4 + RAM 0.33948 + A100 2.93391 = 3.67339; quantities are core-,
    # GiB- and GPU-hours (98 per hour), so the 2 h span counts: 7.34678 / 2.
    price = b.resources["gke-ml-a2-pool-1"]
    assert (price.hourly, price.hours) == (approx(3.67339), approx(2.0))
    assert b.node_price("gce://ml-prod/us-central1-a/gke-ml-a2-pool-1") == approx(3.67339)


def test_azure_scale_set_instance_by_vm_name() -> None:
    b = load_billing(FOCUS / "azure-focus-1.0.csv", "USD")
    pid = ("azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_ml_aks_eastus/providers/"
           "Microsoft.Compute/virtualMachineScaleSets/aks-gpu-12345678-vmss/virtualMachines/0")
    assert b.node_price(pid) == approx(2.2038)  # 3 x 2.2038 over 3 h
    assert b.sku_price("Standard_NC24ads_A100_v4", "eastus", "on-demand") == approx(2.2038)


def test_oci_focus_report() -> None:
    # OCI's FOCUS reports (tests/fixtures/focus/README.md): FOCUS 1.0-preview names (Region, no
    # RegionId; UsageQuantity, no ConsumedQuantity), minutes without seconds, a flexible VM billed
    # as OCPU and memory rows, several an hour; OKE nodes' providerID the bare instance OCID.
    b = load_billing(FOCUS / "oci-focus-1.0-preview.csv", "USD")
    assert (b.window_start, b.window_end) == ("2024-08-10", "2024-08-16")
    # E4.Flex: per hour 2 x 2 OCPU x 0.025 + 64 GB x 0.0015 = 0.196 $; 2 hours of rows over the
    # span 00:00-02:00 (no quantity in hours to count instead): 0.392 / 2 = 0.196 $/h.
    vm = "ocid1.instance.oc1.iad.anuwcljtexampleflexvm0000000000000000000000000000000000aaaa"
    assert b.node_price(vm) == approx(0.196)
    assert (b.resources[vm].hours, b.resources[vm].region) == (approx(2.0), "us-ashburn-1")
    # VM.GPU.A10.1: 3 hours of one GPU at 2.0 over 00:00-03:00; the same with the oci:// scheme
    # that self-managed clusters' nodes carry.
    assert b.node_price("oci://ocid1.instance.oc1.iad.anuwcljtexamplegpua100000000000000000000000000000000000bbbb") \
        == approx(2.0)
    assert not any(k.startswith("ocid1.bootvolume") for k in b.resources)  # storage, not compute
    assert (b.rows, b.skipped) == (11, {})  # 2 hours x (3 VM rows + 1 boot volume row) + 3 GPU rows


def test_currency_mismatch_is_refused() -> None:
    with pytest.raises(BillingError) as err:
        load_billing(FOCUS / "aws-focus-1.0.csv", "EUR")
    assert str(err.value).startswith(
        f"{FOCUS / 'aws-focus-1.0.csv'}:2: BillingCurrency: the export is billed in USD but the pricing "
        "file's currency is EUR"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ResourceId,ChargeCategory\n", ":1: missing column 'ChargePeriodStart' (is this a FOCUS export?)"),
        ("ResourceId,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,BillingCurrency,BilledCost\n",
         ":1: missing column 'EffectiveCost'"),
    ],
)
def test_not_a_focus_export(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bill.csv"
    path.write_text(text)
    with pytest.raises(BillingError, match="^" + re.escape(f"{path}{message}")):
        load_billing(path, "USD")


def test_directory_of_gzip_files(tmp_path: Path) -> None:
    d = tmp_path / "export" / "billing_period=2026-11"
    d.mkdir(parents=True)
    (d / "part-0.csv.gz").write_bytes(gzip.compress((FOCUS / "aws-focus-1.0.csv").read_bytes()))
    shutil.copy(FOCUS / "gcp-focus.csv", d / "part-1.csv")
    (d / "manifest.json").write_text("{}")  # not an export file: ignored
    b = load_billing(tmp_path / "export", "USD")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(39.84896)
    assert b.resources["gke-ml-a2-pool-1"].hourly == approx(3.67339)


@pytest.mark.parametrize(
    ("path", "message"),
    [("missing.csv", "cannot read billing export: no such file"), ("empty-dir", "no .csv, .csv.gz or .parquet files")],
)
def test_unusable_paths(tmp_path: Path, path: str, message: str) -> None:
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(BillingError, match=message):
        load_billing(tmp_path / path, "USD")


# --- the resolver: billing > billing_sku > ... > catalog --------------------------------------


def p5(name: str, provider_id: str, region: str = "us-east-1", **kw: object) -> NodeFacts:
    base: dict = {"name": name, "labels": {}, "cpu_cores": 192.0, "memory_gib": 2048.0, "gpus": 8,
                  "gpu_model": "NVIDIA-H100-80GB-HBM3", "instance_type": "p5.48xlarge", "region": region,
                  "provider_id": provider_id}
    base.update(kw)
    return NodeFacts(**base)


@pytest.fixture(scope="module")
def with_billing() -> PricingConfig:
    return dataclasses.replace(PricingConfig(), billing=load_billing(FOCUS / "aws-focus-1.0.csv", "USD"))


@pytest.mark.parametrize(
    ("node", "source", "total"),
    [
        # its own rows
        (p5("a", "aws:///us-east-1a/i-0aaa1111aaaa1111a"), "billing", 39.84896),
        # new since the export: the export's p5.48xlarge rows in us-east-1
        (p5("c", "aws:///us-east-1a/i-0ccc3333cccc3333c"), "billing_sku", 309.3248 / 7),
        # a region the export has no p5 rows for: the catalog (us-east-1 list price, flagged)
        (p5("d", "aws:///eu-west-1a/i-0fff6666ffff6666f", region="eu-west-1"), "catalog", 55.04),
        # no providerID (a file snapshot without spec): the SKU rows still price it
        (p5("e", ""), "billing_sku", 309.3248 / 7),
    ],
)
def test_precedence_with_a_billing_export(with_billing: PricingConfig, node: NodeFacts, source: str, total: float) -> None:
    price = resolve_node_price(with_billing, node)
    assert (price.source, price.total) == (source, approx(total))
    assert price.region_fallback == (source == "catalog")


def test_billing_price_is_split_like_an_instance_price(with_billing: PricingConfig) -> None:
    # 39.84896 $/h split by the default weights: cpu 192 x 0.031611 = 6.069312,
    # memory 2048 x 0.004237 = 8.677376, gpu 8 x 5.036664 (the H100 list-derived price) =
    # 40.293312; sum 55.04 (the list price the GPU price was derived from).
    price = resolve_node_price(with_billing, p5("a", "aws:///us-east-1a/i-0aaa1111aaaa1111a"))
    assert price.cpu == approx(39.84896 * 6.069312 / 55.04)
    assert price.gpu == approx(39.84896 * 40.293312 / 55.04)
    assert price.gpu_unit == approx(39.84896 * 40.293312 / 55.04 / 8)


# --- only the window is read: order, boundaries, several files, pieces ------------------------
# One p5 node billed 1 Hrs a day, 00:00-01:00 UTC, 2026-11-01 .. 11-10, costing the day's
# number in dollars. The 7-day window is 11-04 .. 11-10: 4 + 5 + ... + 10 = 49 $ over 7 metered
# hours = 7.0 $/h (the span, 11-04T00 .. 11-10T01, is 145 h; the metered hours are fewer).

HEADER = ("BilledCost,BillingCurrency,ChargeCategory,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,"
          "ConsumedQuantity,ConsumedUnit,EffectiveCost,ResourceId,ServiceCategory,x_UsageType\n")


def day_row(day: int, cost: str | None = None, start: str = "00:00:00", end: str = "01:00:00",
            resource: str = "i-0aaa1111aaaa1111a", service: str = "Compute", desc: str = "p5 hour") -> str:
    c = cost if cost is not None else f"{day}.0"
    d0 = f"2026-11-{day:02d}"
    d1 = d0 if end != "24:00:00" else f"2026-11-{day + 1:02d}"
    e = "00:00:00" if end == "24:00:00" else end
    return (f"{c},USD,Usage,{desc},{d1}T{e}Z,{d0}T{start}Z,1,Hrs,{c},{resource},{service},"
            "BoxUsage:p5.48xlarge\n")


@pytest.fixture(params=[1 << 21, 97], ids=["one-piece", "97-byte-pieces"])
def piece_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run each test with the export in one piece and cut into many (most passed over unread)."""
    monkeypatch.setattr(billing_chunks, "PIECE_BYTES", request.param)
    return int(request.param)


@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled"])
def test_rows_in_any_order(tmp_path: Path, piece_bytes: int, order: str) -> None:
    days = {"in order": list(range(1, 11)), "reversed": list(range(10, 0, -1)),
            "shuffled": [7, 2, 10, 1, 4, 9, 3, 6, 8, 5]}[order]
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in days))
    b = load_billing(path, "USD")
    assert (b.window_start, b.window_end) == ("2026-11-04", "2026-11-10")
    a = b.resources["i-0aaa1111aaaa1111a"]
    assert (a.hourly, a.hours) == (approx(7.0), approx(7.0))
    assert b.rows == 10


def test_no_final_newline(tmp_path: Path, piece_bytes: int) -> None:
    # The last row ends the file without a newline: read all the same, in one piece or many
    # (the second read cuts the pieces at the first read's lengths, the last one short of its
    # added newline).
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11)).rstrip("\n"))
    a = load_billing(path, "USD").resources["i-0aaa1111aaaa1111a"]
    assert (a.hourly, a.hours) == (approx(7.0), approx(7.0))


@pytest.mark.parametrize("change", ["grown", "a row shorter", "a row longer"])
def test_a_file_changed_between_the_reads_is_refused(tmp_path: Path, piece_bytes: int, change: str) -> None:
    # The survey (first read) cut the file into pieces at record ends; the second read cuts it
    # at the same lengths. A file rewritten in between no longer fits them: refused (the old
    # prices stay), not read from pieces that start or end inside a record.
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11)))
    survey = billing._survey(path, "EffectiveCost")
    assert survey is not None and sum(n for n, _, _ in survey) == path.stat().st_size - len(HEADER)
    rows = {"grown": [day_row(d) for d in range(1, 12)],
            "a row shorter": [day_row(d) for d in range(1, 10)] + [day_row(10, cost="9")],
            # The same size: day 1's row 2 bytes longer ("10.0" twice), day 10's 2 shorter ("100").
            "a row longer": [day_row(1, cost="10.0")] + [day_row(d) for d in range(2, 10)] + [day_row(10, cost="100")]}
    path.write_text(HEADER + "".join(rows[change]))
    read = lambda: billing._read([path], {path: survey}, billing_rows.Rows("USD", "EffectiveCost", "2026-11-04"))
    if change == "a row longer" and piece_bytes > path.stat().st_size:
        # One piece of the same length that still ends a record: the new rows are read as they
        # are (day 10 now 100 $); the reload the file's new modification time brings reads the
        # file again, survey and all.
        assert path.stat().st_size - len(HEADER) == sum(n for n, _, _ in survey)
        assert read().resources["i-0aaa1111aaaa1111a"].days["2026-11-10"].cost == 100.0
        return
    with pytest.raises(BillingError, match="changed while it was read"):
        read()


def test_window_boundary_at_midnight(tmp_path: Path, piece_bytes: int) -> None:
    # Two more hours of 100 $: one starting 11-03T23:00 and ending at midnight (dated 11-03,
    # before the window: left out), one starting at 11-04T00:00 exactly (in). 49 + 100 = 149 $
    # over 8 Hrs = 18.625 $/h.
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11))
                    + day_row(3, cost="100.0", start="23:00:00", end="24:00:00")
                    + day_row(4, cost="100.0", start="00:00:00", end="01:00:00"))
    b = load_billing(path, "USD")
    assert b.window_start == "2026-11-04"
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(149 / 8)


def test_several_files_in_any_order(tmp_path: Path, piece_bytes: int) -> None:
    # Days 6..10 in a file sorted first, 1..5 in one sorted second: the window is still
    # 11-04 .. 11-10 across both.
    (tmp_path / "a-late.csv").write_text(HEADER + "".join(day_row(d) for d in range(6, 11)))
    with gzip.open(tmp_path / "b-early.csv.gz", "wt") as f:
        f.write(HEADER + "".join(day_row(d) for d in range(1, 6)))
    b = load_billing(tmp_path, "USD")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(7.0)
    assert b.rows == 10


def test_latest_day_without_compute_rows(tmp_path: Path, piece_bytes: int) -> None:
    # A storage row on 11-12, two days after the last compute row: the window ends with the
    # last compute row's day (11-10), not with the export's latest date.
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11))
                    + day_row(12, resource="vol-0aaa1111aaaa1111a", service="Storage"))
    b = load_billing(path, "USD")
    assert (b.window_start, b.window_end) == ("2026-11-04", "2026-11-10")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(7.0)
    assert b.rows == 11


def test_malformed_rows_are_counted_in_the_window_only(tmp_path: Path, piece_bytes: int) -> None:
    # 'n/a' costs on 11-02 (before the window: passed over unread) and on 11-05 (counted).
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11))
                    + day_row(2, cost="n/a") + day_row(5, cost="n/a"))
    b = load_billing(path, "USD")
    assert b.skipped == {"malformed_value": 1}
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(7.0)
    assert b.rows == 12


def test_quoted_fields_spanning_lines(tmp_path: Path, piece_bytes: int) -> None:
    # ChargeDescription quoted, with a comma, a doubled quote and a newline in it (RFC 4180):
    # the record still counts as one row and the prices are unchanged.
    desc = '"p5, the ""big"" one\nsecond line"'
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d, desc=desc) for d in range(1, 11)))
    b = load_billing(path, "USD")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(7.0)
    assert b.rows == 10


def test_utf16_export_is_read_as_one_stream(tmp_path: Path) -> None:
    path = tmp_path / "bill.csv"
    path.write_bytes((HEADER + "".join(day_row(d) for d in range(10, 0, -1))).encode("utf-16"))
    b = load_billing(path, "USD")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(7.0)
    assert (b.window_start, b.rows) == ("2026-11-04", 10)


def test_a_resized_instance_is_what_its_latest_day_says(tmp_path: Path, piece_bytes: int) -> None:
    # i-0aaa ran as g5.xlarge on 11-01..11-05 and as g5.2xlarge from 11-06 (stopped, resized,
    # started: the same instance id). The window 11-04..11-10 holds both types; the latest
    # day names g5.2xlarge, so that is the type the SKU price is kept under.
    rows = [day_row(d).replace("BoxUsage:p5.48xlarge", "BoxUsage:g5.xlarge" if d <= 5 else "BoxUsage:g5.2xlarge")
            for d in range(1, 11)]
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(rows))
    b = load_billing(path, "USD")
    assert b.resources["i-0aaa1111aaaa1111a"].instance_type == "g5.2xlarge"
    assert b.skus == {("g5.2xlarge", "", "on-demand"): approx(7.0)}


def test_a_node_renamed_before_the_window_is_known_by_its_name_in_the_window(tmp_path: Path, piece_bytes: int) -> None:
    # A ResourceName column: i-0aaa is "old-name" on 11-02 (the export's first row) and
    # "node-a" on every other day. A resource is known by the names its first row in the window
    # gives it (11-04: node-a), whether the read began at the window or earlier (a guess of the
    # window that came early, when the row of 11-02 is read first).
    header = HEADER.replace("ResourceId,", "ResourceId,ResourceName,")
    rows = [day_row(d).replace("i-0aaa1111aaaa1111a,", "i-0aaa1111aaaa1111a,old-name," if d == 2
                               else "i-0aaa1111aaaa1111a,node-a,") for d in [2, 1, *range(3, 11)]]
    path = tmp_path / "bill.csv"
    path.write_text(header + "".join(rows))
    b = load_billing(path, "USD")
    assert sorted(b.resources) == ["i-0aaa1111aaaa1111a", "node-a"]
    assert b.resources["node-a"].hourly == approx(7.0)


@pytest.fixture
def second_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files read a second time (after the survey, or after a read whose guess proved late)."""
    read: list[Path] = []
    add_pieces = billing_rows.Rows.add_pieces

    def spy(self: billing_rows.Rows, f: Path, *args: Any) -> None:
        read.append(f)
        add_pieces(self, f, *args)

    monkeypatch.setattr(billing_rows.Rows, "add_pieces", spy)
    return read


def test_one_read_when_the_export_was_delivered_on_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         piece_bytes: int, second_reads: list[Path]) -> None:
    # The export's latest charges start 11-10T00:00. Delivered (modified) 11-11T05:00 UTC, the
    # loader allows two days for delivery: the window is expected to end no earlier than 11-09
    # and so to start no earlier than 11-03 (a day early: 11-03 is parsed, then left out), and
    # is read in one pass. Delivered 11-13T05:00, the guess (11-05) is a day late: the window
    # is read again from its first day, and the prices are the same.
    monkeypatch.setattr(billing, "_expected_start", EXPECTED_START)  # the loader's own guess
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11)))
    for delivered, reads in (("2026-11-11T05:00:00+00:00", []), ("2026-11-13T05:00:00+00:00", [path])):
        t = datetime.fromisoformat(delivered).timestamp()
        os.utime(path, (t, t))
        second_reads.clear()
        b = load_billing(path, "USD")
        assert (b.window_start, b.resources["i-0aaa1111aaaa1111a"].hourly, b.rows) == ("2026-11-04", approx(7.0), 10)
        assert second_reads == reads
        assert b.reads == 1 + len(reads)  # gpucost_billing_export_reads


def test_a_reload_reads_once_from_where_the_last_window_began(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               piece_bytes: int, second_reads: list[Path]) -> None:
    # The export is copied in without its delivery time (modified "now", 2026-12-01 or later):
    # the guess from it is late, so the first load reads twice (window 11-04..11-10). The
    # export then grows by 11-11 (11 $): the reload expects the window to start no earlier
    # than 11-04, reads once, and finds 11-05..11-11: 5 + ... + 11 = 56 $ over 7 Hrs = 8.0 $/h.
    monkeypatch.setattr(billing, "_expected_start", EXPECTED_START)
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11)))
    source = PricingSource(None, str(path))
    b = source.load().billing
    assert b is not None and (b.window_start, b.resources["i-0aaa1111aaaa1111a"].hourly) == ("2026-11-04", approx(7.0))
    assert second_reads == [path]
    second_reads.clear()
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 12)))
    b = source.load().billing
    assert b is not None and (b.window_start, b.resources["i-0aaa1111aaaa1111a"].hourly) == ("2026-11-05", approx(8.0))
    assert second_reads == []


def test_another_currency_before_the_window_is_not_refused(tmp_path: Path, piece_bytes: int) -> None:
    # A EUR row on 11-02 is before the window (11-04..11-10): passed over like any other row
    # there. The same row on 11-06 refuses the export, naming its line: the 13th (the header,
    # 10 rows, the 11-02 row).
    eur = day_row(6).replace(",USD,", ",EUR,")
    path = tmp_path / "bill.csv"
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11)) + day_row(2).replace(",USD,", ",EUR,"))
    assert load_billing(path, "USD").resources["i-0aaa1111aaaa1111a"].hourly == approx(7.0)
    path.write_text(HEADER + "".join(day_row(d) for d in range(1, 11)) + day_row(2).replace(",USD,", ",EUR,") + eur)
    with pytest.raises(BillingError, match=r"bill\.csv:13: BillingCurrency: the export is billed in EUR"):
        load_billing(path, "USD")


# AWS Data Exports deliver each billing period into its own partition folder,
# `<export>/data/BILLING_PERIOD=YYYY-MM/` (docs.aws.amazon.com/cur/latest/userguide/
# dataexports-export-delivery.html), holding that period's charges only.
PERIOD_HEADER = ("BilledCost,BillingCurrency,ChargeCategory,ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,"
                 "ConsumedUnit,EffectiveCost,PricingCategory,RegionId,ResourceId,ServiceCategory,x_UsageType\n")


def period_row(cost: float, start: str, end: str, service: str = "Compute", resource: str = "i-0aaa") -> str:
    return f"{cost},USD,Usage,{end},{start},1,Hrs,{cost},Standard,us-east-1,{resource},{service},BoxUsage:p5.48xlarge\n"


def periods(tmp_path: Path, october: str | bytes, november: str) -> Path:
    data = tmp_path / "my-export" / "data"
    (data / "BILLING_PERIOD=2026-10").mkdir(parents=True)
    (data / "BILLING_PERIOD=2026-11").mkdir(parents=True)
    part = data / "BILLING_PERIOD=2026-10" / "my-export-00001.csv.gz"
    part.write_bytes(october if isinstance(october, bytes) else gzip.compress(october.encode()))
    (data / "BILLING_PERIOD=2026-11" / "my-export-00001.csv.gz").write_bytes(gzip.compress(november.encode()))
    return tmp_path / "my-export"


def test_a_billing_period_that_ends_before_the_window_is_not_read(tmp_path: Path) -> None:
    # October's file is not even gzip: read, it would refuse the export.
    export = periods(tmp_path, b"not a gzip file", (FOCUS / "aws-focus-1.0.csv").read_text())
    shutil.copy(FOCUS / "gcp-focus.csv", export / "outside-any-period.csv")  # always read
    b = load_billing(export, "USD")
    assert (b.window_start, b.window_end) == ("2026-11-14", "2026-11-20")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(39.84896)  # as from the file alone
    assert b.resources["gke-ml-a2-pool-1"].hourly == approx(3.67339)
    # A guess of the window far too early opens October, which cannot be read: the export is
    # then read as without a guess, and October's file is not opened again.
    early = load_billing(export, "USD", expect="2026-10-25")
    assert early.reads == 2 and dataclasses.replace(early, reads=b.reads) == b
    assert billing.period_end(export / "data" / "BILLING_PERIOD=2026-12" / "x.csv") == "2027-01-01"
    assert billing.period_end(export / "BILLING_PERIOD=2026-13" / "x.csv") is None
    assert billing.period_end(export / "outside-any-period.csv") is None


def test_old_modification_times_do_not_open_every_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A year of monthly partitions (2026-01 .. 2026-11), one 1 $ hour on each month's 10th,
    # extracted with modification times of 2025-01-01: the delivery guess (2024-12-24) would
    # open every period. The newest period (November, ending 12-01) holds a compute row, so the
    # window starts no earlier than 32 days before 12-01 less 6 days (10-24): only October and
    # November are opened, in one read. The window 11-04 .. 11-10 holds November's hour: 1 $/h.
    monkeypatch.setattr(billing, "_expected_start", EXPECTED_START)
    data = tmp_path / "export" / "data"
    old = datetime.fromisoformat("2025-01-01T00:00:00+00:00").timestamp()
    for month in range(1, 12):
        part = data / f"BILLING_PERIOD=2026-{month:02d}" / "part-00001.csv"
        part.parent.mkdir(parents=True)
        part.write_text(PERIOD_HEADER + period_row(1.0, f"2026-{month:02d}-10T00:00:00Z", f"2026-{month:02d}-10T01:00:00Z"))
        os.utime(part, (old, old))
    opened: list[str] = []
    open_binary = billing.open_binary

    def spy(f: Path) -> Any:
        opened.append(f.parent.name)
        return open_binary(f)

    monkeypatch.setattr(billing, "open_binary", spy)
    b = load_billing(tmp_path / "export", "USD")
    assert (b.window_start, b.window_end, b.resources["i-0aaa"].hourly) == ("2026-11-04", "2026-11-10", approx(1.0))
    assert opened == ["BILLING_PERIOD=2026-10", "BILLING_PERIOD=2026-11"]


def test_a_window_reaching_into_the_previous_billing_period(tmp_path: Path) -> None:
    october = PERIOD_HEADER + period_row(10.0, "2026-10-30T00:00:00Z", "2026-10-30T01:00:00Z")
    november = PERIOD_HEADER + period_row(20.0, "2026-11-02T00:00:00Z", "2026-11-02T01:00:00Z")
    export = periods(tmp_path, october, november)
    # 7 days ending 11-02 start on 10-27: both hours, (10 + 20) $ over 2 metered Hrs.
    b = load_billing(export, "USD")
    assert (b.window_start, b.resources["i-0aaa"].hourly) == ("2026-10-27", approx(15.0))
    # 2 days start on 11-01, when October's period has ended: November's hour alone.
    b = load_billing(export, "USD", window_days=2)
    assert (b.window_start, b.resources["i-0aaa"].hourly, b.rows) == ("2026-11-01", approx(20.0), 1)


def test_the_window_moves_into_an_older_period_when_the_latest_day_has_no_compute_row(tmp_path: Path) -> None:
    # November's latest row is storage on 11-20, so the first read's window (11-14..11-20)
    # leaves October out; its latest compute row is of 11-02, so the window is 10-27..11-02
    # and October's hour counts after all.
    october = PERIOD_HEADER + period_row(10.0, "2026-10-30T00:00:00Z", "2026-10-30T01:00:00Z")
    november = PERIOD_HEADER + period_row(20.0, "2026-11-02T00:00:00Z", "2026-11-02T01:00:00Z") + period_row(
        0.5, "2026-11-20T00:00:00Z", "2026-11-20T01:00:00Z", service="Storage", resource="vol-0aaa")
    b = load_billing(periods(tmp_path, october, november), "USD")
    assert (b.window_start, b.window_end) == ("2026-10-27", "2026-11-02")
    assert b.resources["i-0aaa"].hourly == approx(15.0)
    assert "vol-0aaa" not in b.resources

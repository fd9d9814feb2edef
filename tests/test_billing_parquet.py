"""FOCUS billing exports as Parquet: the same nodes at the same hand-worked prices as the CSV
fixtures (tests/test_billing.py), row groups before the window passed over unread, and the
errors a Parquet file can have.

The Parquet files are the CSV fixtures of tests/fixtures/focus written the way AWS Data Exports
types "FOCUS 1.0 with AWS columns" (docs.aws.amazon.com/cur/latest/userguide/
table-dictionary-focus-1-0-aws-columns.html): BilledCost, EffectiveCost, ListCost and
ConsumedQuantity `double`, ChargePeriodStart/End `timestamp_milliseconds`, the rest `string`.
A value such a column cannot hold (the fixture's `n/a` cost) is null there; a row a column
short cannot exist in Parquet and is left out.
"""

from __future__ import annotations

import builtins
import csv
import dataclasses
import decimal
import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_billing_columns import export_text, load, row_strategy, same

from gpucost import billing_parquet
from gpucost.billing import BillingError, load_billing

FOCUS = Path(__file__).parent / "fixtures" / "focus"
NUMBERS = {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity"}
TIMES = {"ChargePeriodStart", "ChargePeriodEnd"}


def approx(x: object) -> object:
    return pytest.approx(x, rel=1e-9)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def to_parquet(src: Path, out: Path, *, typed: bool = True, tz: str | None = "UTC", rows_per_group: int = 1,
               statistics: bool = True, number_type: Any = None) -> Path:
    """The CSV fixture as a Parquet file: typed as AWS types it, or every column a string."""
    with src.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    rows = [r for r in rows if len(r) == len(header)]
    columns = {}
    for i, name in enumerate(header):
        values = [r[i] for r in rows]
        if typed and name in NUMBERS:
            numbers = [_number(v) for v in values]
            if number_type is not None:
                columns[name] = pa.array([None if n is None else decimal.Decimal(v) for n, v in zip(numbers, values, strict=True)],
                                         number_type)
            else:
                columns[name] = pa.array(numbers, pa.float64())
        elif typed and name in TIMES:
            times = [_time(v) for v in values]
            if tz is None:
                times = [t.replace(tzinfo=None) if t else None for t in times]
            columns[name] = pa.array(times, pa.timestamp("ms", tz=tz))
        else:
            columns[name] = pa.array([v if v else None for v in values], pa.string())
    pq.write_table(pa.table(columns), out, row_group_size=rows_per_group, write_statistics=statistics)
    return out


@pytest.fixture
def aws(tmp_path: Path) -> Path:
    return to_parquet(FOCUS / "aws-focus-1.0.csv", tmp_path / "aws.parquet")


def test_aws_export_as_parquet_prices_as_the_csv(aws: Path) -> None:
    b = load_billing(aws, "USD")
    assert (b.window_start, b.window_end, b.reads) == ("2026-11-14", "2026-11-20", 0)
    # As tests/test_billing.py works them: 199.2448 $ over 5 metered hours; 2 x 55.04 over 2 h;
    # the spot g5.xlarge at 0.3018.
    a = b.resources["i-0aaa1111aaaa1111a"]
    assert (a.hourly, a.hours) == (approx(39.84896), approx(5.0))
    assert (a.instance_type, a.region, a.capacity_type) == ("p5.48xlarge", "us-east-1", "on-demand")
    assert b.resources["i-0bbb2222bbbb2222b"].hourly == approx(55.04)
    spot = b.resources["i-0ddd4444dddd4444d"]
    assert (spot.hourly, spot.capacity_type, spot.instance_type) == (approx(0.3018), "spot", "g5.xlarge")
    assert b.sku_price("p5.48xlarge", "us-east-1", "on-demand") == approx(309.3248 / 7)
    # The null cost (n/a in the CSV) and the period ending before it starts; the CSV's row a
    # column short is not in the file: 18 rows, not 19.
    assert b.skipped == {"malformed_value": 2}
    assert b.rows == 18


def test_row_groups_before_the_window_are_not_read(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []
    original = pq.ParquetFile.iter_batches

    def spy(self: Any, *args: Any, row_groups: list[int], **kwargs: Any) -> Any:
        read.extend(row_groups)
        return original(self, *args, row_groups=row_groups, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    b = load_billing(aws, "USD")
    with (FOCUS / "aws-focus-1.0.csv").open(newline="") as f:
        starts = [r[7] for r in csv.reader(f) if len(r) > 7][1:]
    before = [i for i, s in enumerate(starts) if s < "2026-11-14"]
    # the 999 $ hour of 2026-11-10, the savings plan's purchase and the tax of 2026-11-01: a
    # row group each (one row a group here)
    assert before == [6, 9, 10]
    assert sorted(read) == [i for i in range(18) if i not in before]
    assert b.rows == 18  # counted all the same


def test_a_wider_window_reads_it(aws: Path) -> None:
    b = load_billing(aws, "USD", window_days=11)
    assert b.window_start == "2026-11-10"
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(1198.2448 / 6)  # as for the CSV


@pytest.mark.parametrize(
    "options",
    [
        {"statistics": False},  # no footer statistics: every row group is read
        {"tz": None},  # timestamps without a zone are UTC
        {"number_type": pa.decimal128(18, 6)},  # costs as decimals
        {"typed": False},  # every column text, as a CSV converted by a tool
        {"rows_per_group": 1000},  # one row group
        {"rows_per_group": 1000, "tz": "America/New_York"},  # another zone: the same instants
    ],
    ids=["no-statistics", "naive-timestamps", "decimal-costs", "all-strings", "one-row-group", "new-york"],
)
def test_the_same_prices_however_the_file_is_written(tmp_path: Path, options: dict[str, Any]) -> None:
    b = load_billing(to_parquet(FOCUS / "aws-focus-1.0.csv", tmp_path / "aws.parquet", **options), "USD")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(39.84896)
    assert b.resources["i-0ddd4444dddd4444d"].hourly == approx(0.3018)
    assert b.skipped == {"malformed_value": 2}


def test_batches_of_a_row_group_before_the_window_are_passed_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One row group read a row at a time: rows 6, 9 and 10 (before the window) are passed over
    without being written out as CSV; the same figures."""
    aws = to_parquet(FOCUS / "aws-focus-1.0.csv", tmp_path / "aws.parquet", rows_per_group=1000)
    written: list[int] = []
    original = billing_parquet._csv

    def spy(pa_module: Any, batch: Any) -> bytes:
        written.append(batch.num_rows)
        return original(pa_module, batch)

    monkeypatch.setattr(billing_parquet, "_csv", spy)
    monkeypatch.setattr(billing_parquet, "BATCH_ROWS", 1)
    b = load_billing(aws, "USD")
    assert len(written) == 18 - 3
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(39.84896)
    assert b.skipped == {"malformed_value": 2}
    assert b.rows == 18


@pytest.mark.parametrize("name", ["gcp-focus.csv", "azure-focus-1.0.csv", "oci-focus-1.0-preview.csv"])
def test_gcp_azure_and_oci_exports_as_parquet(tmp_path: Path, name: str) -> None:
    b = load_billing(to_parquet(FOCUS / name, tmp_path / "export.parquet"), "USD")
    if name.startswith("oci"):
        # the E4.Flex VM: (2 x 2 x 0.025 + 64 x 0.0015) $ a hour, 2 hours over a 2 h span
        assert b.node_price("ocid1.instance.oc1.iad.anuwcljtexampleflexvm0000000000000000000000000000000000aaaa") \
            == approx(0.196)
    elif name.startswith("gcp"):
        # cores 0.4 + RAM 0.33948 + A100 2.93391 a hour over a 2 h span
        assert b.node_price("gce://ml-prod/us-central1-a/gke-ml-a2-pool-1") == approx(3.67339)
    else:
        pid = ("azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_ml_aks_eastus/"
               "providers/Microsoft.Compute/virtualMachineScaleSets/aks-gpu-12345678-vmss/virtualMachines/0")
        assert b.node_price(pid) == approx(2.2038)  # 3 x 2.2038 over 3 h
        assert b.sku_price("Standard_NC24ads_A100_v4", "eastus", "on-demand") == approx(2.2038)
    # Everything else as the CSV export of the same rows gives it.
    # (Read once, by its statistics first: gpucost_billing_export_reads 0.)
    assert b == dataclasses.replace(load_billing(FOCUS / name, "USD"), source=str(tmp_path / "export.parquet"),
                                    reads=0)


def test_sku_details_as_a_map_column(tmp_path: Path) -> None:
    """x_SkuDetails written as a Parquet map instead of JSON text: read as the JSON it holds."""
    src = to_parquet(FOCUS / "azure-focus-1.0.csv", tmp_path / "text.parquet", rows_per_group=1000)
    table = pq.read_table(src)
    details = [json.loads(v) for v in table.column("x_SkuDetails").to_pylist()]
    as_map = pa.array([[(k, str(v)) for k, v in d.items()] for d in details], pa.map_(pa.string(), pa.string()))
    table = table.set_column(table.schema.get_field_index("x_SkuDetails"), "x_SkuDetails", as_map)
    pq.write_table(table, tmp_path / "map.parquet")
    b = load_billing(tmp_path / "map.parquet", "USD")
    assert b.resources["aks-gpu-12345678-vmss_0"].hourly == approx(2.2038)
    assert b.resources["aks-gpu-12345678-vmss_0"].instance_type == "Standard_NC24ads_A100_v4"


def test_a_time_past_9999_is_a_malformed_row_not_a_crash(tmp_path: Path) -> None:
    """Parquet can hold times Python's datetime cannot (year 10000; converting the footer's
    bound raised OverflowError out of the loader): the bound and the batch's latest start are
    left unknown, so the row group is read, and its rows are taken as the CSV export of the
    same rows has them: "10000-01-01 01:00:00.000" is a day text ("10000-01-0") that sorts
    before the window, so that row is passed over like any row before it."""
    far = 253402300800000 + 3_600_000  # ms: 10000-01-01T01:00Z
    hour = 1_763_596_800_000  # ms: 2025-11-20T00:00Z
    table = pa.table({
        "ResourceId": ["i-far", "i-0aaa"], "ChargeCategory": ["Usage", "Usage"],
        "ChargePeriodStart": pa.array([far, hour], pa.timestamp("ms", tz="UTC")),
        "ChargePeriodEnd": pa.array([far + 3_600_000, hour + 3_600_000], pa.timestamp("ms", tz="UTC")),
        "BillingCurrency": ["USD", "USD"], "EffectiveCost": [5.0, 2.5],
    })
    pq.write_table(table, tmp_path / "far.parquet")
    b = load_billing(tmp_path / "far.parquet", "USD")
    assert (b.window_start, b.window_end) == ("2025-11-14", "2025-11-20")
    assert b.resources["i-0aaa"].hourly == approx(2.5)  # 2.5 $ over its hour
    assert "i-far" not in b.resources
    assert (b.skipped, b.rows) == ({}, 2)


def test_currency_mismatch_names_the_row(aws: Path) -> None:
    with pytest.raises(BillingError) as err:
        load_billing(aws, "EUR")
    assert str(err.value).startswith(f"{aws}:2: BillingCurrency: the export is billed in USD")


def test_a_directory_of_csv_and_parquet(tmp_path: Path) -> None:
    d = tmp_path / "export"
    d.mkdir()
    to_parquet(FOCUS / "aws-focus-1.0.csv", d / "part-0.parquet")
    (d / "part-1.csv.gz").write_bytes(gzip.compress((FOCUS / "gcp-focus.csv").read_bytes()))
    b = load_billing(d, "USD")
    assert b.resources["i-0aaa1111aaaa1111a"].hourly == approx(39.84896)
    assert b.resources["gke-ml-a2-pool-1"].hourly == approx(3.67339)
    assert b.reads == 2  # the CSV file surveyed, then read


def test_a_parquet_file_without_a_focus_column(tmp_path: Path) -> None:
    pq.write_table(pa.table({"ChargeCategory": ["Usage"]}), tmp_path / "x.parquet")
    with pytest.raises(BillingError, match=r"x\.parquet:1: missing column 'ResourceId' \(is this a FOCUS export\?\)"):
        load_billing(tmp_path / "x.parquet", "USD")


def test_a_damaged_parquet_file(tmp_path: Path, aws: Path) -> None:
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(aws.read_bytes()[:200])
    with pytest.raises(BillingError, match=r"damaged\.parquet: cannot read billing export: "):
        load_billing(damaged, "USD")


def test_without_pyarrow_the_error_says_what_to_install(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(BillingError, match=r"needs pyarrow: pip install 'gpucost\[parquet\]'"):
        billing_parquet.survey(aws, "EffectiveCost")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, min_size=1, max_size=60), group=st.sampled_from([1, 7, 1000]),
       batch=st.sampled_from([1, 3, 10_000]), typed=st.booleans())
def test_parquet_and_csv_exports_of_the_same_rows_price_alike(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        rows: list[dict[str, object]], group: int, batch: int, typed: bool) -> None:
    """Random exports (tests/test_billing_columns.py's rows: malformed costs, periods and
    quantities, other currencies, corrections, quotes, commas and line breaks in fields) as CSV
    and as Parquet, in row groups and batches of several sizes, all-string or typed as AWS
    types them: the same prices, facts, skipped rows and errors."""
    d = tmp_path_factory.mktemp("export")
    csv_path = d / "bill.csv"
    csv_path.write_bytes(export_text(rows, crlf=False).encode())
    parquet_path = to_parquet(csv_path, d / "bill.parquet", typed=typed, rows_per_group=group)
    monkeypatch.setattr(billing_parquet, "BATCH_ROWS", batch)
    from_csv, from_parquet = load(csv_path, True, monkeypatch), load(parquet_path, True, monkeypatch)
    # Typed, a column holds no malformed number: what was one ("n/a", "x") is null there, and
    # a null cost is malformed too, so the counts agree.
    if isinstance(from_csv, str) and isinstance(from_parquet, str):
        assert from_parquet == from_csv.replace(str(csv_path), str(parquet_path))
        return
    same(from_parquet, from_csv)

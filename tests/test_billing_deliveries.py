"""A billing export directory that keeps every refresh: each period's current delivery is read
once, the others are passed over (billing_deliveries).

Layouts and manifests as the providers document them:
- AWS Data Exports, docs.aws.amazon.com/cur/latest/userguide/dataexports-export-delivery.html:
  data in `<export>/data/BILLING_PERIOD=YYYY-MM/` (overwrite) or in a `<timestamp>-<executionId>`
  folder below it (create new); `<export>-Manifest.json` in `<export>/metadata/<partition>/`
  (the latest refresh, overwritten) and, for create new, in `metadata/<partition>/<timestamp>-
  <executionId>/`; manifest fields `executionId`, `exportArn`, `columns`, `dataFiles` (full S3
  URIs), `additionalOutputFiles` (docs.aws.amazon.com/cur/latest/userguide/dataexports-
  manifest.html). The manifest is delivered only after all data files.
- Azure Cost Management, learn.microsoft.com/azure/cost-management-billing/costs/tutorial-
  export-acm-data: `StorageContainer/StorageDirectory/ExportName/[YYYYMMDD-YYYYMMDD]/[RunID]/`
  with the CSV parts and a manifest.json; "without file overwrite: multiple RunIDs within the
  month folder". The manifest below has the fields of that page's example (manifestVersion
  2024-04-01, exportConfig, deliveryConfig, runInfo.submittedTime with seven decimals,
  blobs[].blobName).

Figures by hand: an AWS refresh that applied a savings plan afterwards (EffectiveCost 38.528
instead of the on-demand 55.04 of p5.48xlarge) and an Azure run before and after a
reservation (ListCost 3.673 as EffectiveCost, then 2.2038, the fixture's figures).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucost import billing
from gpucost.billing import load_billing
from gpucost.reload import PricingSource

#: Every test with each kind of guess of where the window starts (conftest.window_guess).
pytestmark = pytest.mark.usefixtures("window_guess")
FOCUS = Path(__file__).parent / "fixtures" / "focus"
HEADER = ("BilledCost,BillingCurrency,ChargeCategory,ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,"
          "ConsumedUnit,EffectiveCost,PricingCategory,RegionId,ResourceId,ServiceCategory,x_UsageType\n")
OLDER = "2026-11-19T06:12:01.204Z-1b2c3d4e-0000-4000-8000-000000000001"
NEWER = "2026-11-20T06:10:44.812Z-7f3e9a10-0000-4000-8000-000000000002"
ARN = "arn:aws:bcm-data-exports:us-east-1:111122223333:export/my-export-0a1b2c3d"


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-9)


def hour(start: str, cost: float) -> str:
    """One metered hour of i-0aaa (p5.48xlarge) starting at `start` (YYYY-MM-DDTHH)."""
    end = f"{start[:11]}{int(start[11:13]) + 1:02d}"
    return (f"{cost},USD,Usage,{end}:00:00Z,{start}:00:00Z,1,Hrs,{cost},Standard,us-east-1,i-0aaa,Compute,"
            "BoxUsage:p5.48xlarge\n")


# The refresh of 11-19 has two on-demand hours of 11-18; the refresh of 11-20 has the same hours
# and one of 11-19 at the savings plan's rate: 3 x 38.528 over 3 metered Hrs = 38.528 $/h. Read
# both and the hours of 11-18 count twice: (2 x 55.04 + 3 x 38.528) / 5 Hrs = 45.1328 $/h.
ON_DEMAND = HEADER + hour("2026-11-18T00", 55.04) + hour("2026-11-18T01", 55.04)
PLAN = HEADER + hour("2026-11-18T00", 38.528) + hour("2026-11-18T01", 38.528) + hour("2026-11-19T00", 38.528)


def aws_manifest(execution: str, files: list[str]) -> str:
    return json.dumps({
        "executionId": execution.split("Z-", 1)[1],
        "exportArn": ARN,
        "columns": [{"name": "BilledCost", "type": "double"}, {"name": "ResourceId", "type": "string"}],
        "dataFiles": [f"s3://my-bucket/cur/my-export/data/BILLING_PERIOD=2026-11/{execution}/{f}" for f in files],
        "additionalOutputFiles": [],
    })


def aws_refresh(export: Path, execution: str, text: str, *, manifest: bool = True,
                listed: tuple[str, ...] = ("my-export-00001.csv.gz",)) -> None:
    """One "create new" refresh: its data folder and, once delivered, its manifest."""
    data = export / "data" / "BILLING_PERIOD=2026-11" / execution
    data.mkdir(parents=True)
    (data / "my-export-00001.csv.gz").write_bytes(gzip.compress(text.encode()))
    if manifest:
        meta = export / "metadata" / "BILLING_PERIOD=2026-11" / execution
        meta.mkdir(parents=True)
        (meta / "my-export-Manifest.json").write_text(aws_manifest(execution, list(listed)))


def partition_manifest(export: Path, execution: str) -> None:
    """The partition's own manifest, overwritten with each refresh: the latest one."""
    meta = export / "metadata" / "BILLING_PERIOD=2026-11"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "my-export-Manifest.json").write_text(aws_manifest(execution, ["my-export-00001.csv.gz"]))


def price(export: Path) -> float:
    return load_billing(export, "USD").resources["i-0aaa"].hourly


def test_create_new_refreshes_the_latest_is_read_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    export = tmp_path / "my-export"
    aws_refresh(export, OLDER, ON_DEMAND)
    aws_refresh(export, NEWER, PLAN)
    partition_manifest(export, NEWER)
    with caplog.at_level(logging.INFO, logger="gpucost.billing"):
        b = load_billing(export, "USD")
    assert b.resources["i-0aaa"].hourly == approx(38.528)
    assert (b.files, b.files_passed_over, b.manifests_unreadable) == (1, 1, 0)
    assert f"BILLING_PERIOD=2026-11: billing export delivery {NEWER} read; passed over 1 superseded\n" in caplog.text


def test_a_refresh_still_arriving_is_passed_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The data of 11-20 is here, its manifest not yet; the partition's manifest still describes
    # the refresh of 11-19: two on-demand hours, 55.04 $/h.
    export = tmp_path / "my-export"
    aws_refresh(export, OLDER, ON_DEMAND)
    aws_refresh(export, NEWER, PLAN, manifest=False)
    partition_manifest(export, OLDER)
    with caplog.at_level(logging.INFO, logger="gpucost.billing"):
        assert price(export) == approx(55.04)
    assert (f"{OLDER} read; passed over 0 superseded and 1 newer without a manifest yet (under way?)"
            in caplog.text)


def test_a_refresh_whose_files_are_not_all_copied_yet_is_passed_over(tmp_path: Path) -> None:
    # The manifest of 11-20 lists two chunks and only the first is here (a sync under way):
    # the complete refresh of 11-19 is read.
    export = tmp_path / "my-export"
    aws_refresh(export, OLDER, ON_DEMAND)
    aws_refresh(export, NEWER, PLAN, listed=("my-export-00001.csv.gz", "my-export-00002.csv.gz"))
    partition_manifest(export, NEWER)
    assert price(export) == approx(55.04)


def test_the_partition_manifest_vouches_for_the_refresh_it_describes(tmp_path: Path) -> None:
    # Only the partition's manifest was synced, not the per-refresh ones.
    export = tmp_path / "my-export"
    aws_refresh(export, OLDER, ON_DEMAND, manifest=False)
    aws_refresh(export, NEWER, PLAN, manifest=False)
    partition_manifest(export, NEWER)
    assert price(export) == approx(38.528)
    partition_manifest(export, OLDER)  # an older partition manifest names the older refresh
    assert price(export) == approx(55.04)


def test_without_metadata_the_newest_refresh_by_its_timestamp(tmp_path: Path) -> None:
    export = tmp_path / "my-export"
    aws_refresh(export, NEWER, PLAN, manifest=False)
    aws_refresh(export, OLDER, ON_DEMAND, manifest=False)  # written last: the folder name decides
    b = load_billing(export / "data", "USD")  # the data folder alone, as some users sync it
    assert (b.resources["i-0aaa"].hourly, b.files, b.files_passed_over) == (approx(38.528), 1, 1)


def test_overwrite_mode_reads_the_chunks_the_manifest_lists(tmp_path: Path) -> None:
    # An overwrite refresh needing one chunk where the last needed two leaves the second
    # behind (AWS fills it with empty data; here it still holds the older rows).
    export = tmp_path / "my-export"
    part = export / "data" / "billing_period=2026-11"  # the lower-case spelling some exports use
    part.mkdir(parents=True)
    (part / "my-export-00001.csv.gz").write_bytes(gzip.compress(PLAN.encode()))
    (part / "my-export-00002.csv.gz").write_bytes(gzip.compress(ON_DEMAND.encode()))
    meta = export / "metadata" / "billing_period=2026-11"
    meta.mkdir(parents=True)
    (meta / "my-export-Manifest.json").write_text(json.dumps({
        "executionId": "7f3e9a10", "exportArn": ARN, "columns": [],
        "dataFiles": ["s3://my-bucket/cur/my-export/data/billing_period=2026-11/my-export-00001.csv.gz"]}))
    b = load_billing(export, "USD")
    assert (b.resources["i-0aaa"].hourly, b.files, b.files_passed_over) == (approx(38.528), 1, 1)
    assert billing.period_end(part / "my-export-00001.csv.gz") == "2026-12-01"


@pytest.mark.parametrize("text", ['{"executionId": ', "[" * 100_000, '["my-export-00001.csv.gz"]', "\xff\xfe",
                                  '{"executionId": "7f3e", "x": [' + "{}," * 1_500_000 + "{}]}"])
def test_an_unreadable_manifest_is_counted_and_taken_as_absent(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                              text: str) -> None:
    # Cut short, nested deeper than the parser goes, not an object, not UTF-8, over 4 MiB (4.3
    # MiB of empty objects would take some 100 MiB decoded).
    export = tmp_path / "my-export"
    aws_refresh(export, OLDER, ON_DEMAND)
    aws_refresh(export, NEWER, PLAN)
    broken = export / "metadata" / "BILLING_PERIOD=2026-11" / NEWER / "my-export-Manifest.json"
    broken.write_bytes(text.encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="gpucost.billing"):
        b = load_billing(export, "USD")
    # The refresh of 11-20 has no readable manifest now, and 11-19's is complete.
    assert (b.resources["i-0aaa"].hourly, b.manifests_unreadable) == (approx(55.04), 1)
    assert f"{broken}: billing export manifest ignored" in caplog.text


AZURE_RUNS = "focus-costs/20261101-20261130"


def azure_run(root: Path, run_id: str, submitted: str | None, text: str) -> Path:
    """One Cost Management run: its part and, unless `submitted` is None, its manifest.json."""
    run = root / AZURE_RUNS / run_id
    run.mkdir(parents=True)
    (run / "part_0_0001.csv.gz").write_bytes(gzip.compress(text.encode()))
    if submitted is not None:
        (run / "manifest.json").write_text(json.dumps({
            "manifestVersion": "2024-04-01", "byteCount": 1024, "blobCount": 1, "dataRowCount": 3,
            "exportConfig": {"exportName": "focus-costs", "resourceId": "/subscriptions/00000000-0000-0000-0000-"
                             "000000000000/providers/Microsoft.CostManagement/exports/focus-costs",
                             "dataVersion": "1.0r2", "apiVersion": "2023-07-01-preview", "type": "FocusCost",
                             "timeFrame": "MonthToDate", "granularity": "Daily"},
            "deliveryConfig": {"partitionData": True, "dataOverwriteBehavior": "CreateNewReport",
                               "fileFormat": "Csv", "compressionMode": "gzip",
                               "containerUri": "/subscriptions/00000000-0000-0000-0000-000000000000/"
                               "resourceGroups/finops/providers/Microsoft.Storage/storageAccounts/costexports",
                               "rootFolderPath": "exports"},
            "runInfo": {"executionType": "Scheduled", "submittedTime": submitted, "runId": run_id,
                        "startDate": "2026-11-01T00:00:00", "endDate": "2026-11-20T00:00:00Z"},
            "blobs": [{"blobName": f"exports/{AZURE_RUNS}/{run_id}/part_0_0001.csv.gz", "byteCount": 1024,
                       "dataRowCount": 3}]}))
    return run


AKS_VM = ("azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_ml_aks_eastus/providers/"
          "Microsoft.Compute/virtualMachineScaleSets/aks-gpu-12345678-vmss/virtualMachines/0")
# Before the reservation was applied to these hours (EffectiveCost the ListCost 3.673) and
# after (2.2038, 40% off). Read both: hours min(3 h span, 6 Hour) = 3, (3 x 3.673 + 3 x 2.2038)
# / 3 = 5.8768 $/h.
RESERVED = (FOCUS / "azure-focus-1.0.csv").read_text()
UNRESERVED = RESERVED.replace(",2.2038,3.673,", ",3.673,3.673,")


def test_azure_runs_without_overwrite_the_latest_submitted_is_read(tmp_path: Path) -> None:
    azure_run(tmp_path, "0b8e4c1d-6f62-4c55-9a3e-4d2f0c1b7a01", "2026-11-20T06:02:13.4478921Z", RESERVED)
    azure_run(tmp_path, "f1a2b3c4-1111-4c55-9a3e-4d2f0c1b7a02", "2026-11-19T06:01:57.1203376Z", UNRESERVED)
    b = load_billing(tmp_path, "USD")
    assert (b.node_price(AKS_VM), b.files, b.files_passed_over) == (approx(2.2038), 1, 1)


def test_azure_run_without_a_manifest_yet_is_passed_over(tmp_path: Path) -> None:
    azure_run(tmp_path, "f1a2b3c4-1111-4c55-9a3e-4d2f0c1b7a02", "2026-11-19T06:01:57.1203376Z", UNRESERVED)
    azure_run(tmp_path, "0b8e4c1d-6f62-4c55-9a3e-4d2f0c1b7a01", None, RESERVED)  # being written
    assert load_billing(tmp_path, "USD").node_price(AKS_VM) == approx(3.673)


def test_azure_runs_without_manifests_the_newest_files(tmp_path: Path) -> None:
    old = azure_run(tmp_path, "202611190601/f1a2b3c4", None, UNRESERVED)  # {export time}/{guid}
    new = azure_run(tmp_path, "202611200602/0b8e4c1d", None, RESERVED)
    os.utime(old / "part_0_0001.csv.gz", (1_763_532_000, 1_763_532_000))
    os.utime(new / "part_0_0001.csv.gz", (1_763_618_400, 1_763_618_400))
    assert load_billing(tmp_path, "USD").node_price(AKS_VM) == approx(2.2038)


def test_every_file_outside_the_layouts_is_read(tmp_path: Path) -> None:
    # Two plain folders are two exports (or a user's own split), not two deliveries.
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "x.csv").write_text(HEADER + hour("2026-11-18T00", 10.0))
    (tmp_path / "b" / "x.csv").write_text(HEADER + hour("2026-11-18T01", 20.0))
    b = load_billing(tmp_path, "USD")
    assert (b.resources["i-0aaa"].hourly, b.files, b.files_passed_over) == (approx(15.0), 2, 0)


def test_reload_watches_manifests_and_reports_the_files(tmp_path: Path) -> None:
    export = tmp_path / "my-export"
    aws_refresh(export, OLDER, ON_DEMAND)
    aws_refresh(export, NEWER, PLAN, manifest=False)
    partition_manifest(export, OLDER)
    source = PricingSource(None, str(export))
    assert source.load().billing is not None and price(export) == approx(55.04)
    assert not source.changed()
    shutil.rmtree(export / "metadata" / "BILLING_PERIOD=2026-11")
    aws_refresh_manifest = export / "metadata" / "BILLING_PERIOD=2026-11" / NEWER
    aws_refresh_manifest.mkdir(parents=True)
    (aws_refresh_manifest / "my-export-Manifest.json").write_text(aws_manifest(NEWER, ["my-export-00001.csv.gz"]))
    assert source.changed()  # the manifest alone makes the new refresh the one read
    source.load()
    families = {f.name: f.samples for f in source.metric_families()}
    assert families["gpucost_billing_export_files"] == [
        ((("state", "read"),), 1), ((("state", "passed_over"),), 1), ((("state", "missing"),), 0)]
    assert families["gpucost_billing_export_manifests_unreadable"] == [((), 0)]
    assert source.billing is not None and source.billing.resources["i-0aaa"].hourly == approx(38.528)


# A model of the rule, for any partition: refreshes with distinct times, each with its manifest
# delivered or not and its files all copied or not, the partition's manifest naming one of them
# or absent. The model (written from the documented rule, not from the code): the named refresh
# if it is complete, else the newest complete one, else the newest with a manifest, else the
# newest; its listed files are read and nothing else of the partition.
REFRESH = st.tuples(st.booleans(), st.booleans())  # (manifest delivered, all its files here)


@given(refreshes=st.lists(REFRESH, min_size=1, max_size=5), named=st.integers(-1, 4), stray=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_one_refresh_of_a_partition_is_read(tmp_path_factory: pytest.TempPathFactory,
                                           refreshes: list[tuple[bool, bool]], named: int, stray: bool) -> None:
    export = tmp_path_factory.mktemp("x") / "my-export"
    folders = [f"2026-11-{10 + i:02d}T06:00:00.000Z-exec{i}" for i in range(len(refreshes))]
    for folder, (manifest, complete) in zip(folders, refreshes, strict=True):
        listed = ("my-export-00001.csv.gz",) if complete else ("my-export-00001.csv.gz", "my-export-00002.csv.gz")
        aws_refresh(export, folder, PLAN, manifest=manifest, listed=listed)
        if stray:  # a file no manifest lists
            (export / "data" / "BILLING_PERIOD=2026-11" / folder / "my-export-00009.csv.gz").write_bytes(b"")
    if 0 <= named < len(folders):
        partition_manifest(export, folders[named])
    (export / "outside.csv").write_text(HEADER)
    selection = billing.current_files(export)

    has_manifest = [m or (i == named) for i, (m, _) in enumerate(refreshes)]
    complete = [has_manifest[i] and (c or (i == named and not m)) for i, (m, c) in enumerate(refreshes)]
    newest_first = list(range(len(folders)))[::-1]
    if 0 <= named < len(folders) and complete[named]:
        chosen = named
    else:
        chosen = next((i for i in newest_first if complete[i]), None)
        if chosen is None:
            chosen = next((i for i in newest_first if has_manifest[i]), newest_first[0])
    expect = {export / "data" / "BILLING_PERIOD=2026-11" / folders[chosen] / "my-export-00001.csv.gz",
              export / "outside.csv"}
    if stray and not has_manifest[chosen]:  # without a manifest every file of the folder is read
        expect.add(export / "data" / "BILLING_PERIOD=2026-11" / folders[chosen] / "my-export-00009.csv.gz")
    assert set(selection.files) == expect
    everything = set(billing.export_files(export))
    assert set(selection.passed_over) == everything - expect
    assert len(selection.files) == len(set(selection.files))


def test_an_azure_month_that_ends_before_the_window_is_not_opened(tmp_path: Path) -> None:
    # October's run holds bytes that are not gzip: opened, it would refuse the export. Its month
    # folder ends on 10-31, before the window of 11-14..11-20 that November's run gives.
    october = tmp_path / "focus-costs" / "20261001-20261031" / "3c9d5e2f"
    october.mkdir(parents=True)
    (october / "part_0_0001.csv.gz").write_bytes(b"not a gzip file")
    azure_run(tmp_path, "0b8e4c1d-6f62-4c55-9a3e-4d2f0c1b7a01", "2026-11-20T06:02:13.4478921Z", RESERVED)
    b = load_billing(tmp_path, "USD")
    assert (b.window_start, b.window_end, b.node_price(AKS_VM)) == ("2026-11-14", "2026-11-20", approx(2.2038))
    assert billing.period_end(october / "part_0_0001.csv.gz") == "2026-11-01"
    assert billing.period_end(tmp_path / "20261201-20261231" / "r" / "x.csv") == "2027-01-01"
    assert billing.period_end(tmp_path / "20261301-20261331" / "r" / "x.csv") is None  # no such dates
    assert billing.period_end(tmp_path / "20261101-20261130.csv") is None  # a file's name, not a folder


def test_the_only_refresh_with_files_missing_is_read_with_a_warning(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    export = tmp_path / "my-export"
    aws_refresh(export, NEWER, PLAN, listed=("my-export-00001.csv.gz", "my-export-00002.csv.gz"))
    with caplog.at_level(logging.WARNING, logger="gpucost.billing"):
        b = load_billing(export, "USD")
    assert (b.resources["i-0aaa"].hourly, b.files, b.files_passed_over, b.files_missing) == (approx(38.528), 1, 0, 1)
    assert "1 of the files" in caplog.text and "lists are not here (my-export-00002.csv.gz)" in caplog.text


def test_a_refresh_folder_named_otherwise_is_still_a_refresh(tmp_path: Path) -> None:
    # Should AWS write the timestamp another way, the folders are still refreshes of the
    # partition (never read side by side); the partition's manifest names one by its id, and
    # without it the files' modification times order them.
    export = tmp_path / "my-export"
    older, newer = "20261119T061201Z-1b2c3d4e", "20261120T061044Z-7f3e9a10"
    aws_refresh(export, older, ON_DEMAND, manifest=False)
    aws_refresh(export, newer, PLAN, manifest=False)
    data = export / "data" / "BILLING_PERIOD=2026-11"
    os.utime(data / older / "my-export-00001.csv.gz", (1_763_532_000, 1_763_532_000))
    os.utime(data / newer / "my-export-00001.csv.gz", (1_763_618_400, 1_763_618_400))
    b = load_billing(export, "USD")
    assert (b.resources["i-0aaa"].hourly, b.files, b.files_passed_over) == (approx(38.528), 1, 1)
    meta = export / "metadata" / "BILLING_PERIOD=2026-11"
    meta.mkdir(parents=True)
    (meta / "my-export-Manifest.json").write_text(json.dumps(
        {"executionId": "1b2c3d4e", "dataFiles": [f"s3://b/my-export/data/BILLING_PERIOD=2026-11/{older}/"
                                                  "my-export-00001.csv.gz"]}))
    assert price(export) == approx(55.04)  # the partition's manifest names the older one


def test_a_download_in_progress_is_not_an_export_file(tmp_path: Path) -> None:
    # Copy tools write a file under a temporary name and rename it when complete (aws s3 sync:
    # `<name>.<random suffix>`; rclone `<name>.<hash>.partial`): never read half a file.
    (tmp_path / "my-export-00001.csv.gz").write_bytes(gzip.compress(PLAN.encode()))
    (tmp_path / "my-export-00002.csv.gz.a1B2c3D4").write_bytes(b"half a gzip")
    (tmp_path / "my-export-00003.csv.gz.4f2a.partial").write_bytes(b"half a gzip")
    assert billing.export_files(tmp_path) == [tmp_path / "my-export-00001.csv.gz"]
    assert price(tmp_path) == approx(38.528)

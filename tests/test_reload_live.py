"""Reload without a restart, against the real command line in live mode (fake API server):
a valid change of the pricing file re-prices every node, an invalid one keeps the old prices
and says so on /metrics, SIGHUP reloads, a billing export (CSV, or a directory of Parquet) is
picked up (and a new refresh of it once its manifest arrives), and no watch restarts.

Base cluster and prices: tests/test_live.py (cpu 0.04 $/core-h, memory 0.005 $/GiB-h, GPU 2.00).
"""

from __future__ import annotations

import io
import os
import signal
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from test_live import PRICING, Live, Scrape, api, approx, base_cluster, cli_exporter, kubeconfig

from kubeapi_fake import FakeKubeAPI

__all__ = ["api", "kubeconfig"]  # the fake API server and its kubeconfig, as fixtures here too

CHEAPER = PRICING.replace("cpu_core_hour: 0.04, memory_gib_hour: 0.005, gpu_hour: 2.0",
                          "cpu_core_hour: 0.05, memory_gib_hour: 0.01, gpu_hour: 3.0")


def exporter(kubeconfig: Path, pricing: Path, log_path: Path, *flags: str) -> AbstractAsyncContextManager[tuple[Live, int]]:
    """The exporter as a child process, checking its files for changes every 0.1 s."""
    return cli_exporter(kubeconfig, pricing, log_path, "--pricing.reload-interval", "0.1", *flags)


def reloaded(s: Scrape) -> float | None:
    return s.value("gpucost_config_last_reload_successful")


async def test_reload_on_change_invalid_file_and_sighup(api: FakeKubeAPI, kubeconfig: Path, tmp_path: Path) -> None:
    base_cluster(api)
    pricing = tmp_path / "pricing.yaml"
    pricing.write_text(PRICING)
    log_path = tmp_path / "exporter.log"
    async with exporter(kubeconfig, pricing, log_path) as (live, pid):
        s = await live.until(lambda s: s.nodes() == {"cpu-1", "gpu-1"} and bool(s.pods()))
        assert s.node_costs("gpu-1") == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})
        assert reloaded(s) == 1
        first_success = s.value("gpucost_config_last_reload_success_timestamp_seconds")
        assert first_success is not None and first_success > 0
        lists = len(api.lists())

        # 1. a valid new version: every node re-priced, pods with it
        pricing.write_text(CHEAPER)
        s = await live.until(lambda s: s.node_costs("gpu-1").get("gpu") == approx(12.0))
        # gpu-1: 32 x 0.05, 256 x 0.01, 4 x 3.0; cpu-1: 16 x 0.05, 64 x 0.01
        assert s.node_costs("gpu-1") == approx({"cpu": 1.6, "memory": 2.56, "gpu": 12.0})
        assert s.node_costs("cpu-1") == approx({"cpu": 0.8, "memory": 0.64})
        # train-0: 8/32 x 1.6, 64/256 x 2.56, 2 GPUs x 3.0
        assert s.pod_costs("ml", "train-0") == approx({"cpu": 0.4, "memory": 0.64, "gpu": 6.0})
        assert reloaded(s) == 1
        second_success = s.value("gpucost_config_last_reload_success_timestamp_seconds")
        assert second_success is not None and second_success >= first_success

        # 2. an invalid version: old prices kept, the failure on /metrics and in the log
        pricing.write_text(CHEAPER + "default: {gpu_hour: -1}\n")
        s = await live.until(lambda s: reloaded(s) == 0)
        assert s.node_costs("gpu-1") == approx({"cpu": 1.6, "memory": 2.56, "gpu": 12.0})
        assert s.value("gpucost_config_last_reload_success_timestamp_seconds") == second_success
        assert f"{pricing}:" in log_path.read_text() and "invalid YAML: duplicate key 'default'" in log_path.read_text()

        # 3. fixed in place, then SIGHUP with no change on disk: both reload
        pricing.write_text(PRICING)
        s = await live.until(lambda s: reloaded(s) == 1 and s.node_costs("gpu-1").get("gpu") == approx(8.0))
        before = s.value("gpucost_config_last_reload_success_timestamp_seconds")
        assert before is not None
        os.kill(pid, signal.SIGHUP)
        s = await live.until(
            lambda s: (s.value("gpucost_config_last_reload_success_timestamp_seconds") or 0) > before)
        assert_base = s.node_costs("gpu-1")
        assert assert_base == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})

        # no watch restarted: nothing listed again (watches are renewed on their own timer)
        assert len(api.lists()) == lists
        assert all(s.watch("relists_total", r) == 0 for r in ("nodes", "pods", "namespaces"))


FOCUS_HEADER = ("BilledCost,BillingCurrency,ChargeCategory,ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,"
                "ConsumedUnit,EffectiveCost,PricingCategory,RegionId,ResourceId,ServiceCategory,x_UsageType\n")


def focus_rows(hourly: float) -> str:
    """Two hours of gpu-1 (instance i-0gpu1) at `hourly`."""
    return "".join(
        f"{hourly},USD,Usage,2026-11-20T0{h + 1}:00:00Z,2026-11-20T0{h}:00:00Z,1,Hrs,{hourly},Standard,"
        f"us-east-1,i-0gpu1,Compute,BoxUsage:p4d.24xlarge\n" for h in range(2)
    )


def billed_cluster(api: FakeKubeAPI, tmp_path: Path) -> Path:
    """The base cluster with gpu-1 as the EC2 instance i-0gpu1 of the billing rows; the
    pricing file's path."""
    base_cluster(api)
    node = api.objects("nodes")["", "gpu-1"]
    node["spec"] = {"providerID": "aws:///us-east-1a/i-0gpu1"}
    api.update(node)
    pricing = tmp_path / "pricing.yaml"
    pricing.write_text(PRICING)
    return pricing


async def test_billing_export_prices_and_reloads(api: FakeKubeAPI, kubeconfig: Path, tmp_path: Path) -> None:
    pricing = billed_cluster(api, tmp_path)
    export = tmp_path / "focus.csv"
    export.write_text(FOCUS_HEADER + focus_rows(20.0))
    log_path = tmp_path / "exporter.log"
    async with exporter(kubeconfig, pricing, log_path, "--billing-export", str(export)) as (live, _):
        s = await live.until(lambda s: s.value("gpucost_node_info", node="gpu-1", price_source="billing") == 1)
        assert f"billing export {export} (1 resource; 2 rows read in " in log_path.read_text()  # the first load
        # 20 $/h split by the weights 32 x 0.04 = 1.28, 256 x 0.005 = 1.28, 4 x 2.0 = 8 (sum 10.56)
        assert s.node_costs("gpu-1") == approx({"cpu": 20 * 1.28 / 10.56, "memory": 20 * 1.28 / 10.56,
                                                "gpu": 20 * 8 / 10.56})
        assert s.value("gpucost_node_info", node="cpu-1", price_source="default") == 1
        assert s.value("gpucost_pricing_info", billing_window_start="2026-11-14", billing_window_end="2026-11-20",
                       billing_cost_column="EffectiveCost", currency="USD") == 1
        assert s.value("gpucost_billing_resources") == 1
        assert s.value("gpucost_billing_export_rows") == 2  # focus_rows: two hours
        assert s.value("gpucost_billing_export_load_duration_seconds") > 0

        export.write_text(FOCUS_HEADER + focus_rows(10.56) + "x,USD,Usage,bad,2026-11-20T00:00:00Z,1,Hrs,x,Standard,"
                          "us-east-1,i-0other,Compute,BoxUsage:m5.xlarge\n")
        s = await live.until(lambda s: s.node_costs("gpu-1").get("gpu") == approx(8.0))
        assert s.node_costs("gpu-1") == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})
        assert s.value("gpucost_billing_rows_skipped", reason="malformed_value") == 1
        assert s.value("gpucost_billing_export_rows") == 3

        export.write_text(FOCUS_HEADER.replace("BillingCurrency", "Currency") + focus_rows(99.0))
        s = await live.until(lambda s: reloaded(s) == 0)
        assert s.node_costs("gpu-1") == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})


def write_parquet(path: Path, csv_text: str) -> None:
    """The CSV as Parquet, columns typed as pyarrow infers them (times as timestamp[s, UTC],
    costs double), written beside and renamed into place as an export delivery would be."""
    tmp = path.with_suffix(".tmp")
    pq.write_table(pacsv.read_csv(io.BytesIO(csv_text.encode())), tmp)
    os.replace(tmp, path)


async def test_parquet_billing_export_prices_and_reloads(api: FakeKubeAPI, kubeconfig: Path, tmp_path: Path) -> None:
    """The same as above with the export a directory holding a Parquet file: read, re-read
    when it changes, and a damaged file keeps the prices in effect."""
    pricing = billed_cluster(api, tmp_path)
    export = tmp_path / "export"
    export.mkdir()
    part = export / "part-0.parquet"
    write_parquet(part, FOCUS_HEADER + focus_rows(20.0))
    async with exporter(kubeconfig, pricing, tmp_path / "exporter.log", "--billing-export", str(export)) as (live, _):
        s = await live.until(lambda s: s.value("gpucost_node_info", node="gpu-1", price_source="billing") == 1)
        # 20 $/h split by the weights 1.28 (cpu), 1.28 (memory), 8 (gpu) of 10.56
        assert s.node_costs("gpu-1") == approx({"cpu": 20 * 1.28 / 10.56, "memory": 20 * 1.28 / 10.56,
                                                "gpu": 20 * 8 / 10.56})
        assert s.value("gpucost_pricing_info", billing_window_start="2026-11-14", billing_window_end="2026-11-20",
                       billing_cost_column="EffectiveCost", currency="USD") == 1

        write_parquet(part, FOCUS_HEADER + focus_rows(10.56))
        s = await live.until(lambda s: s.node_costs("gpu-1").get("gpu") == approx(8.0))
        assert s.node_costs("gpu-1") == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})
        assert reloaded(s) == 1

        part.write_bytes(part.read_bytes()[:100])  # a delivery cut short
        s = await live.until(lambda s: reloaded(s) == 0)
        assert s.node_costs("gpu-1") == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})
    assert "part-0.parquet: cannot read billing export" in (tmp_path / "exporter.log").read_text()


def aws_refresh(export: Path, execution: str, csv_text: str, *, manifest: bool) -> None:
    """One AWS Data Exports "create new" refresh of November (layout: tests/test_billing_deliveries.py):
    its data folder, and its manifest once delivered; the partition's manifest then names it."""
    data = export / "data" / "BILLING_PERIOD=2026-11" / execution
    data.mkdir(parents=True, exist_ok=True)
    (data / "my-export-00001.csv").write_text(csv_text)
    if manifest:
        doc = ('{"executionId": "%s", "exportArn": "arn:aws:bcm-data-exports:us-east-1:111122223333:export/my-export",'
               ' "columns": [], "dataFiles": ["s3://bucket/my-export/data/BILLING_PERIOD=2026-11/%s/'
               'my-export-00001.csv"]}' % (execution.split("Z-", 1)[1], execution))
        for folder in (export / "metadata" / "BILLING_PERIOD=2026-11" / execution,
                       export / "metadata" / "BILLING_PERIOD=2026-11"):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "my-export-Manifest.json").write_text(doc)


async def test_a_new_refresh_is_read_once_its_manifest_arrives(api: FakeKubeAPI, kubeconfig: Path,
                                                               tmp_path: Path) -> None:
    """An export kept as "create new" refreshes: the refresh whose data has arrived but whose
    manifest has not is passed over; its manifest makes it the one read, alone."""
    pricing = billed_cluster(api, tmp_path)
    export = tmp_path / "my-export"
    aws_refresh(export, "2026-11-20T06:10:44.812Z-aaaa0001", FOCUS_HEADER + focus_rows(20.0), manifest=True)
    async with exporter(kubeconfig, pricing, tmp_path / "exporter.log", "--billing-export", str(export)) as (live, _):
        s = await live.until(lambda s: s.value("gpucost_node_info", node="gpu-1", price_source="billing") == 1)
        assert s.node_costs("gpu-1")["gpu"] == approx(20 * 8 / 10.56)
        assert s.value("gpucost_billing_export_files", state="read") == 1

        later = "2026-11-21T06:11:02.107Z-bbbb0002"
        aws_refresh(export, later, FOCUS_HEADER + focus_rows(10.56), manifest=False)
        s = await live.until(lambda s: s.value("gpucost_billing_export_files", state="passed_over") == 1)
        assert s.node_costs("gpu-1")["gpu"] == approx(20 * 8 / 10.56)  # still the first refresh alone

        aws_refresh(export, later, FOCUS_HEADER + focus_rows(10.56), manifest=True)
        s = await live.until(lambda s: s.node_costs("gpu-1").get("gpu") == approx(8.0))
        # 10.56 $/h from the new refresh alone; both read: (2 x 20 + 2 x 10.56) / 2 h = 30.56 $/h
        assert s.node_costs("gpu-1") == approx({"cpu": 1.28, "memory": 1.28, "gpu": 8.0})
        assert (s.value("gpucost_billing_export_files", state="read"),
                s.value("gpucost_billing_export_files", state="passed_over"), reloaded(s)) == (1, 1, 1)
    log = (tmp_path / "exporter.log").read_text()
    assert "delivery 2026-11-20T06:10:44.812Z-aaaa0001 read; passed over 0 superseded and 1 newer without" in log
    assert "delivery 2026-11-21T06:11:02.107Z-bbbb0002 read; passed over 1 superseded" in log

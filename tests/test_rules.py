"""The rule files, their promtool tests and the example Alertmanager config.

promtool and amtool must be installed (the README's test command installs them): without them
these tests fail rather than skip, so a CI image that lacks them cannot pass unnoticed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules" / "gpucost.rules.yml"
ALERTS = ROOT / "rules" / "gpucost.alerts.yml"
RULE_TESTS = sorted((ROOT / "tests" / "rules").glob("*.test.yml"))
ALERTMANAGER_CONFIG = ROOT / "examples" / "alertmanager.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
RULES_DOC = ROOT / "docs" / "rules.md"
RUNBOOK_URL = "https://github.com/gpucost/gpucost/blob/main/docs/runbook.md#"

# level:metric:operations, lower case.
RECORD_NAME = re.compile(r"^[a-z_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")
# A recorded series named in an expression: two colons, never inside a label matcher.
RECORDED_REF = re.compile(r"\b[a-z_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*\b")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH. Install Prometheus's {name} (Debian/Ubuntu: "
            "`apt-get install prometheus prometheus-alertmanager`, or the release tarballs "
            "from prometheus.io/download) and run the tests again.",
            pytrace=False,
        )
    return path


def _run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def _load(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def _rules(path: Path, kind: str) -> list[dict[str, Any]]:
    return [r for g in _load(path)["groups"] for r in g["rules"] if kind in r]


# ---- promtool and amtool ----------------------------------------------------------------


def test_promtool_check_rules_is_clean() -> None:
    # Every rule file, not only the two loaded by name here: deploy/render.py ships them all.
    rule_files = sorted((ROOT / "rules").glob("*.yml"))
    assert {RULES, ALERTS} <= set(rule_files)
    proc = _run([_tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal",
                 *map(str, rule_files)])
    assert proc.returncode == 0, _explain(proc)
    assert "FAILED" not in proc.stdout + proc.stderr, _explain(proc)


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path) -> None:
    proc = _run([_tool("promtool"), "test", "rules", str(test_file)])
    assert proc.returncode == 0, _explain(proc)


def test_amtool_check_config() -> None:
    proc = _run([_tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG)])
    assert proc.returncode == 0, _explain(proc)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        # Critical pages the team and FinOps; warning goes to the team's and FinOps' Slack.
        ({"alertname": "GpucostBudgetProjectionHigh", "severity": "critical",
          "team": "ml-research", "budget": "b"}, "ml-research-pager,finops-pager"),
        ({"alertname": "GpucostBudgetProjectionHigh", "severity": "warning",
          "team": "ml-research", "budget": "b"}, "ml-research-slack,finops-slack"),
        ({"alertname": "GpucostBudgetProjectionHigh", "severity": "critical",
          "namespace": "inference", "budget": "b"}, "ml-research-pager,finops-pager"),
        ({"alertname": "GpucostTeamGpuSpendSpike", "severity": "warning", "team": "web"},
         "web-slack,finops-slack"),
        ({"alertname": "GpucostBudgetProjectionHigh", "severity": "critical",
          "customer": "acme", "budget": "b"}, "finops-pager"),
        ({"alertname": "GpucostClusterGpuIdleCostHigh", "severity": "warning"}, "finops-slack"),
        ({"alertname": "GpucostExporterDown", "severity": "warning"}, "platform-tickets"),
        ({"alertname": "GpucostGpuPriceDefaulted", "severity": "warning"}, "platform-tickets"),
    ],
)
def test_alertmanager_routes(labels: dict[str, str], receivers: str) -> None:
    proc = _run([_tool("amtool"), "config", "routes", "test",
                 f"--config.file={ALERTMANAGER_CONFIG}",
                 *(f"{k}={v}" for k, v in labels.items())])
    assert proc.returncode == 0, _explain(proc)
    assert proc.stdout.strip() == receivers, _explain(proc)


# ---- The rule files keep their conventions -------------------------------------------


def test_recording_rule_names_are_level_metric_operations() -> None:
    bad = [r["record"] for r in _rules(RULES, "record") if not RECORD_NAME.match(r["record"])]
    assert not bad


def test_alerts_read_only_recorded_series_that_exist() -> None:
    recorded = {r["record"] for r in _rules(RULES, "record")}
    for alert in _rules(ALERTS, "alert"):
        missing = set(RECORDED_REF.findall(alert["expr"])) - recorded
        assert not missing, f"{alert['alert']} reads series no rule records: {missing}"


def _github_anchors(markdown: str) -> set[str]:
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_alerts_follow_the_conventions() -> None:
    anchors = _github_anchors(RUNBOOK.read_text())
    for alert in _rules(ALERTS, "alert"):
        name = alert["alert"]
        assert re.fullmatch(r"Gpucost(?:[A-Z][a-z0-9]*)+", name), name
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert alert.get("for"), f"{name} has no `for`"
        annotations = alert["annotations"]
        assert annotations["summary"].endswith("."), name
        assert "{{" in annotations["description"], f"{name}: description is not templated"
        url = annotations["runbook_url"]
        assert url.startswith(RUNBOOK_URL), name
        assert url.removeprefix(RUNBOOK_URL) in anchors, f"{name}: no runbook section {url}"


def _tests_in(kind: str) -> list[dict[str, Any]]:
    return [t for f in RULE_TESTS for case in _load(f)["tests"] for t in case.get(kind, [])]


def test_every_recording_rule_has_a_promtool_test() -> None:
    tested = {t["expr"].strip() for t in _tests_in("promql_expr_test")}
    untested = {r["record"] for r in _rules(RULES, "record")} - tested
    assert not untested


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for t in _tests_in("alert_rule_test"):
        (firing if t.get("exp_alerts") else silent).add(t["alertname"])
    names = {a["alert"] for a in _rules(ALERTS, "alert")}
    assert names - firing == set(), "never tested firing"
    assert names - silent == set(), "never tested not firing"


def test_rules_doc_lists_every_recording_rule() -> None:
    doc = RULES_DOC.read_text()
    missing = {r["record"] for r in _rules(RULES, "record") if f"`{r['record']}`" not in doc}
    assert not missing


@pytest.mark.parametrize(("owner", "names"), [
    # dcgm-exporter's metric and label names: the label mapping is one rule users edit.
    ("pod_gpu:dcgm_gpu_utilization:ratio",
     ["DCGM_FI_", "exported_pod", "exported_namespace", "exported_container", "GPU_I_ID"]),
    # The shared namespaces are declared in one rule.
    ("namespace:gpucost_shared_namespace:info", ['"kube-system"', '"monitoring"']),
])
def test_overridable_settings_live_in_one_rule(owner: str, names: list[str]) -> None:
    rules = _rules(RULES, "record") + _rules(ALERTS, "alert")
    holders = {name: {r.get("record") or r.get("alert") for r in rules if name in r["expr"]}
               for name in names}
    assert holders == {name: {owner} for name in names}

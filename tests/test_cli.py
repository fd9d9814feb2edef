"""The command line: one-line errors with exit code 2, --once, and the HTTP server."""

from __future__ import annotations

import gzip
import json
import logging
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gpucost import __version__, logs
from gpucost.cli import build_parser, main

from builders import container, decode, engine, node, pod

REPO = Path(__file__).resolve().parents[1]




def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--from-file", "/nonexistent/cluster.json", "--once"], "/nonexistent/cluster.json: cannot read"),
        (["--shard", "1", "--once"], "--shard and --total-shards go together"),
        (["--shard", "3", "--total-shards", "3", "--once"], "--shard: must be in 0..2, got 3"),
        (["--nvml", "--once"], "--nvml needs --node-name"),
        (["--demo", "--web.listen-address", "localhost"], "--web.listen-address: expected HOST:PORT, got 'localhost'"),
        (["--demo", "--kubeconfig", "x"], "--kubeconfig cannot be combined with --demo or --from-file"),
        # issue 14: the demo and your own files would be reported as one cluster
        (["--demo", "--from-file", "cluster.json", "--once"], "--demo cannot be combined with --from-file"),
        (["--demo", "--web.telemetry-path", "metrics"], "--web.telemetry-path: expected a path starting with /"),
        (["--demo", "--web.telemetry-path", "/healthz"], "other than /, /healthz, /readyz, got '/healthz'"),
        (["--demo", "--log.level", "verbose"], "argument --log.level: invalid choice: 'verbose'"),
        (["--demo", "--log.format", "text"], "argument --log.format: invalid choice: 'text'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gpucost-exporter: error: ")
    assert message in err


def test_bad_files_name_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken_json = tmp_path / "dump.json"
    broken_json.write_text('{"kind": "List", "items": [')
    code, _, err = run_main(capsys, "--from-file", str(broken_json), "--once")
    assert code == 2 and f"{broken_json}: invalid JSON" in err and err.count("\n") == 1

    pricing = tmp_path / "pricing.yaml"
    pricing.write_text("default:\n  gpu_hour: -3\n")
    code, _, err = run_main(capsys, "--demo", "--pricing-file", str(pricing), "--once")
    assert code == 2
    assert err == f"gpucost-exporter: error: {pricing}:2: default.gpu_hour: must be a finite number >= 0, got -3\n"


def test_pricing_file_whose_top_level_is_a_list_names_the_document_root(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pricing = tmp_path / "p.yaml"
    pricing.write_text("- currency: USD\n")
    code, _, err = run_main(capsys, "--demo", "--pricing-file", str(pricing), "--once")
    assert code == 2
    assert err == f"gpucost-exporter: error: {pricing}:1: document root: expected a mapping, got a list\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"foo": 1}', "a mapping without kind"),
        ("", "empty file"),
        ("[1, 2, 3]", "a JSON array"),
        ('"hello"', "a str ('hello')"),
    ],
)
def test_a_file_without_kubernetes_objects_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(content)
    code, out, err = run_main(capsys, "--from-file", str(path), "--once")
    assert (code, out) == (2, "")
    assert err == (f"gpucost-exporter: error: {path}: {problem}; expected a Kubernetes List or objects, "
                   "as `kubectl get ... -o json|yaml` writes them\n")


def test_nameless_and_kindless_objects_are_skipped_counted_and_logged(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    dump = {"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod"}, {"metadata": {"name": "x"}}]}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    code, out, _ = run_main(capsys, "--from-file", str(path), "--once")
    assert code == 0
    assert 'gpucost_objects_skipped{kind="Pod",reason="decode_error"} 1\n' in out
    assert 'gpucost_objects_skipped{kind="Unknown",reason="decode_error"} 1\n' in out
    assert 'gpucost_objects_skipped_total{kind="Pod",reason="decode_error"} 1\n' in out
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{path}: item 0 (Pod): no metadata.name" in messages[0]
    assert f"{path}: item 1 (x): no kind" in messages[1]


def test_files_set_the_last_update_even_when_they_hold_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # An empty but valid NodeList: the model is current as of loading it (the HELP says "files
    # loaded"); before issue 14 the timestamp stayed 0.
    path = tmp_path / "nodes.json"
    path.write_text('{"apiVersion": "v1", "kind": "NodeList", "items": []}')
    before = time.time()
    code, out, _ = run_main(capsys, "--from-file", str(path), "--once")
    after = time.time()
    assert code == 0
    (line,) = [x for x in out.splitlines() if x.startswith("gpucost_last_update_timestamp_seconds ")]
    assert before <= float(line.split()[1]) <= after


def test_pods_on_a_node_with_an_invalid_quantity_wait_on_that_node(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # Issue 14, item 4: the node is left out for its own error (logged once); its two pods are
    # reported as waiting on a node that was left out, not as bound to a node that is unknown.
    bad = node("bad", cpu="4 cores")
    objs = [bad, node("good", cpu="4"),
            pod("a", "bad", container(cpu="1")), pod("b", "bad", container(cpu="1")),
            pod("c", "gone", container(cpu="1"))]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    code, out, _ = run_main(capsys, "--from-file", str(path), "--once")
    assert code == 0
    assert 'gpucost_objects_skipped{kind="Node",reason="invalid_quantity"} 1\n' in out
    assert 'gpucost_objects_skipped{kind="Pod",reason="node_invalid"} 2\n' in out
    assert 'gpucost_objects_skipped{kind="Pod",reason="node_not_found"} 1\n' in out  # c: no node "gone"
    # The node's error once, however often the node is seen again (a watch sends every status update).
    state = engine([bad])
    for _ in range(3):
        state.upsert("Node", decode(bad))
        state.flush()
    node_logs = [r.getMessage() for r in caplog.records if "Node bad" in r.getMessage()]
    assert len(node_logs) == 2  # one from the file run, one from the engine above
    assert "4 cores" in node_logs[0]


def test_broken_object_is_skipped_not_fatal(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    dump = {
        "apiVersion": "v1", "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
             "status": {"capacity": {"cpu": "4", "memory": "16Gi"}}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "broken", "namespace": "ml"},
             "spec": {"nodeName": "n1", "containers": "not-a-list"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok", "namespace": "ml", "uid": "u1"},
             "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {"requests": {"cpu": 2}}}]},
             "status": {"phase": "Running"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ignored"}},
        ],
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    code, out, _ = run_main(capsys, "--from-file", str(path), "--once")
    assert code == 0
    # default prices: 4 cores x 0.031611; the pod reserves 2 of 4 (a bare JSON number quantity)
    assert 'gpucost_pod_cpu_cost_per_hour{namespace="ml",pod="ok",node="n1"' in out
    assert "} 0.063222\n" in out
    assert 'gpucost_objects_skipped{kind="Pod",reason="decode_error"} 1' in out
    assert any("Pod ml/broken" in r.getMessage() and "dump.json" in r.getMessage() for r in caplog.records)


def test_yaml_manifests_and_node_filter(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("""\
apiVersion: v1
kind: Node
metadata: {name: a}
status: {capacity: {cpu: "2", memory: 8Gi}}
---
apiVersion: v1
kind: Node
metadata: {name: b}
status: {capacity: {cpu: "2", memory: 8Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: x, creationTimestamp: 2026-11-28T07:00:00Z}
spec: {nodeName: b, containers: [{name: c, resources: {limits: {cpu: "1"}}}]}
status: {phase: Running}
""")
    code, out, _ = run_main(capsys, "--from-file", str(path), "--node-name", "b", "--once")
    assert code == 0
    assert 'node="a"' not in out
    assert 'gpucost_pod_cpu_cost_per_hour{namespace="x",pod="p",node="b",owner_kind="",owner_name="",team="",product="",customer=""} 0.031611\n' in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, gz: bool = False) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gz else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


#: client_python's process, platform and GC collectors (what /metrics adds to --once's output).
RUNTIME_FAMILIES = {
    "process_virtual_memory_bytes", "process_resident_memory_bytes", "process_start_time_seconds",
    "process_cpu_seconds_total", "process_open_fds", "process_max_fds", "python_info",
    "python_gc_objects_collected_total", "python_gc_objects_uncollectable_total", "python_gc_collections_total",
}


def metric_name(line: bytes) -> str:
    """The metric a sample, HELP or TYPE line is about."""
    text = line.decode()
    if text.startswith("# "):
        return text.split()[2]
    return re.split(r"[{ ]", text, maxsplit=1)[0]


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
        try:
            if fetch(base + "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail("exporter did not become ready")


def test_http_server_on_demo() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucost", "--demo", "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)
        status, headers, body = fetch(base + "/metrics")
        assert status == 200
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        status, headers, zipped = fetch(base + "/metrics", gz=True)
        assert headers["Content-Encoding"] == "gzip"
        once = subprocess.run([sys.executable, "-m", "gpucost", "--demo", "--once"], capture_output=True, cwd=REPO, check=True).stdout

        def stable(text: bytes) -> list[bytes]:
            # Timing lines differ per render; the process and runtime families are served but
            # not printed by --once (a one-shot process has no memory worth alerting on), and
            # so are the config-reload families (a one-shot process reloads nothing).
            return [line for line in text.splitlines()
                    if not line.startswith((b"gpucost_scrape_duration", b"gpucost_last_update", b"gpucost_config_"))
                    and not line.startswith((b"# HELP gpucost_config_", b"# TYPE gpucost_config_"))
                    and metric_name(line) not in RUNTIME_FAMILIES]

        assert stable(gzip.decompress(zipped)) == stable(body) == stable(once)
        assert fetch(base + "/healthz")[0] == 200
        status, _, landing = fetch(base + "/")
        assert status == 200 and b'href="metrics"' in landing and b"gpucost" in landing
    finally:
        proc.terminate()
        proc.wait(timeout=10)


RFC3339_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_files_telemetry_path_json_logs_and_process_metrics(tmp_path: Path) -> None:
    # Issue 14, items 3 and 5: --from-file with an empty NodeList is ready and current once
    # loaded; the metrics move to --web.telemetry-path; the start line is JSON with an RFC 3339
    # time; the process metrics are there to alert on.
    nodes = tmp_path / "nodes.json"
    nodes.write_text('{"apiVersion": "v1", "kind": "NodeList", "items": []}')
    port = free_port()
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucost", "--from-file", str(nodes), "--web.listen-address", f"127.0.0.1:{port}",
         "--web.telemetry-path", "/cost/metrics", "--log.format", "json", "--log.level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)
        assert fetch(base + "/metrics")[0] == 404
        status, _, body = fetch(base + "/cost/metrics")
        assert status == 200
        samples = {line.split()[0]: float(line.split()[1]) for line in body.decode().splitlines()
                   if line and not line.startswith("#") and "{" not in line}
        assert started <= samples["gpucost_last_update_timestamp_seconds"] <= time.time()
        assert samples["process_resident_memory_bytes"] > 10 * 2**20  # a Python process with aiohttp
        assert samples["process_open_fds"] >= 3  # stdin, stdout, stderr at least
        assert samples["process_start_time_seconds"] == pytest.approx(started, abs=5)
        assert b'href="cost/metrics"' in fetch(base + "/")[2]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # --log.level warning (the alias of warn) hides the INFO start line, and nothing else is logged.
    assert proc.stderr is not None and proc.stderr.read() == b""


def test_start_line_is_logged_after_the_bind_with_an_rfc3339_time(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucost", "--demo", "--web.listen-address", f"127.0.0.1:{port}",
         "--log.format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.stderr is not None
    lines = [json.loads(line) for line in proc.stderr.read().decode().splitlines()]
    (start,) = [x for x in lines if "listening on" in x["msg"]]
    assert set(start) == {"time", "level", "logger", "msg"}
    assert start["level"] == "INFO" and start["logger"] == "gpucost.server"
    assert re.fullmatch(RFC3339_MS, start["time"])
    assert re.fullmatch(rf"gpucost {re.escape(__version__)} listening on 127\.0\.0\.1:{port}/metrics "
                        rf"\(started {RFC3339_MS}\)", start["msg"]), start["msg"]


def test_a_taken_port_fails_without_claiming_to_serve() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "gpucost", "--demo", "--web.listen-address", f"127.0.0.1:{port}"],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr == f"gpucost-exporter: error: --web.listen-address 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize(
    ("flag", "level"),
    [("debug", logging.DEBUG), ("info", logging.INFO), ("warn", logging.WARNING),
     ("warning", logging.WARNING), ("error", logging.ERROR)],
)
def test_log_levels_are_prometheus_names(flag: str, level: int) -> None:
    args = build_parser().parse_args(["--log.level", flag])
    logs.configure(args.log_level, args.log_format)
    assert logging.getLogger().level == level


def record(msg: str, level: int = logging.WARNING, created: float = 1796034942.4639) -> logging.LogRecord:
    rec = logging.LogRecord("gpucost.state", level, __file__, 1, msg, None, None)
    rec.created = created
    return rec


@pytest.mark.parametrize(
    ("msg", "level", "logfmt"),
    [
        # 1796034942.4639 s is 2026-11-30T10:35:42.463 UTC (milliseconds truncated, as Go's RFC 3339 nano layout does)
        ("ok", logging.INFO, 'time=2026-11-30T10:35:42.463Z level=INFO logger=gpucost.state msg=ok'),
        ('Node "a b" left out', logging.WARNING,
         'time=2026-11-30T10:35:42.463Z level=WARN logger=gpucost.state msg="Node \\"a b\\" left out"'),
        ("x=1", logging.ERROR, 'time=2026-11-30T10:35:42.463Z level=ERROR logger=gpucost.state msg="x=1"'),
        ("two\nlines", logging.DEBUG, 'time=2026-11-30T10:35:42.463Z level=DEBUG logger=gpucost.state msg="two\\nlines"'),
    ],
)
def test_log_line_formats(msg: str, level: int, logfmt: str) -> None:
    rec = record(msg, level)
    assert logs.LogfmtFormatter().format(rec) == logfmt
    assert json.loads(logs.JsonFormatter().format(rec)) == {
        "time": "2026-11-30T10:35:42.463Z", "level": logfmt.split()[1][6:], "logger": "gpucost.state", "msg": msg,
    }

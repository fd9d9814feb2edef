"""The command line: one-line errors with exit code 2, --once, and the HTTP server."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gpucost.cli import main

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


def test_http_server_on_demo() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucost", "--demo", "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                status, _, _ = fetch(base + "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            pytest.fail("exporter did not become ready")
        status, headers, body = fetch(base + "/metrics")
        assert status == 200
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        status, headers, zipped = fetch(base + "/metrics", gz=True)
        assert headers["Content-Encoding"] == "gzip"
        once = subprocess.run([sys.executable, "-m", "gpucost", "--demo", "--once"], capture_output=True, cwd=REPO, check=True).stdout

        def stable(text: bytes) -> list[bytes]:
            return [line for line in text.splitlines() if not line.startswith((b"gpucost_scrape_duration", b"gpucost_last_update"))]

        assert stable(gzip.decompress(zipped)) == stable(body) == stable(once)
        assert fetch(base + "/healthz")[0] == 200
        status, _, landing = fetch(base + "/")
        assert status == 200 and b'href="metrics"' in landing and b"gpucost" in landing
    finally:
        proc.terminate()
        proc.wait(timeout=10)

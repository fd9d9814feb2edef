"""gpucost-report's flags, its HTTP requests (auth, headers, TLS) and its one-line errors.

Requests go over real HTTP to a small local server that records what it receives and
answers as the Prometheus API does (tests/test_report_e2e.py runs a real Prometheus).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpucost.report.cli import main
from gpucost.report.dimensions import DimensionError, Dimensions, parse_filter
from gpucost.report.ledger import Shaping, build_report
from gpucost.report.period import Period
from gpucost.report.spend import Sums

NOW = datetime(2025, 11, 14, tzinfo=timezone.utc)
# The probe of range bounds, answered as Prometheus 2.x does (three points in [t-2s, t]).
PROBE = "count_over_time(vector(1)[2s:1s])"


@dataclass
class Recorder:
    """What the fake API received; `status` and `body` are what it answers to queries."""

    url: str
    headers: list[dict[str, str]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    status: int = 200
    body: str = ""
    #: Instant-query results by a piece of the query (first match wins); others get [].
    answers: dict[str, list[dict[str, object]]] = field(default_factory=dict)


def _serve(rec: Recorder, tls: ssl.SSLContext | None = None) -> Iterator[Recorder]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            rec.headers.append({k.lower(): v for k, v in self.headers.items()})
            query = form["query"][0]
            rec.queries.append(query)
            if self.path != "/prom/api/v1/query":
                status, body = 404, "404 page not found"
            elif rec.status != 200 or rec.body:
                status, body = rec.status, rec.body
            else:
                result = [{"metric": {}, "value": [0, "3"]}] if query == PROBE else next(
                    (r for piece, r in rec.answers.items() if piece in query), [])
                status, body = 200, json.dumps({"status": "success",
                                                "data": {"resultType": "vector", "result": result}})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls else "http"
    rec.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/prom"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def api() -> Iterator[Recorder]:
    yield from _serve(Recorder(""))


@pytest.fixture
def tls_api(pki: Path) -> Iterator[Recorder]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    yield from _serve(Recorder(""), ctx)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), now=NOW)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == ""
    assert err.startswith("gpucost-report: error: ") and err.count("\n") == 1, err
    return err


NO_DATA = "no gpucost data in last 30d"


# ---- Auth and headers, as received -------------------------------------------------------


def test_bearer_token_from_a_file_and_tenant_header(api: Recorder, capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    err = one_line_error(*run(capsys, "--prometheus", api.url, "--bearer-token-file", str(token),
                              "--header", "X-Scope-OrgID: team-a", "--header", "X-Extra:  two words "))
    assert NO_DATA in err  # the fake holds no series
    assert len(api.headers) >= 2  # the probe and the period's queries
    for h in api.headers:
        assert h["authorization"] == "Bearer s3cr3t-token"
        assert h["x-scope-orgid"] == "team-a" and h["x-extra"] == "two words"
        assert h["content-type"] == "application/x-www-form-urlencoded"


def test_basic_auth_from_flag_and_environment(api: Recorder, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUCOST_PROMETHEUS_URL", api.url)
    monkeypatch.setenv("GPUCOST_PROMETHEUS_PASSWORD", "glc_token")
    one_line_error(*run(capsys, "--basic-auth-user", "123456"))
    # base64("123456:glc_token"), as Grafana Cloud expects (instance id : API token).
    assert {h["authorization"] for h in api.headers} == {"Basic " + base64.b64encode(b"123456:glc_token").decode()}


def test_no_credentials_sends_no_authorization(api: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(capsys, "--prometheus", api.url))
    assert all("authorization" not in h for h in api.headers)


def test_queries_cover_the_period_in_day_chunks(api: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(capsys, "--prometheus", api.url, "--last", "3d", "--by", "team"))
    pod_queries = [q for q in api.queries if "gpucost_pod_cpu_cost_per_hour" in q]
    # Three one-day chunks; Prometheus 2.x ranges include their start, so 86400000 - 1 ms.
    assert len(pod_queries) == 3
    assert all("[86399999ms]" in q and q.startswith("sum by (team, resource)") for q in pod_queries)


# ---- Refusals and failures -----------------------------------------------------------------


@pytest.mark.parametrize(("status", "body", "message"), [
    (401, "Unauthorized", "refused the credentials (HTTP 401: Unauthorized)"),
    (403, '{"status":"error","error":"tenant not allowed"}', "refused the credentials (HTTP 403: tenant not allowed)"),
    (500, '{"status":"error","errorType":"internal","error":"boom"}', "HTTP 500: boom"),
    (200, "<html>Grafana</html>", "the answer is not Prometheus API JSON"),
])
def test_refusals_are_one_line(api: Recorder, capsys: pytest.CaptureFixture[str], status: int, body: str,
                               message: str) -> None:
    api.status, api.body = status, body
    err = one_line_error(*run(capsys, "--prometheus", api.url))
    assert message in err and api.url in err


def test_wrong_path_says_what_the_url_must_be(api: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(*run(capsys, "--prometheus", api.url.removesuffix("/prom")))
    assert "HTTP 404; --prometheus must be the API root" in err


def test_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = one_line_error(*run(capsys, "--prometheus", f"http://127.0.0.1:{port}"))
    assert f"cannot reach Prometheus at http://127.0.0.1:{port}: Connection refused" in err


def test_tls_with_the_ca_file(tls_api: Recorder, capsys: pytest.CaptureFixture[str], pki: Path) -> None:
    err = one_line_error(*run(capsys, "--prometheus", tls_api.url))
    assert "TLS certificate not trusted" in err and "pass --ca-file" in err
    assert tls_api.queries == []
    err = one_line_error(*run(capsys, "--prometheus", tls_api.url, "--ca-file", str(pki / "ca.crt")))
    assert NO_DATA in err and tls_api.queries  # trusted: the queries went through
    err = one_line_error(*run(capsys, "--prometheus", tls_api.url, "--insecure-skip-verify"))
    assert NO_DATA in err


# ---- Flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    ([], "--prometheus (or $GPUCOST_PROMETHEUS_URL) is required"),
    (["--prometheus", "localhost:9090"], "--prometheus: expected an http:// or https:// URL, got 'localhost:9090'"),
    (["--prometheus", "http://x", "--bogus"], "unrecognized arguments: --bogus"),
    (["--prometheus", "http://x", "--format", "xlsx"], "argument --format: invalid choice: 'xlsx'"),
    (["--prometheus", "http://x", "--idle", "spread"], "argument --idle: invalid choice: 'spread'"),
    (["--prometheus", "http://x", "--by", "team-name"], "--by: 'team-name' is not a label name"),
    (["--prometheus", "http://x", "--by", "owner_name"], "--by: use 'owner' (owner_kind/owner_name)"),
    (["--prometheus", "http://x", "--by", "resource"], "--by: 'resource' is not a cost dimension"),
    (["--prometheus", "http://x", "--filter", "namespace=ml"], "--filter: expected label matchers"),
    (["--prometheus", "http://x", "--filter", 'a="1" b="2"'], "--filter: expected ',' between matchers"),
    (["--prometheus", "http://x", "--top", "0"], "--top: must be >= 1, got 0"),
    (["--prometheus", "http://x", "--step", "1x"], "--step: expected a duration"),
    (["--prometheus", "http://x", "--chunk", "0h"], "--chunk: must be longer than zero"),
    (["--prometheus", "http://x", "--header", "X-Scope-OrgID=a"], "--header: expected 'Name: value'"),
    (["--prometheus", "http://x", "--cert-file", "c.pem"], "--cert-file and --key-file go together"),
    (["--prometheus", "http://x", "--bearer-token-file", "/nonexistent/token"],
     "--bearer-token-file /nonexistent/token: No such file or directory"),
    (["--prometheus", "https://x", "--ca-file", "/nonexistent/ca.pem"], "--ca-file: No such file or directory"),
    (["--prometheus", "http://x", "--month", "2025-11", "--last", "7d"], "--last and --month cannot be combined"),
    (["--prometheus", "http://x", "--month", "2026-01"], "the period month 2026-01 starts in the future"),
    (["--prometheus", "http://x", "--tz", "Mars/Olympus"], "--tz: unknown time zone 'Mars/Olympus'"),
    (["--prometheus", "http://x", "--timeout", "0"], "--timeout: must be > 0, got 0"),
])
def test_flag_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                         message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUCOST_PROMETHEUS_URL", raising=False)
    err = one_line_error(*run(capsys, *argv))
    assert message in err


def test_bearer_token_and_basic_auth_exclude_each_other(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUCOST_PROMETHEUS_BEARER_TOKEN", "t")
    err = one_line_error(*run(capsys, "--prometheus", "http://x", "--basic-auth-user", "u"))
    assert "a bearer token and --basic-auth-user cannot be combined" in err


@pytest.mark.parametrize(("values", "columns", "labels"), [
    ([], ("namespace",), ("namespace",)),
    (["team"], ("team",), ("team",)),
    (["cluster,team", "product"], ("cluster", "team", "product"), ("cluster", "team", "product")),
    (["owner"], ("namespace", "owner"), ("namespace", "owner_kind", "owner_name")),
    (["namespace,owner,namespace"], ("namespace", "owner"), ("namespace", "owner_kind", "owner_name")),
    (["gpu_model"], ("gpu_model",), ("cluster", "node")),
    (["cost_center", "gpu_model", "cluster"], ("cost_center", "gpu_model", "cluster"),
     ("cost_center", "cluster", "node")),
])
def test_dimensions(values: list[str], columns: tuple[str, ...], labels: tuple[str, ...]) -> None:
    dims = Dimensions.parse(values)
    assert dims.columns == columns and dims.query_labels() == labels


def test_filter_keeps_the_matchers_as_written() -> None:
    matchers = parse_filter('{namespace=~"ml-.*", team!="a,b" ,node=\'gpu-1\'}')
    assert [(m.label, m.text) for m in matchers] == [
        ("namespace", 'namespace=~"ml-.*"'), ("team", 'team!="a,b"'), ("node", "node='gpu-1'")]
    with pytest.raises(DimensionError):
        parse_filter('namespace=~"ml-.*"}')


# ---- Shared idle that no row can take ----------------------------------------------------------


def test_shared_idle_of_a_resource_nobody_paid_for_stays_idle() -> None:
    # One cluster, 10 scrapes of 360 s = 1 hour. Pods paid cpu only: 30/h (team a) and
    # 10/h (team b) -> sums of samples 300 and 100. Idle: cpu 4/h (sum 40), gpu 8/h (sum 80).
    # Shared: a takes 3/4 of the cpu idle (4 x 0.75 = 3), b 1/4 (1); the gpu idle has no
    # GPU cost to follow and stays in an __idle__ row: 8.
    sums = Sums()
    sums.pods[("a",)]["cpu"] = 300.0
    sums.pods[("b",)]["cpu"] = 100.0
    sums.idle[""]["cpu"] = 40.0
    sums.idle[""]["gpu"] = 80.0
    sums.currencies.add("EUR")
    sums.covered[""] = 10.0
    period = Period(NOW, datetime(2025, 11, 14, 1, tzinfo=timezone.utc), "test")
    report = build_report(sums, Dimensions.parse(["team"]), period, 360.0, Shaping(idle="shared"), "EUR", "x")
    assert [(r.labels, r.kind, r.cpu, r.gpu, r.total) for r in report.rows] == [
        (("a",), "pods", 33.0, 0.0, 33.0), (("b",), "pods", 11.0, 0.0, 11.0),
        (("__idle__",), "idle", 0.0, 8.0, 8.0)]
    assert report.totals.total == 52.0 and report.coverage == 1.0


# ---- Unused GPU cost beside the money columns -------------------------------------------------


def test_unused_gpu_is_kept_apart_from_idle_and_folds_with_top() -> None:
    # Cost samples stand for 360 s (1/10 h), unused-GPU samples for the rules' 60 s (1/60 h).
    # GPU cost: a 600 -> 60, c 300 -> 30; b pays cpu only: 100 -> 10. Idle gpu 120 -> 12,
    # shared 60:30: a 60 x (1 + 12/90) = 68, c 34. Unused: a 90 -> 1.5, c 30 -> 0.5, b none
    # (no utilization data: empty, not 0). Sharing idle leaves unused alone (idle is not
    # reserved). --top 1 keeps a; __other__ = c + b: unused 0.5. Totals 1.5 + 0.5 = 2.
    sums = Sums()
    sums.pods[("a",)]["gpu"] = 600.0
    sums.pods[("b",)]["cpu"] = 100.0
    sums.pods[("c",)]["gpu"] = 300.0
    sums.idle[""]["gpu"] = 120.0
    sums.unused[("a",)] = 90.0
    sums.unused[("c",)] = 30.0
    sums.currencies.add("EUR")
    sums.covered[""] = 10.0
    period = Period(NOW, datetime(2025, 11, 14, 1, tzinfo=timezone.utc), "test")
    dims = Dimensions.parse(["team"])
    whole = build_report(sums, dims, period, 360.0, Shaping(idle="shared"), "EUR", "x", 60.0)
    assert [(r.labels, r.gpu, r.unused_gpu) for r in whole.rows] == [
        (("a",), 68.0, 1.5), (("c",), 34.0, 0.5), (("b",), 0.0, None)]
    folded = build_report(sums, dims, period, 360.0, Shaping(idle="shared", top=1), "EUR", "x", 60.0)
    assert [(r.labels, r.unused_gpu) for r in folded.rows] == [(("a",), 1.5), (("__other__",), 0.5)]
    assert folded.totals.unused_gpu == 2.0
    # Without the rules' data (unused_step_s None) no cell has a value, whatever the sums.
    none = build_report(sums, dims, period, 360.0, Shaping(), "EUR", "x")
    assert {r.unused_gpu for r in [*none.rows, none.totals]} == {None}


def test_unused_samples_without_the_cluster_series_ask_for_the_step(
        api: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    # The pod-level unused series answer, but the cluster-level one the evaluation interval is
    # read from does not (only part of the utilization group deployed): say which flag helps.
    api.answers = {
        "count_over_time(gpucost_pricing_info": [{"metric": {"currency": "USD"}, "value": [0, "144"]}],
        "pod:gpucost_pod_gpu_unused_cost_per_hour:sum": [{"metric": {"team": "ml"}, "value": [0, "6"]}],
    }
    err = one_line_error(*run(capsys, "--prometheus", api.url, "--last", "1d", "--by", "team", "--step", "10m"))
    assert "cannot tell the utilization rules' evaluation interval" in err and "pass --unused-step" in err
    # With the flag: 6 samples x 60 s = 0.1 h at 1/h -> 0.10 in the team's unused_gpu cell.
    code, out, _ = run(capsys, "--prometheus", api.url, "--last", "1d", "--by", "team", "--step", "10m",
                       "--unused-step", "1m", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["unused_step_seconds"] == 60
    assert [(r["team"], r["unused_gpu"]) for r in doc["rows"]] == [("ml", 0.1)]

"""--web.config.file (exporter-toolkit format): strict validation, then TLS, basic auth and
headers on the real server, and reloads when the file changes."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from gpucost.cli import main
from gpucost.server import Exporter, serve
from gpucost.webconfig import WebConfigError, WebGuard, parse_web_config

from builders import container, engine, node, pod


def hashed(password: str) -> str:
    # exporter-toolkit docs show $2y$ hashes (htpasswd); bcrypt verifies them the same way
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_config: {}\n", "w.yml:1: tls_config: unknown key"),
        ("tls_server_config:\n  cert_file: a.crt\n", "w.yml:2: tls_server_config.key_file: required"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Always\n",
         "w.yml:4: tls_server_config.client_auth_type: must be one of NoClientCert"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
         "w.yml:2: tls_server_config.client_ca_file: required with client_auth_type RequireAndVerifyClientCert"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS9\n",
         "w.yml:4: tls_server_config.min_version: must be one of TLS10"),
        ("basic_auth_users:\n  prometheus: hunter2\n", "w.yml:2: basic_auth_users.prometheus: expected a bcrypt hash"),
        ("http_server_config:\n  headers:\n    X-Powered-By: me\n", "w.yml:3: http_server_config.headers.X-Powered-By: unknown key"),
        ("http_server_config:\n  http2: maybe\n", "w.yml:2: http_server_config.http2: expected true or false"),
    ],
)
def test_invalid_web_config_names_line_and_key(text: str, message: str) -> None:
    with pytest.raises(WebConfigError) as err:
        parse_web_config(text, "w.yml")
    assert str(err.value).startswith(message)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = parse_web_config("tls_server_config: {cert_file: tls/a.crt, key_file: /abs/b.key}\n", str(tmp_path / "w.yml"))
    assert cfg.tls is not None
    assert (cfg.tls.cert_file, cfg.tls.key_file) == (tmp_path / "tls/a.crt", Path("/abs/b.key"))


def test_cli_rejects_an_invalid_web_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users:\n  prometheus: plain\n")
    assert main(["--demo", "--web.config.file", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"gpucost-exporter: error: {path}:2: basic_auth_users.prometheus: expected a bcrypt hash ($2y$...)\n"
    )


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_tls_basic_auth_headers_and_reload(pki: Path, tmp_path: Path) -> None:
    config = tmp_path / "web.yml"
    config.write_text(f"""\
tls_server_config:
  cert_file: {pki / "server.crt"}
  key_file: {pki / "server.key"}
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: {hashed("s3cret")}
""")
    guard = WebGuard(str(config))
    state = engine([node("n1", cpu="4"), pod("p", "n1", container(cpu="1"))])
    exporter = Exporter(state, sources=[guard.metric_families])
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve(exporter, f"127.0.0.1:{port}", stop, guard))
    trust = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    url = f"https://127.0.0.1:{port}/metrics"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # wait for the listener
                try:
                    async with http.get(url, ssl=trust) as resp:
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)

            async def get(user: str | None, password: str = "") -> aiohttp.ClientResponse:
                async with http.get(url, ssl=trust, headers=basic(user, password) if user else {}) as resp:
                    await resp.read()
                    return resp

            resp = await get(None)
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == 'Basic realm="gpucost"'
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert (await get("prometheus", "wrong")).status == 401
            assert (await get("nobody", "s3cret")).status == 401
            async with http.get(url, ssl=trust, headers=basic("prometheus", "s3cret")) as ok:
                body = await ok.text()
                assert ok.status == 200 and ok.headers["X-Content-Type-Options"] == "nosniff"
            # 4 cores at the default 0.031611 $/core-h, one of them reserved
            assert 'pod="p",node="n1"' in body and "} 0.031611\n" in body
            assert "gpucost_web_config_reload_failures_total 0\n" in body
            # Plain HTTP to the TLS port gets nowhere.
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    await resp.read()

            # The password changes: the file is re-read on the next request.
            text = config.read_text().replace(config.read_text().split("prometheus: ")[1], hashed("n3w") + "\n")
            config.write_text(text)
            assert (await get("prometheus", "s3cret")).status == 401
            assert (await get("prometheus", "n3w")).status == 200

            # A broken edit is rejected and the last good config stays in force.
            config.write_text(text + "  bogus: [\n")
            assert (await get("prometheus", "n3w")).status == 200
            assert guard.reload_failures == 1
    finally:
        stop.set()
        await server


def test_shipped_example_is_valid_for_gpucost_and_promtool() -> None:
    import shutil
    import subprocess

    example = Path(__file__).resolve().parents[1] / "examples" / "web-config.yml"
    guard = WebGuard(str(example))
    assert guard.allowed("prometheus", "change-me") and not guard.allowed("prometheus", "nope")
    assert guard.config.headers == {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "deny"}
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run the README test command, which installs it"
    out = subprocess.run([promtool, "check", "web-config", str(example)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

"""`--web.config.file`: TLS, basic auth and response headers for the HTTP endpoints, in the
Prometheus exporter-toolkit format, so one file serves gpucost and every Go exporter beside it:

    tls_server_config:
      cert_file: /etc/tls/tls.crt
      key_file: /etc/tls/tls.key
      client_auth_type: RequireAndVerifyClientCert   # default NoClientCert
      client_ca_file: /etc/tls/ca.crt
      min_version: TLS12
    http_server_config:
      headers:
        X-Content-Type-Options: nosniff
    basic_auth_users:
      prometheus: $2y$10$...                         # bcrypt hash (htpasswd -nBC 10 "")

The file is re-read when it changes (certificates rotate, passwords change); a change that does
not validate is logged and the previous configuration stays in force.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .basicauth import BCRYPT_HASH, BasicAuth, Verdict
from .configfile import ConfigError, Located, Reader, load_document, read_file
from .exposition import MetricFamily

log = logging.getLogger("gpucost.webconfig")

_CLIENT_AUTH = {
    # exporter-toolkit name -> (Python verify mode, needs client_ca_file)
    "NoClientCert": (ssl.CERT_NONE, False),
    "RequestClientCert": (ssl.CERT_OPTIONAL, True),
    "RequireAnyClientCert": (ssl.CERT_REQUIRED, True),
    "VerifyClientCertIfGiven": (ssl.CERT_OPTIONAL, True),
    "RequireAndVerifyClientCert": (ssl.CERT_REQUIRED, True),
}
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
#: The headers exporter-toolkit lets a web config set.
_HEADERS = (
    "Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection",
    "Strict-Transport-Security",
)
_TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version")


class WebConfigError(ConfigError):
    """An invalid web config file; the message names the file, line and key."""


@dataclass(frozen=True)
class TLSConfig:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str | None = None


@dataclass(frozen=True)
class WebConfig:
    tls: TLSConfig | None = None
    #: user -> bcrypt hash
    basic_auth_users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def parse_web_config(text: str, filename: str, base: Path | None = None) -> WebConfig:
    """Validate a web config; relative file paths are taken from `base` (the file's folder)."""
    doc = load_document(text, filename, WebConfigError)
    if doc is None:
        return WebConfig()
    r = Reader(filename, WebConfigError)
    top = r.mapping(doc, 1, "", ("tls_server_config", "http_server_config", "basic_auth_users"))
    tls = _tls(r, top, base or Path(filename).parent) if "tls_server_config" in top else None
    users: dict[str, bytes] = {}
    if "basic_auth_users" in top:
        m = r.mapping(top["basic_auth_users"], top.key_lines["basic_auth_users"], "basic_auth_users", None)
        for user in m:
            hashed = r.string(m, user, "basic_auth_users.")
            if not BCRYPT_HASH.fullmatch(hashed):
                # Checked here, as exporter-toolkit does, not on the first login (bcrypt raises).
                raise r.fail(m.key_lines[user], f"basic_auth_users.{user}", "expected a bcrypt hash ($2y$...)")
            users[str(user)] = hashed.encode()
    headers: dict[str, str] = {}
    if "http_server_config" in top:
        h = r.mapping(top["http_server_config"], top.key_lines["http_server_config"], "http_server_config",
                      ("headers", "http2"))
        if "http2" in h:
            r.boolean(h, "http2", "http_server_config.")  # accepted for compatibility; HTTP/1.1 only
        if "headers" in h:
            hm = r.mapping(h["headers"], h.key_lines["headers"], "http_server_config.headers", _HEADERS)
            headers = {str(k): r.string(hm, k, "http_server_config.headers.") for k in hm}
    return WebConfig(tls=tls, basic_auth_users=users, headers=headers)


def _tls(r: Reader, top: Located, base: Path) -> TLSConfig:
    t = r.mapping(top["tls_server_config"], top.key_lines["tls_server_config"], "tls_server_config", _TLS_KEYS)
    prefix = "tls_server_config."
    for required in ("cert_file", "key_file"):
        if required not in t:
            raise r.fail(t.line, f"{prefix}{required}", "required when tls_server_config is set")
    auth = r.string(t, "client_auth_type", prefix) if "client_auth_type" in t else "NoClientCert"
    if auth not in _CLIENT_AUTH:
        raise r.fail(t.key_lines["client_auth_type"], f"{prefix}client_auth_type", f"must be one of {', '.join(_CLIENT_AUTH)}")
    if _CLIENT_AUTH[auth][1] and "client_ca_file" not in t:
        raise r.fail(t.line, f"{prefix}client_ca_file", f"required with client_auth_type {auth}")
    versions = {}
    for k in ("min_version", "max_version"):
        if k in t:
            versions[k] = r.string(t, k, prefix)
            if versions[k] not in _TLS_VERSIONS:
                raise r.fail(t.key_lines[k], f"{prefix}{k}", f"must be one of {', '.join(_TLS_VERSIONS)}")
    return TLSConfig(
        cert_file=base / r.string(t, "cert_file", prefix),
        key_file=base / r.string(t, "key_file", prefix),
        client_auth_type=auth,
        client_ca_file=base / r.string(t, "client_ca_file", prefix) if "client_ca_file" in t else None,
        min_version=versions.get("min_version", "TLS12"),
        max_version=versions.get("max_version"),
    )


def load_web_config(path: str | Path) -> WebConfig:
    return parse_web_config(read_file(path, "web config", WebConfigError), str(path))


def configure_tls(ctx: ssl.SSLContext, tls: TLSConfig, filename: str) -> None:
    """Load certificates and policy into a server context (also used to rotate them)."""
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        mode, _ = _CLIENT_AUTH[tls.client_auth_type]
        if tls.client_ca_file is not None:
            ctx.load_verify_locations(tls.client_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"{filename}: tls_server_config: {exc}") from None
    ctx.verify_mode = mode
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]


class WebGuard:
    """The web config in force: TLS context, basic auth and headers, re-read on change."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.config = load_web_config(path)
        self._stamp = self._file_stamp()
        self.ssl_context: ssl.SSLContext | None = None
        if self.config.tls is not None:
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            configure_tls(self.ssl_context, self.config.tls, path)
        self.auth = BasicAuth(self.config.basic_auth_users)
        self.reload_failures = 0

    def _file_stamp(self) -> tuple[float, int]:
        try:
            st = os.stat(self.path)
        except OSError:
            return (0.0, 0)
        return (st.st_mtime, st.st_size)

    def maybe_reload(self) -> None:
        """Re-read the file if it changed; keep the current config if the new one is invalid."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            config = load_web_config(self.path)
            if config.tls is not None and self.ssl_context is not None:
                configure_tls(self.ssl_context, config.tls, self.path)  # new connections use it
            elif (config.tls is None) != (self.config.tls is None):
                raise WebConfigError(f"{self.path}: turning TLS on or off needs a restart")
        except WebConfigError as exc:
            self.reload_failures += 1
            log.error("web config not reloaded, keeping the previous one: %s", exc)
            return
        self.config = config
        self.auth = BasicAuth(config.basic_auth_users)  # verdicts of the old hashes go with them
        log.info("web config reloaded from %s", self.path)

    def metric_families(self) -> Iterator[MetricFamily]:
        yield MetricFamily(
            "gpucost_web_config_reload_failures_total", "counter",
            "Changes to --web.config.file that did not validate (the previous configuration stayed).",
            [((), self.reload_failures)],
        )
        yield MetricFamily(
            "gpucost_web_auth_busy_total", "counter",
            "Basic-auth checks refused with 429 because too many bcrypt checks were already waiting.",
            [((), self.auth.busy_refusals)],
        )

    def allowed(self, user: str, password: str) -> bool:
        """Check basic-auth credentials, blocking (bcrypt is slow on purpose); the server uses
        `auth.verdict`, which never makes a cached credential wait for hash work."""
        cached = self.auth.cached(user, password)
        return cached is Verdict.GRANTED if cached is not None else self.auth.check(user, password)

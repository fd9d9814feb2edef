"""A small client of the Prometheus HTTP API (instant queries), as Prometheus, Thanos Query,
Mimir and Grafana Cloud serve it: bearer token or basic auth, a private CA, client
certificates and extra headers (a tenant header such as `X-Scope-OrgID`).

Every failure becomes a `PrometheusError` with a one-line message naming the URL.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any


class PrometheusError(Exception):
    """Prometheus could not answer: unreachable, refused, or the query failed."""


class QueryTooLarge(PrometheusError):
    """The server refused a query for its size (samples, time): a shorter range may pass."""


#: Phrases with which Prometheus, Thanos and Mimir refuse a query for its size or duration.
_TOO_LARGE = ("too many samples", "query timed out", "context deadline exceeded",
              "exceeded the limit", "limit exceeded", "max_fetched", "query time range exceeds")


@dataclass(frozen=True)
class Connection:
    """Where Prometheus is and how to authenticate; `timeout_s` is per HTTP request."""

    url: str
    bearer_token: str | None = None
    basic_user: str | None = None
    basic_password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 120.0

    def request_headers(self) -> dict[str, str]:
        """The headers every request carries: auth first, then the user's own (which win)."""
        headers = {"Accept": "application/json", "User-Agent": "gpucost-report"}
        if self.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        elif self.basic_user is not None:
            token = f"{self.basic_user}:{self.basic_password or ''}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(token).decode()}"
        headers.update(self.headers)
        return headers


def parse_header(text: str) -> tuple[str, str]:
    """`Name: value` (the curl form) into a pair; ValueError with the reason otherwise."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise ValueError(f"--header: expected 'Name: value', got {text!r}")
    return name, value.strip()


class PrometheusClient:
    """Instant queries against one Prometheus-compatible endpoint."""

    def __init__(self, conn: Connection) -> None:
        parsed = urllib.parse.urlsplit(conn.url)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise PrometheusError(f"--prometheus: expected an http:// or https:// URL, "
                                  f"got {conn.url!r}")
        self.conn = conn
        self.base = conn.url.rstrip("/")
        self._headers = conn.request_headers()
        self._context = self._ssl_context() if parsed.scheme == "https" else None

    def _ssl_context(self) -> ssl.SSLContext:
        c = self.conn
        try:
            ctx = ssl.create_default_context(cafile=c.ca_file)
            if c.cert_file:
                ctx.load_cert_chain(c.cert_file, c.key_file)
        except (OSError, ssl.SSLError) as exc:
            which = "--ca-file" if c.ca_file and not c.cert_file else "--cert-file/--key-file"
            raise PrometheusError(f"{which}: {exc.strerror or exc}") from None
        if c.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """Evaluate `expr` at `at` (Unix seconds, millisecond precision).

        Returns the result list of a vector or matrix answer (each item has `metric` and
        `value` or `values`). POST, so long expressions fit.
        """
        data = self._call("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        if data.get("resultType") not in {"vector", "matrix"}:
            raise PrometheusError(f"{self.base}: unexpected result type "
                                  f"{data.get('resultType')!r} for {expr}")
        return list(data.get("result") or [])

    def _call(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        body = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(self.base + path, data=body, method="POST",
                                     headers={**self._headers,
                                              "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=self.conn.timeout_s,  # noqa: S310
                                        context=self._context) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise PrometheusError(f"{self.base}: TLS certificate not trusted "
                                      f"({reason.verify_message}); pass --ca-file") from None
            raise PrometheusError(f"cannot reach Prometheus at {self.base}: "
                                  f"{getattr(reason, 'strerror', None) or reason}") from None
        except TimeoutError:
            raise QueryTooLarge(f"{self.base}: no answer within {self.conn.timeout_s:g}s") from None
        except OSError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.base}: "
                                  f"{exc.strerror or exc}") from None
        return self._data(raw)

    def _data(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise PrometheusError(f"{self.base}: the answer is not Prometheus API JSON "
                                  f"(is the URL the Prometheus root?)") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            message = body.get("error") if isinstance(body, dict) else None
            raise PrometheusError(f"{self.base}: query failed: {message or body!r}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise PrometheusError(f"{self.base}: the answer has no data")
        return data

    def _http_error(self, exc: urllib.error.HTTPError) -> PrometheusError:
        text = exc.read().decode(errors="replace")
        try:
            message = str(json.loads(text).get("error") or "")
        except (ValueError, AttributeError):
            message = text.strip().splitlines()[0] if text.strip() else ""
        if exc.code in (401, 403):
            return PrometheusError(f"Prometheus at {self.base} refused the credentials "
                                   f"(HTTP {exc.code}{': ' + message if message else ''})")
        if exc.code == 404:
            return PrometheusError(f"{self.base}{urllib.parse.urlsplit(exc.url).path}: HTTP 404; "
                                   f"--prometheus must be the API root (the part before /api/v1)")
        if exc.code in (422, 503, 504, 400) and any(p in message.lower() for p in _TOO_LARGE):
            return QueryTooLarge(f"{self.base}: {message}")
        if exc.code == 400:
            return PrometheusError(f"{self.base}: query rejected (HTTP 400: {message}); "
                                   f"check --filter and --by")
        if exc.code == 504:
            return QueryTooLarge(f"{self.base}: HTTP 504 (gateway timeout)")
        return PrometheusError(f"{self.base}: HTTP {exc.code}{': ' + message if message else ''}")

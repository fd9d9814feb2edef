"""The HTTP side of the Kubernetes API source: configuration and credentials through the
`kubernetes` package (kubeconfig, in-cluster, exec plugins), one aiohttp session for requests,
API errors, and the discovery of which resource.k8s.io version a server serves."""

from __future__ import annotations

import asyncio
import os
import ssl

import aiohttp
import kubernetes.client
import kubernetes.config
import msgspec

from gpucost import __version__ as _version

#: Dynamic Resource Allocation: resource.k8s.io versions gpucost reads, newest first. 1.34+
#: serve v1 (GA); 1.33 v1beta2 and v1beta1; 1.32 v1beta1. The objects gpucost reads have the
#: same shape in all three, but for v1beta1's `basic` wrapper around device attributes.
DRA_GROUP = "resource.k8s.io"
DRA_VERSIONS = ("v1", "v1beta2", "v1beta1")


class KubeConfigError(Exception):
    """No usable Kubernetes configuration; the message says which source failed and why."""


class ApiError(Exception):
    """The API server answered with an error status (HTTP or a watch ERROR event)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")
        self.code = code
        self.reason = reason


class _Gone(Exception):
    """410 Gone: the resourceVersion we hold is compacted away; only a relist helps."""


class _Status(msgspec.Struct):
    message: str = ""
    reason: str = ""
    code: int = 0


_status_decoder = msgspec.json.Decoder(_Status)

#: What a hostile or broken body raises while decoding: bad JSON, or nesting past the
#: interpreter's recursion limit (msgspec raises RecursionError for that).
_UNDECODABLE = (msgspec.DecodeError, RecursionError)


def _status_error(code: int, body: bytes) -> Exception:
    try:
        status = _status_decoder.decode(body)
        reason, message = status.reason, status.message
    except _UNDECODABLE:
        reason, message = "", body[:200].decode("utf-8", "replace").strip()
    if code == 410:
        return _Gone(message or "410 Gone")
    return ApiError(code, reason, message)


# --- configuration ---------------------------------------------------------------------------


def load_configuration(kubeconfig: str | None = None) -> kubernetes.client.Configuration:
    """Find the cluster and credentials the way kubectl does, else use the pod's service account.

    Order: `kubeconfig` (the --kubeconfig flag), $KUBECONFIG (":"-separated files are merged),
    ~/.kube/config, then in-cluster configuration. Raises KubeConfigError naming the source.
    """
    config = kubernetes.client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    source = "--kubeconfig" if kubeconfig else "KUBECONFIG"
    if path is None:
        default = os.path.expanduser("~/.kube/config")
        if os.path.exists(default):
            path, source = default, "~/.kube/config"
    if path is not None:
        try:
            # persist_config=False: an exporter must not rewrite the user's kubeconfig.
            kubernetes.config.load_kube_config(
                config_file=path, client_configuration=config, persist_config=False
            )
        except Exception as exc:  # ConfigException, OSError, YAML errors: all mean "unusable"
            raise KubeConfigError(f"{source} {path}: {exc}") from exc
        return config
    if not os.environ.get("KUBERNETES_SERVICE_HOST"):
        raise KubeConfigError(
            "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create "
            "~/.kube/config, or run in a pod with a service account"
        )
    try:
        # try_refresh_token: the projected service-account token rotates; the hook installed
        # here re-reads the token file (at most once a minute) whenever credentials are asked.
        kubernetes.config.load_incluster_config(client_configuration=config, try_refresh_token=True)
    except Exception as exc:
        raise KubeConfigError(f"in-cluster configuration: {exc}") from exc
    return config


def _ssl_context(config: kubernetes.client.Configuration) -> ssl.SSLContext | None:
    """TLS settings from the Configuration; None for a plain-HTTP server."""
    if not str(config.host).startswith("https"):
        return None
    try:
        ctx = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
        ca_data = getattr(config, "ca_cert_data", None)
        if ca_data:
            ctx.load_verify_locations(cadata=ca_data)
        if config.cert_file:
            ctx.load_cert_chain(config.cert_file, config.key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise KubeConfigError(f"TLS files for {config.host}: {exc}") from exc
    if not config.verify_ssl:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif getattr(config, "assert_hostname", None) is False:
        ctx.check_hostname = False
    return ctx


class ApiClient:
    """The HTTP side: one aiohttp session, TLS from the Configuration, credentials per request."""

    def __init__(self, config: kubernetes.client.Configuration) -> None:
        if not config.host:
            raise KubeConfigError("Kubernetes configuration has no server address")
        self._config = config
        self._base = str(config.host).rstrip("/")
        self._ssl = _ssl_context(config)
        self._server_hostname = getattr(config, "tls_server_name", None) or None
        self._proxy = config.proxy or None
        self._session: aiohttp.ClientSession | None = None
        # The refresh hook may run an exec plugin (seconds) or read a file: keep it off the
        # event loop, and let one caller at a time refresh.
        self._credentials_lock = asyncio.Lock()

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"Accept": "application/json", "User-Agent": f"gpucost/{_version}"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _authorization(self) -> str | None:
        get = self._config.get_api_key_with_prefix
        if self._config.refresh_api_key_hook is None:
            return get("BearerToken", alias="authorization")
        async with self._credentials_lock:
            return await asyncio.to_thread(get, "BearerToken", "authorization")

    async def get(
        self, path: str, params: dict[str, str], timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """Start a GET; the caller reads (and releases) the response. Non-200 raises ApiError."""
        if self._session is None:
            raise RuntimeError("ApiClient.open() was not called")
        headers = {}
        authorization = await self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        resp = await self._session.get(
            self._base + path,
            params=params,
            headers=headers,
            timeout=timeout,
            server_hostname=self._server_hostname,
            proxy=self._proxy,
        )
        if resp.status != 200:
            try:
                body = await resp.read()
            finally:
                resp.release()
            raise _status_error(resp.status, body)
        return resp


class _GroupVersion(msgspec.Struct, rename="camel"):
    version: str = ""


class _APIGroup(msgspec.Struct, rename="camel"):
    versions: list[_GroupVersion] = msgspec.field(default_factory=list)


async def discover_dra_version(api: ApiClient, timeout_s: float) -> str | None:
    """The newest resource.k8s.io version the server serves, None when it serves none (a
    cluster before 1.32, or DRA switched off). Raises ApiError for other failures."""
    try:
        resp = await api.get(f"/apis/{DRA_GROUP}", {}, aiohttp.ClientTimeout(total=timeout_s))
    except ApiError as exc:
        if exc.code == 404:
            return None
        raise
    try:
        group = msgspec.json.decode(await resp.read(), type=_APIGroup)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError(200, "BadDiscovery", f"{DRA_GROUP} discovery did not decode: {exc}") from exc
    finally:
        resp.release()
    served = {v.version for v in group.versions}
    return next((v for v in DRA_VERSIONS if v in served), None)



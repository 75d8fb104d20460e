"""The HTTP client: every call to the server, and what its failures mean to the engine."""

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    import httpx

log = logging.getLogger("traybell.desktop.api")

# Long enough for a slow server behind a VPN, short enough that a dead one is noticed soon.
TIMEOUT_SECONDS, CONNECT_TIMEOUT_SECONDS = 30.0, 10.0
# A stream hears a keepalive at least every 20 s: a minute of silence means it is dead.
STREAM_READ_TIMEOUT_SECONDS = 60.0


def _httpx() -> ModuleType:
    """httpx, imported at the first call, on the thread that makes it: a tray draws its icon
    before it talks to the server, and httpx with its TLS stack is about 13 MiB and 0.1 s."""
    # httpx imports its command-line client (click, rich, pygments: about 9 MiB resident)
    # whenever those happen to be installed; this client never runs it. A None entry in
    # sys.modules makes that one import fail, which httpx handles by leaving its CLI out. No
    # effect if httpx is already imported.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


class ApiError(Exception):
    """A call did not succeed; the subclass says whether trying again later can help."""


class Offline(ApiError):
    """The server could not be reached or could not answer (network, timeout, 5xx): try later."""


class SignedOut(ApiError):
    """The server refused the token (401): only a new sign-in helps."""


class Refused(ApiError):
    """The server understood and said no for good (400, 403, 404, 409, 413, 422)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code

    @property
    def cursor_unknown(self) -> bool:
        """The server cannot go on from the cursor sent: its database was restored or rebuilt
        (410 resync_required), or it does not read that cursor at all (400 invalid_cursor)."""
        return self.code in ("resync_required", "invalid_cursor")


# Statuses worth retrying although they are 4xx: the request was fine, the moment was not.
_TRANSIENT_4XX = frozenset({408, 425, 429})


def ssl_context(ca_bundle: str | None) -> "ssl.SSLContext":
    """The OS certificate store, plus a CA bundle the user named (self-hosted internal CAs)."""
    import ssl

    import truststore

    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class ApiClient:
    """Thin wrapper over one pooled `httpx.Client`; returns decoded JSON or raises `ApiError`.

    Without a token it makes the calls that need none (device sign-in)."""

    def __init__(
        self,
        server_url: str,
        token: str | None,
        *,
        ca_bundle: str | None = None,
        transport: "httpx.BaseTransport | None" = None,
    ) -> None:
        self._server_url = server_url.rstrip("/")
        self._token = token
        self._ca_bundle = ca_bundle
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> "httpx.Client":
        """The pooled client, made at the first call (see `_httpx`)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> "httpx.Client":
        http = _httpx()
        verify = ssl_context(self._ca_bundle)
        headers = {"User-Agent": "traybell-desktop"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        client: httpx.Client = http.Client(
            base_url=self._server_url,
            headers=headers,
            timeout=http.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            # trust_env: the proxy from the environment, and on Windows and macOS from the
            # system settings (httpx reads them through urllib's getproxies()).
            trust_env=True,
            # One retry of a failed connect covers a pooled keep-alive connection the server
            # closed while it restarted.
            transport=self._transport
            or http.HTTPTransport(verify=verify, retries=1, trust_env=True),
            # Also given here: httpx builds the proxy transports from the client's own verify.
            verify=verify,
        )
        return client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> "httpx.Response":
        """The server's answer whatever its status; raises `Offline` only when there is none."""
        client = self._http()
        httpx = _httpx()
        try:
            return client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Offline(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        _check(response, method, path)
        status = response.status_code
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            # A captive portal or a proxy's error page answers 200 with HTML: not our server.
            raise Offline(f"{method} {path}: the answer was not JSON") from exc

    @contextmanager
    def stream(self, path: str, headers: dict[str, str]) -> Iterator["httpx.Response"]:
        """A GET whose body is read as it comes (Server-Sent Events); failures as `call`'s."""
        client = self._http()
        httpx = _httpx()
        timeout = httpx.Timeout(
            TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS
        )
        try:
            with client.stream("GET", path, headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                _check(response, "GET", path)
                yield response
        except httpx.HTTPError as exc:
            raise Offline(f"GET {path}: {type(exc).__name__}: {exc}") from exc


def _check(response: "httpx.Response", method: str, path: str) -> None:
    """What a failed status means to the engine."""
    status = response.status_code
    if status == 401:
        raise SignedOut(f"{method} {path}: the server refused the token")
    if status >= 500 or status in _TRANSIENT_4XX:
        raise Offline(f"{method} {path}: HTTP {status}")
    if status >= 400:
        code, message = _error_of(response)
        raise Refused(status, code, message)


def _error_of(response: "httpx.Response") -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.text[:200]

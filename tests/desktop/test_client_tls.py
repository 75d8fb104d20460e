"""The client commands over TLS with the user's CA bundle: what the tray trusts, `traybell
send` trusts too (one HTTP client for all of them)."""

import contextlib
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.cli import run, send
from desktop.settings import Settings


class TlsProxy:
    """TLS on 127.0.0.1 in front of the live server, with a certificate only the given CA
    bundle vouches for (no OS store and no certifi knows it)."""

    def __init__(self, upstream_port: int, cert: Path, key: Path) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        # Shut down first: that wakes the accept() blocked in its thread, which close() alone
        # would not (on Linux).
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()  # the client did not trust the certificate: that is its answer
            return
        upstream = socket.create_connection(self._upstream)
        self._sockets += [client, upstream]
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass  # either side closed: the pump's job is over
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def tls_server(live_server, tmp_path) -> Iterator[tuple[TlsProxy, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    proxy = TlsProxy(live_server.port, cert, key)
    yield proxy, cert
    proxy.close()


def test_send_trusts_the_ca_bundle_the_tray_trusts(live_server, tls_server, capsys):
    """Rule: `traybell send` reaches the server through the tray's own HTTP client, so the CA
    bundle in the tray's settings (and the OS trust store) apply to it as to `tray --once`."""
    proxy, cert = tls_server
    user_id, token = live_server.create_user()
    settings = Settings(ca_bundle=str(cert))
    settings.save()
    payload = {"event_name": "admin.message", "title": "over TLS", "user_id": user_id}
    assert send(proxy.url, live_server.admin_token, payload) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["inserted"] == 1
    assert run(proxy.url, token, once=True) == 0
    assert json.loads(capsys.readouterr().out)["new"] == 1


def test_send_refuses_a_certificate_nothing_vouches_for(live_server, tls_server, capsys):
    """Rule: without the CA bundle the same server is not trusted: exit 1, nothing sent."""
    proxy, _ = tls_server
    user_id, token = live_server.create_user()
    payload = {"event_name": "admin.message", "title": "not sent", "user_id": user_id}
    assert send(proxy.url, live_server.admin_token, payload) == 1
    assert "cannot reach" in capsys.readouterr().err
    with live_server.client(token) as client:
        assert client.get("/v1/notifications").json()["notifications"] == []

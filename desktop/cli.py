"""The client commands: `traybell tray [--server URL] [--token T] [--once]`,
`traybell login [--server URL] [--name NAME]` and `traybell send`. None imports Qt unless a
GUI is wanted; all reach the server through the tray's own HTTP client, so the CA bundle and
the OS trust store apply to each."""

import io
import json
import os
import signal
import sys
import threading
from typing import Any

from desktop.logs import setup_logging
from desktop.platform import credentials
from desktop.settings import Settings
from desktop.signin import client_server, client_sign_in, default_client_name, remember_server


def run(server: str | None, token: str | None, once: bool, link: str | None = None) -> int:
    """Run the tray client, or with `once` sync a single time and print one JSON line.
    `link` is a `traybell://n/<id>` to open (in the tray already running, if one is).

    `--once` prints `{"online": bool, "new": N, "unread": N}` and exits 0 when online, 1 when
    not (server away, token refused, or no token at all). It imports no Qt, so it runs on
    machines without a display, as scripts and health checks need.
    """
    if not once:
        from desktop.ui.app import main  # Qt only when a GUI is wanted

        # TRAYBELL_TOKEN too, as for the other client commands: a token there is not on the
        # command line, where `ps` shows it to every user (`traybell demo` starts it so).
        return main(server, token or os.environ.get("TRAYBELL_TOKEN"), link)
    setup_logging()
    from desktop.files import cache_path
    from desktop.sync import SyncEngine

    settings = Settings.load()
    sign_in = client_sign_in(server, token, settings)
    if not sign_in.token:
        print(json.dumps({"online": False, "new": 0, "unread": 0}))
        print(
            f"no token for {sign_in.server_url}: run `traybell login`, or pass --token",
            file=sys.stderr,
        )
        return 1
    engine = SyncEngine(
        sign_in.server_url,
        sign_in.token,
        cache_path(),
        ca_bundle=settings.ca_bundle,
    )
    try:
        result = engine.sync()
    finally:
        engine.close()
    print(json.dumps({"online": result.online, "new": len(result.new), "unread": result.unread}))
    if not result.online:
        reason = "the server refused the token" if result.signed_out else result.error
        print(f"offline: {reason}", file=sys.stderr)
    return 0 if result.online else 1


def send(server: str | None, token: str | None, payload: dict[str, Any]) -> int:
    """Post one notification (`payload` as the API takes it) and print the server's answer;
    exit 0 when it was accepted, 1 otherwise."""
    from desktop.sync import ApiClient, Offline

    settings = Settings.load()
    sign_in = client_sign_in(server, token, settings)
    if not sign_in.token:
        print(
            f"traybell: no token for {sign_in.server_url}: run `traybell login`, "
            "set TRAYBELL_TOKEN or pass --token",
            file=sys.stderr,
        )
        return 1
    api = ApiClient(sign_in.server_url, sign_in.token, ca_bundle=settings.ca_bundle)
    try:
        reply = api.request("POST", "/v1/notifications", json=payload)
    except Offline as exc:
        print(f"traybell: cannot reach {sign_in.server_url}: {exc}", file=sys.stderr)
        return 1
    finally:
        api.close()
    print(reply.text)
    return 0 if reply.is_success else 1


def login(server: str | None, name: str | None, admin: bool = False) -> int:
    """Sign this computer in with the browser (device sign-in) and store the token where the
    tray keeps it; exit 1 when denied, expired or the server cannot be reached. `admin` asks
    for a token that may act as an admin, which only an admin can approve.

    Ctrl-C cancels the wait rather than interrupting whatever runs: the token is either
    stored with its server or not at all, and one issued while cancelling is revoked.
    """
    setup_logging()
    from desktop.sync import DeviceSignIn, SignInCancelled, SignInError

    settings = Settings.load()
    sign_in = DeviceSignIn(
        client_server(server, settings),
        name or default_client_name(),
        admin=admin,
        ca_bundle=settings.ca_bundle,
    )
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        code = sign_in.start()
        print(f"Open {code.verification_uri} in a browser and enter the code {code.user_code}")
        qr = _terminal_qr(code.verification_uri_complete) if sys.stdout.isatty() else None
        if qr:
            print(f"or open {code.verification_uri_complete}, or scan this code:\n{qr}", end="")
        else:
            print(f"or open {code.verification_uri_complete}")
        print("Waiting for approval; Ctrl-C cancels.", flush=True)
        signed_in = sign_in.wait(cancel)
        store = credentials.store_token(signed_in.server_url, signed_in.token)
        remember_server(settings, signed_in.server_url)
    except SignInCancelled:
        print("traybell: sign-in cancelled; nothing was stored", file=sys.stderr)
        return 130
    except SignInError as exc:
        print(f"traybell: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
        sign_in.close()
    print(f"signed in as {signed_in.user_id}")
    print(f"traybell: the token is kept in {store.description}", file=sys.stderr)
    return 0


def _terminal_qr(url: str) -> str | None:
    """`url` as a QR code of text blocks, or None where this terminal cannot show them."""
    import segno

    drawn = io.StringIO()
    segno.make(url, error="l").terminal(out=drawn, compact=True, border=2)
    text = drawn.getvalue()
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return None
    return text

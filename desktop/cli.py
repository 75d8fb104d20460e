"""`traybell tray [--server URL] [--token T] [--once]`."""

import json
import sys

from desktop.logs import setup_logging
from desktop.platform import credentials
from desktop.settings import Settings


def run(server: str | None, token: str | None, once: bool) -> int:
    """Run the tray client, or with `once` sync a single time and print one JSON line.

    `--once` prints `{"online": bool, "new": N, "unread": N}` and exits 0 when online, 1 when
    not (server away, token refused, or no token at all). It imports no Qt, so it runs on
    machines without a display, as scripts and health checks need.
    """
    if not once:
        from desktop.ui.app import main  # Qt only when a GUI is wanted

        return main(server, token)
    setup_logging()
    from desktop.sync import SyncEngine
    from shared.paths import traybell_home

    settings = Settings.load()
    server = (server or settings.effective("server_url")).rstrip("/")
    token = token or credentials.load_token(server)
    if not token:
        print(json.dumps({"online": False, "new": 0, "unread": 0}))
        print(f"no token for {server}: pass --token or sign in from the tray", file=sys.stderr)
        return 1
    engine = SyncEngine(
        server, token, traybell_home() / "desktop-cache.sqlite3", ca_bundle=settings.ca_bundle
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

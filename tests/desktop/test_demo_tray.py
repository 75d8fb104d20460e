"""`traybell demo` starts the tray as the demo user without putting its token where `ps`
shows it."""

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from desktop.files import cache_path
from tests.support.waiting import wait_until
from traybell.demo import start_tray


def test_the_demo_starts_the_tray_without_the_token_on_its_command_line(live_server, private_home):
    """Rule (trust): `traybell demo` hands the tray its token through the environment (which
    only this user can read), never on the command line, which `ps` shows to every user; the
    tray signs in with it all the same."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="for the demo user")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    tray = start_tray([sys.executable, "-m", "traybell"], live_server.url, token, env)
    try:
        command_line = Path(f"/proc/{tray.pid}/cmdline")
        if command_line.exists():  # Linux: what `ps` reads
            assert token.encode() not in command_line.read_bytes()
        assert token not in " ".join(tray.args)

        def synced() -> bool:
            assert tray.poll() is None, "the tray exited"
            # Read-only: opening it as a Cache would race the tray's own first migration.
            try:
                uri = f"{cache_path().as_uri()}?mode=ro"
                with contextlib.closing(sqlite3.connect(uri, uri=True)) as cache:
                    return cache.execute("SELECT count(*) FROM notifications").fetchone()[0] == 1
            except sqlite3.OperationalError:
                return False  # not made yet

        wait_until(synced, 60, "the tray to sync with the token from its environment")
    finally:
        tray.terminate()
        try:
            tray.wait(30)
        except subprocess.TimeoutExpired:
            tray.kill()

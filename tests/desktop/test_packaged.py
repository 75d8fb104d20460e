"""The PyInstaller build, if given as TRAYBELL_TRAY_BINARY (dist/traybell-tray/traybell-tray)."""

import json
import os
import subprocess

import pytest

BINARY = os.environ.get("TRAYBELL_TRAY_BINARY")


@pytest.mark.skipif(not BINARY, reason="set TRAYBELL_TRAY_BINARY to a PyInstaller build to test it")
def test_built_app_syncs_once(live_server, tmp_path):
    """Rule: the packaged app runs `--once` against a server like `traybell tray --once`: one
    JSON line, exit 0 when online; it finds its bundled resources."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="From the packaged app's point of view")
    env = os.environ | {"TRAYBELL_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [BINARY, "tray", "--once", "--server", live_server.url, "--token", token],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"online": True, "new": 1, "unread": 1}

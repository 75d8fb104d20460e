"""What IT presets for a fleet in the system-wide desktop.json: the order the server address
and the other presettable settings come from, and locked settings shown read-only."""

import json
import logging
import os
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.cli import run as run_tray_cli
from desktop.settings import DEFAULT_SERVER, Presets, Settings, preset_path
from desktop.signin import client_server, remember_server
from desktop.ui.app import TrayApp
from tests.desktop.conftest import start


@pytest.fixture
def preset_file(tmp_path: Path):
    """Writes the system-wide file where TRAYBELL_PRESET_FILE points (see private_home)."""
    path = Path(os.environ["TRAYBELL_PRESET_FILE"])

    def write(content: dict | str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    return write


def own_settings(**fields) -> None:
    """The user's own settings file, as an earlier save left it."""
    Settings.path().write_text(json.dumps(fields))


def test_server_comes_from_own_settings_then_environment_then_system_file(preset_file, monkeypatch):
    """Rule: the tray's server address is its own setting, else TRAYBELL_SERVER, else the
    system-wide file, else the built-in default."""
    assert Settings.load().effective("server_url") == DEFAULT_SERVER
    preset_file({"server": "https://traybell.example.com/"})
    assert Settings.load().effective("server_url") == "https://traybell.example.com"
    monkeypatch.setenv("TRAYBELL_SERVER", "https://from-env.example.com")
    assert Settings.load().effective("server_url") == "https://from-env.example.com"
    own_settings(server_url="https://mine.example.com")
    assert Settings.load().effective("server_url") == "https://mine.example.com"


def test_locked_presets_win_over_own_settings_and_the_environment(preset_file, monkeypatch):
    """Rule: a setting IT locked is IT's value whatever the user or TRAYBELL_SERVER say, and the
    user cannot choose another; unlocked presets give way to the user's own choice."""
    preset_file(
        {"server": "https://it.example.com", "poll_seconds": 300, "start_at_login": True,
         "locked": ["server", "start_at_login"]}
    )  # fmt: skip
    monkeypatch.setenv("TRAYBELL_SERVER", "https://from-env.example.com")
    own_settings(server_url="https://mine.example.com", poll_seconds=30, start_at_login=False)
    settings = Settings.load()
    assert settings.effective("server_url") == "https://it.example.com"
    assert settings.effective("start_at_login") is True
    assert settings.effective("poll_seconds") == 30
    settings.choose("server_url", "https://elsewhere.example.com")
    assert settings.effective("server_url") == "https://it.example.com"


def test_a_choice_equal_to_the_preset_keeps_following_the_preset(preset_file):
    """Rule: only what the user chose is saved; choosing what IT presets records no choice, so
    a later change of the preset still reaches this user."""
    preset_file({"server": "https://it.example.com", "poll_seconds": 120})
    settings = Settings.load()
    settings.choose("poll_seconds", 120)
    settings.choose("server_url", "https://it.example.com")
    settings.save()
    saved = json.loads(Settings.path().read_text())
    assert saved["poll_seconds"] is None and saved["server_url"] is None
    preset_file({"server": "https://it2.example.com", "poll_seconds": 600})
    assert Settings.load().effective("poll_seconds") == 600
    assert Settings.load().effective("server_url") == "https://it2.example.com"


def test_a_faulty_system_file_is_logged_and_never_stops_the_tray(preset_file, caplog):
    """Rule: what IT's file gets wrong (bad JSON, unknown keys, wrong types, a lock without a
    value) is logged and left out; the rest of the file still applies."""
    caplog.set_level(logging.WARNING, logger="traybell.desktop.settings")
    preset_file("{not json")
    assert Settings.load().effective("server_url") == DEFAULT_SERVER
    preset_file(
        {"server": "ftp://it.example.com", "poll_seconds": 5, "start_at_login": "yes",
         "colour": "blue", "locked": ["poll_seconds", "server", {"x": 1}]}
    )  # fmt: skip
    assert Presets.load() == Presets()
    preset_file({"server": "https://it.example.com", "poll_seconds": True, "locked": "server"})
    presets = Presets.load()
    assert dict(presets.values) == {"server_url": "https://it.example.com"}
    assert presets.locked == frozenset()
    logged = caplog.text
    for fault in ("unreadable", "'colour'", "'ftp://it.example.com'", "cannot lock", "a list"):
        assert fault in logged


def test_system_file_is_in_each_os_place_unless_overridden(monkeypatch, tmp_path):
    """Rule: the system-wide file is /etc/traybell/desktop.json, %ProgramData%\\Traybell\\
    desktop.json or /Library/Application Support/Traybell/desktop.json; TRAYBELL_PRESET_FILE
    names another."""
    monkeypatch.setenv("TRAYBELL_PRESET_FILE", str(tmp_path / "mine.json"))
    assert preset_path() == tmp_path / "mine.json"
    monkeypatch.delenv("TRAYBELL_PRESET_FILE")
    assert preset_path("linux") == Path("/etc/traybell/desktop.json")
    assert preset_path("darwin") == Path("/Library/Application Support/Traybell/desktop.json")
    monkeypatch.setenv("PROGRAMDATA", "D:\\Data")
    assert preset_path("win32") == Path("D:\\Data", "Traybell", "desktop.json")


def test_tray_once_syncs_with_the_preset_server(live_server, preset_file, capsys):
    """Rule: `traybell tray --once` without --server takes the address the same way the tray
    does, so a machine with IT's file needs no flag."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="Preset server")
    preset_file({"server": live_server.url, "locked": ["server"]})
    own_settings(server_url="http://127.0.0.1:9")  # refused: would be offline if it won
    assert run_tray_cli(server=None, token=token, once=True) == 0
    assert json.loads(capsys.readouterr().out) == {"online": True, "new": 1, "unread": 1}


def test_locked_settings_are_shown_read_only(qtbot, live_server, preset_file, tmp_path):
    """Rule: in the settings dialog a setting IT locked shows IT's value and cannot be edited,
    the dialog says which are IT's, and saving keeps them; an unlocked preset stays editable.
    The locked start at login is in force from the tray's start."""
    _, token = live_server.create_user()
    preset_file(
        {"server": live_server.url, "poll_seconds": 120, "start_at_login": True,
         "locked": ["server", "start_at_login"]}
    )  # fmt: skip
    own_settings(server_url="http://127.0.0.1:9", start_at_login=False)
    app = TrayApp(Settings.load(), token=token, notify=lambda toast: None)
    qtbot.addWidget(app.center)
    try:
        assert start(qtbot, app).online  # it reached IT's server, not the user's old one
        if sys.platform == "linux":
            assert (tmp_path / "config" / "autostart" / "traybell.desktop").exists()
        app.open_settings()
        dialog = app.settings_dialog
        assert dialog.server.text() == live_server.url and dialog.server.isReadOnly()
        qtbot.keyClicks(dialog.server, "x")
        qtbot.keyClick(dialog.server, Qt.Key.Key_Backspace)
        assert dialog.server.text() == live_server.url
        assert dialog.start_at_login.isChecked() and not dialog.start_at_login.isEnabled()
        assert dialog.poll.value() == 120 and not dialog.poll.isReadOnly()
        assert "the server" in dialog.managed.text() and "start at login" in dialog.managed.text()
        assert "check interval" not in dialog.managed.text()
        dialog.poll.setValue(30)
        with qtbot.waitSignal(dialog.applied) as applied:
            dialog.save()
        assert applied.args[0] == live_server.url
        saved = json.loads(Settings.path().read_text())
        assert saved["poll_seconds"] == 30 and saved["server_url"] == "http://127.0.0.1:9"
        assert app.settings.effective("server_url") == live_server.url
    finally:
        app.controller.shutdown()


def test_tray_once_keeps_to_a_locked_server_whatever_traybell_server_says(
    live_server, preset_file, monkeypatch, capsys
):
    """Rule: locked means locked for the client commands too: `tray --once` (and `send`,
    `login`) take IT's locked server over TRAYBELL_SERVER; only a --server flag wins."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="From IT's server")
    preset_file({"server": live_server.url, "locked": ["server"]})
    monkeypatch.setenv("TRAYBELL_SERVER", "http://127.0.0.1:9")  # nothing listens there
    assert client_server() == live_server.url
    assert run_tray_cli(server=None, token=token, once=True) == 0
    assert json.loads(capsys.readouterr().out) == {"online": True, "new": 1, "unread": 1}
    assert client_server("http://127.0.0.1:9") == "http://127.0.0.1:9"
    preset_file({"server": live_server.url})  # not locked: the environment wins again
    assert client_server() == "http://127.0.0.1:9"


def test_signing_in_to_the_preset_server_keeps_following_the_preset(preset_file, monkeypatch):
    """Rule: a sign-in (`traybell login`, the sign-in window) on IT's unlocked preset server
    records no choice of the user's, so when IT moves the preset the tray follows it; a
    sign-in anywhere else is kept as the user's server, also when TRAYBELL_SERVER changes."""
    preset_file({"server": "https://it.example.com"})
    remember_server(Settings.load(), "https://it.example.com/")
    assert json.loads(Settings.path().read_text())["server_url"] is None
    preset_file({"server": "https://it2.example.com"})
    assert Settings.load().effective("server_url") == "https://it2.example.com"

    remember_server(Settings.load(), "https://mine.example.com")
    monkeypatch.setenv("TRAYBELL_SERVER", "https://from-env.example.com")
    assert Settings.load().effective("server_url") == "https://mine.example.com"
    # IT's server while TRAYBELL_SERVER names another: kept, or the environment would win.
    remember_server(Settings.load(), "https://it2.example.com")
    assert json.loads(Settings.path().read_text())["server_url"] == "https://it2.example.com"

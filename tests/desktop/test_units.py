"""The client's pure rules and platform pieces: toasts, quiet hours, token storage, autostart,
assets. No server needed."""

import os
import stat
import sys
from datetime import UTC, datetime

import pytest

from desktop import assets
from desktop.platform import autostart, credentials
from desktop.settings import Settings
from desktop.toasts import plan_toasts
from shared.quiet_hours import in_quiet_hours
from tests.desktop.conftest import REPO

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def notification(i: int = 0, **fields):
    return {
        "id": f"00000000-0000-0000-0000-{i:012d}",
        "title": f"t{i}",
        "summary": f"s{i}",
        "body": "BODY",
        "data": {"secret": "DATA"},
        "severity": "info",
        **fields,
    }


def test_toast_carries_title_cut_to_80_and_summary_only():
    """Rule (privacy): a toast carries the title cut to 80 characters and the summary, never the
    body or data."""
    [toast] = plan_toasts([notification(title="x" * 200)], now=NOW, public_url="http://h")
    assert len(toast.title) == 80 and toast.title.endswith("…")
    assert toast.message == "s0"
    assert "BODY" not in repr(toast) and "DATA" not in repr(toast)


def test_more_than_three_new_make_one_summary_toast():
    """Rule: up to 3 new give one toast each; more give one summary toast."""
    three = plan_toasts([notification(i) for i in range(3)], now=NOW, public_url="http://h")
    assert [t.title for t in three] == ["t0", "t1", "t2"]
    five = plan_toasts([notification(i) for i in range(5)], now=NOW, public_url="http://h")
    assert [t.title for t in five] == ["5 new notifications"]


def test_no_toasts_while_paused_or_in_quiet_hours():
    """Rule: none while paused or in the user's quiet hours (read in their own timezone)."""
    new = [notification()]
    assert plan_toasts(new, now=NOW, public_url="http://h", paused=True) == []
    # 12:00 UTC is 13:00 in Berlin: inside 12:30-14:00 there, outside it in UTC.
    quiet = {"start": "12:30", "end": "14:00", "timezone": "Europe/Berlin"}
    assert plan_toasts(new, now=NOW, public_url="http://h", quiet_hours=quiet) == []
    assert plan_toasts(new, now=NOW, public_url="http://h", quiet_hours=quiet | {"timezone": "UTC"})


def test_quiet_hours_across_midnight():
    """Rule: quiet hours like 22:00-07:00 span midnight."""
    quiet = {"start": "22:00", "end": "07:00", "timezone": "UTC"}
    assert in_quiet_hours(quiet, datetime(2026, 1, 1, 23, 30, tzinfo=UTC))
    assert in_quiet_hours(quiet, datetime(2026, 1, 1, 6, 59, tzinfo=UTC))
    assert not in_quiet_hours(quiet, datetime(2026, 1, 1, 7, 0, tzinfo=UTC))
    assert not in_quiet_hours(None, NOW)


def test_quiet_hours_this_machine_cannot_read_are_no_quiet_hours():
    """Rule (one for the tray and the worker): quiet hours in a zone this machine does not know
    hold nothing, rather than being read in the machine's own zone."""
    all_day = {"start": "00:00", "end": "23:59", "timezone": "Nowhere/Atlantis"}
    assert not in_quiet_hours(all_day, NOW)
    assert plan_toasts([notification()], now=NOW, public_url="http://h", quiet_hours=all_day)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's; Windows uses ACLs")
def test_without_a_keyring_the_token_goes_to_a_user_only_file(private_home):
    """Rule: no keyring backend → the token is kept in a file readable by the user alone, and
    the store says so (the settings dialog shows that text)."""
    store = credentials.store_token("http://127.0.0.1:1", "secret-token")
    assert not store.uses_keyring and "only you can read" in store.description
    path = private_home / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.load_token("http://127.0.0.1:1") == "secret-token"
    shown = credentials.token_store()  # what the settings dialog shows
    assert not shown.uses_keyring and "only you can read" in shown.description
    assert str(path) in shown.description
    credentials.forget_token("http://127.0.0.1:1")
    assert credentials.load_token("http://127.0.0.1:1") is None


def test_settings_never_hold_the_token(private_home):
    """Rule: settings persist under TRAYBELL_HOME, and the token never goes there."""
    settings = Settings.load()
    settings.poll_seconds = 42
    settings.save()
    credentials.store_token(settings.effective("server_url"), "tok-123")
    assert Settings.load().poll_seconds == 42
    assert "tok-123" not in Settings.path().read_text()


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG autostart entry is Linux's")
def test_start_at_login_writes_an_xdg_autostart_entry(tmp_path):
    """Rule: start at login uses the platform's own mechanism; on Linux a .desktop file in the
    XDG autostart directory that starts the tray."""
    autostart.set_enabled(True)
    entry = tmp_path / "config" / "autostart" / "traybell.desktop"
    assert autostart.is_enabled() and entry.exists()
    text = entry.read_text()
    assert "Exec=" in text and "-m desktop tray" in text
    autostart.set_enabled(False)
    assert not autostart.is_enabled() and not entry.exists()


def test_assets_resolve_from_source_and_inside_pyinstaller(monkeypatch, tmp_path):
    """Rule: one asset helper works from a checkout (and a wheel: the icons are the package's
    own data, tests/e2e/test_install_split.py) and inside a PyInstaller bundle, where
    build.spec puts them at the same place under sys._MEIPASS."""
    assert assets.asset_path("icons", "app.svg").is_file()
    assert assets.resources_dir() == REPO / "desktop" / "resources"
    spec = (REPO / "build.spec").read_text()
    assert '(str(ROOT / "desktop" / "resources"), "desktop/resources")' in spec
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    bundled = tmp_path / "desktop" / "resources" / "icons" / "app.svg"
    assert assets.asset_path("icons", "app.svg") == bundled


def test_every_tray_state_has_an_icon_per_theme():
    """Rule: the tray ships an icon for each state in light and dark themes."""
    from desktop.ui.icons import STATES

    for state in STATES:
        for theme in ("light", "dark"):
            assert assets.asset_path("icons", f"tray-{state}-{theme}.svg").is_file()
    assert os.path.getsize(assets.asset_path("icons", "app.ico")) > 0


def test_relative_time_reads_the_same_in_the_tray_and_on_the_web():
    """Rule: one wording of ages (shared/timefmt.py) for the center and the web pages."""
    from datetime import UTC, datetime, timedelta

    from shared.timefmt import relative_time

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    ages = {
        timedelta(seconds=30): "just now",
        timedelta(minutes=5): "5 min ago",
        timedelta(hours=3): "3 h ago",
        timedelta(hours=30): "yesterday",
        timedelta(days=4): "4 days ago",
    }
    for age, wording in ages.items():
        assert relative_time((now - age).isoformat(), now) == wording
    assert relative_time(now - timedelta(days=40), now) == "23 Oct 2026"


def test_modules_imported_under_pyside_leave_no_source_behind(qapp, tmp_path, monkeypatch):
    """Rule (memory): a module imported once the tray's Qt layer is loaded leaves no copy of
    its source in memory (PySide6's `__feature__` hook reads each one; desktop/ui/__init__.py
    keeps it from caching them in linecache), and the hook still learns which modules use
    PySide6."""
    import linecache

    import desktop.ui  # noqa: F401

    feature = sys.modules["shibokensupport.feature"]
    (tmp_path / "uses_qt.py").write_text("import PySide6.QtCore\nVALUE = 1\n")
    (tmp_path / "plain_module.py").write_text("VALUE = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("uses_qt", "plain_module"):
        __import__(name)  # the import statement's way: PySide6 hooks builtins.__import__
        monkeypatch.delitem(sys.modules, name)
    assert str(tmp_path / "uses_qt.py") not in linecache.cache
    assert str(tmp_path / "plain_module.py") not in linecache.cache
    assert feature.pyside_feature_dict["uses_qt"] == 0
    assert feature.pyside_feature_dict["plain_module"] == -1

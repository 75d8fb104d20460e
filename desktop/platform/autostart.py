"""Start at login with each OS's own mechanism, hidden (tray only).

Linux: an XDG autostart `.desktop` file; macOS: a LaunchAgent; Windows: the HKCU Run key.
"""

import contextlib
import os
import sys
from pathlib import Path

APP_ID = "traybell"
LAUNCH_AGENT_LABEL = "org.traybell.tray"
_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def launch_command() -> list[str]:
    """How to start this very client again: the frozen app, or this interpreter."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "tray"]
    return [sys.executable, "-m", "desktop", "tray"]


def _linux_path() -> Path:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "autostart" / f"{APP_ID}.desktop"


def _mac_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


def is_enabled() -> bool:
    if sys.platform == "win32":
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                winreg.QueryValueEx(key, "Traybell")
            return True
        except OSError:
            return False
    path = _mac_path() if sys.platform == "darwin" else _linux_path()
    return path.exists()


def apply(wanted: bool | None) -> None:
    """Make the OS's entry match `wanted` (the effective setting); None leaves it as it is."""
    if wanted is not None and wanted != is_enabled():
        set_enabled(wanted)


def set_enabled(enabled: bool) -> None:
    command = launch_command()
    if sys.platform == "win32":
        import subprocess  # here, as the formats below: every start checks, few ever write

        _set_windows(enabled, subprocess.list2cmdline(command))
    elif sys.platform == "darwin":
        _set_file(_mac_path(), enabled, _launch_agent(command))
    else:
        _set_file(_linux_path(), enabled, _desktop_entry(command).encode())


def _set_windows(enabled: bool, command: str) -> None:
    import winreg

    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
        if enabled:
            winreg.SetValueEx(key, "Traybell", 0, winreg.REG_SZ, command)
        else:
            with contextlib.suppress(FileNotFoundError):  # already off
                winreg.DeleteValue(key, "Traybell")


def _set_file(path: Path, enabled: bool, content: bytes) -> None:
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    else:
        path.unlink(missing_ok=True)


def _desktop_entry(command: list[str]) -> str:
    import shlex

    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Traybell\n"
        "Comment=Notifications in the system tray\n"
        f"Exec={shlex.join(command)}\n"
        "Icon=traybell\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def _launch_agent(command: list[str]) -> bytes:
    import plistlib

    return plistlib.dumps(
        {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": command,
            "RunAtLoad": True,
            # A tray app the user quit stays quit until the next login.
            "KeepAlive": False,
            "ProcessType": "Interactive",
        }
    )

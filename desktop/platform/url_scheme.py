"""`traybell://n/<id>` links: what they mean, and registering this client as their handler.

Linux: a `.desktop` file with `MimeType=x-scheme-handler/traybell` in the user's applications
folder; Windows: `HKCU\\Software\\Classes\\traybell`; macOS: `CFBundleURLTypes` in the app
bundle (build.spec), which the OS reads by itself. The OS starts `traybell tray <link>`; a
tray already running gets the link over the single-instance channel.
"""

import contextlib
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from desktop.platform.autostart import launch_command

SCHEME = "traybell"
DESKTOP_FILE = "traybell-url-handler.desktop"
_WINDOWS_KEY = rf"Software\Classes\{SCHEME}"


def notification_id_of(link: str) -> str | None:
    """The notification id a `traybell://n/<id>` link names, or None for anything else."""
    parts = urlsplit(link.strip())
    if parts.scheme.lower() != SCHEME or parts.netloc.lower() != "n":
        return None
    try:
        return str(uuid.UUID(parts.path.strip("/")))
    except ValueError:
        return None


def register() -> None:
    """Make this client the handler of `traybell://` for the current user (Linux, Windows);
    done at every start, so a moved install or a new interpreter path stays right."""
    command = launch_command()
    if sys.platform == "win32":
        _register_windows(command)
    elif sys.platform != "darwin":
        _register_linux(command)


def _linux_path() -> Path:
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "applications" / DESKTOP_FILE


def desktop_entry(command: list[str]) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Traybell\n"
        "Comment=Opens traybell:// notification links\n"
        f"Exec={shlex.join(command)} %u\n"
        "Icon=traybell\n"
        "Terminal=false\n"
        "NoDisplay=true\n"
        f"MimeType=x-scheme-handler/{SCHEME};\n"
    )


def _register_linux(command: list[str]) -> None:
    path = _linux_path()
    content = desktop_entry(command)
    if path.exists() and path.read_text() == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    # Tells xdg-open (and the desktop) which entry handles the scheme; where xdg-utils is
    # missing the MimeType line still serves desktops that scan the folder.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            ["xdg-mime", "default", DESKTOP_FILE, f"x-scheme-handler/{SCHEME}"],
            check=False,
            capture_output=True,
            timeout=10,
        )


def _register_windows(command: list[str]) -> None:
    import winreg

    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _WINDOWS_KEY) as key:
        winreg.SetValueEx(key, "", 0, winreg.REG_SZ, "URL:Traybell notification")
        winreg.SetValueEx(key, "URL Protocol", 0, winreg.REG_SZ, "")
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _WINDOWS_KEY + r"\shell\open\command") as key:
        winreg.SetValueEx(key, "", 0, winreg.REG_SZ, subprocess.list2cmdline(command) + ' "%1"')

"""Where the tray keeps its files, and that they are the user's alone.

The cache holds notification bodies and data, the logs say who signed in where: both, and the
folder they are in (TRAYBELL_HOME), are private to the user (0600 files, 0700 folders) where
the OS has modes. On Windows the user's profile folders are the user's by their ACL already.
"""

import os
from pathlib import Path

from shared.paths import traybell_home

_HAS_MODES = os.name == "posix"


def private_dir(path: Path) -> Path:
    """`path` made if missing, and readable by the user only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _HAS_MODES:
        path.chmod(0o700)  # made by an earlier version, or by mkdir under another umask
    return path


def private_file(path: Path) -> Path:
    """`path` made empty if missing, and readable by the user only. Made with its mode, so no
    moment exists in which another user could open it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    if _HAS_MODES:
        path.chmod(0o600)
    return path


def home() -> Path:
    return private_dir(traybell_home())


def cache_path() -> Path:
    """The SQLite cache the tray and `traybell tray --once` share."""
    return home() / "desktop-cache.sqlite3"


def log_dir() -> Path:
    return private_dir(home() / "logs")

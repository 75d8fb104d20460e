"""Where Traybell keeps its files on this machine."""

import os
from pathlib import Path

import platformdirs


def traybell_home(*, create: bool = True) -> Path:
    """`TRAYBELL_HOME`, else the platform's user data dir; created on first use unless
    `create` is False (a look whether something is there must leave nothing behind)."""
    home = Path(os.environ.get("TRAYBELL_HOME") or platformdirs.user_data_dir("traybell"))
    if create:
        home.mkdir(parents=True, exist_ok=True)
    return home

"""Where Traybell keeps its files on this machine."""

import os
from pathlib import Path

import platformdirs


def traybell_home() -> Path:
    """`TRAYBELL_HOME`, else the platform's user data dir; created on first use."""
    home = Path(os.environ.get("TRAYBELL_HOME") or platformdirs.user_data_dir("traybell"))
    home.mkdir(parents=True, exist_ok=True)
    return home

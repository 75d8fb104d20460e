"""Where the tray's icons are: desktop/resources, which ships inside the package (package data in
the wheel, `datas` in build.spec), so one lookup serves a checkout, a pip install and the
PyInstaller bundle."""

import sys
from pathlib import Path


def resources_dir() -> Path:
    # PyInstaller unpacks `datas` under sys._MEIPASS; build.spec puts desktop/resources at
    # the same place relative to it as in the package.
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "desktop" / "resources"
    return Path(__file__).resolve().parent / "resources"


def asset_path(*parts: str) -> Path:
    """`asset_path("icons", "app.svg")`: the file, wherever the app runs from."""
    return resources_dir().joinpath(*parts)

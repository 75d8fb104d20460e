"""Where the bundled resources are, from a source checkout and inside a PyInstaller build."""

import sys
from pathlib import Path


def resources_dir() -> Path:
    # PyInstaller unpacks `datas` under sys._MEIPASS; build.spec puts resources/ there.
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def asset_path(*parts: str) -> Path:
    """`asset_path("icons", "app.svg")`: the file, wherever the app runs from."""
    return resources_dir().joinpath(*parts)

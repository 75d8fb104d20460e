"""What an operator meets: versions, start-up failures in one line, upgrades and restores."""

import re
from pathlib import Path

import httpx

from shared.version import VERSION
from tests.e2e.test_cli import traybell

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_the_api_document_and_the_changelog_name_one_version(live_server):
    """Versions: `traybell --version`, /openapi.json's info.version and the newest CHANGELOG
    section all say the package's version (shared/version.py, which pyproject.toml reads)."""
    printed = traybell("--version")
    assert printed.returncode == 0 and printed.stdout.strip() == f"traybell {VERSION}"
    document = httpx.get(live_server.url + "/openapi.json").json()
    assert document["info"]["version"] == VERSION
    changelog = (ROOT / "CHANGELOG.md").read_text()
    newest = re.search(r"^## (\S+)", changelog, re.MULTILINE)
    assert newest is not None and newest.group(1) == VERSION
    assert 'version = {attr = "shared.version.VERSION"}' in (ROOT / "pyproject.toml").read_text()

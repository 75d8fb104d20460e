"""What an operator meets: versions, start-up failures in one line, upgrades and restores."""

import re
from pathlib import Path

import httpx

from shared.version import VERSION
from tests.e2e.test_cli import traybell
from tests.support.db import db_fetch

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


def test_an_older_release_stops_with_exit_2_saying_the_database_is_newer(database_url):
    """Upgrades: `migrate` (as `serve` and `worker`) of a release older than the one that
    applied the database's function files exits 2 with one line, and replaces nothing."""
    db_fetch(
        database_url,
        "UPDATE schema_migrations SET release = '99.0.0' WHERE name LIKE 'functions/%'",
    )
    for command in (["migrate"], ["worker"]):
        refused = traybell(*command, env={"DATABASE_URL": database_url})
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == [
            f"traybell: the database is newer than this release: its rules were applied by "
            f"release 99.0.0, this is {VERSION}; run release 99.0.0 or later (to go back to "
            "this release, restore the backup taken before the upgrade: docs/DEPLOY.md)"
        ]

"""What an operator meets: versions, start-up failures in one line, upgrades and restores."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from shared.version import VERSION
from tests.e2e.test_cli import traybell
from tests.support.db import db_fetch
from tests.support.pg import free_port

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


def _one_line(result: subprocess.CompletedProcess, status: int) -> str:
    """A start-up failure as the contract has it: exit `status`, one line, no traceback."""
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("traybell: "), result.stderr
    return lines[0]


def test_a_port_in_use_is_one_line_and_exit_3_before_serving(database_url):
    """Start-up failures: a taken port names --port and exits 3, without "serving on"."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = traybell("serve", "--port", str(port), env={"DATABASE_URL": database_url})
    assert _one_line(result, 3) == (
        f"traybell: --port {port}: 127.0.0.1:{port} is in use; stop what listens there or"
        " choose another --port"
    )


def test_a_database_that_does_not_answer_is_one_line_and_exit_4():
    """Start-up failures: an unreachable database names DATABASE_URL and where it points."""
    port = free_port()
    result = traybell("worker", env={"DATABASE_URL": f"postgresql://u:secret@127.0.0.1:{port}/db"})
    line = _one_line(result, 4)
    assert line.startswith(f"traybell: DATABASE_URL: the database at 127.0.0.1:{port} does not")
    assert "secret" not in line


def test_settings_naming_missing_files_are_one_line_and_exit_2(database_url, tmp_path):
    """Start-up failures: a missing PROMETHEUS_MULTIPROC_DIR, and sslmode=verify-full whose
    root certificate is missing, each name the setting and the fix and exit 2."""
    missing = tmp_path / "metrics"
    result = traybell(
        "serve", "--port", str(free_port()),
        env={"DATABASE_URL": database_url, "PROMETHEUS_MULTIPROC_DIR": str(missing)},
    )  # fmt: skip
    assert f"PROMETHEUS_MULTIPROC_DIR={missing} is not a folder" in _one_line(result, 2)

    result = traybell(
        "migrate",
        env={"DATABASE_URL": database_url + "?sslmode=verify-full", "HOME": str(tmp_path)},
    )
    line = _one_line(result, 2)
    assert line.startswith("traybell: DATABASE_URL: root certificate file")
    assert "sslrootcert=" in line


def test_admin_commands_without_a_database_say_so_and_create_nothing(tmp_path):
    """Admin commands with neither DATABASE_URL nor an embedded database under TRAYBELL_HOME
    exit 2 saying what is missing, and leave nothing behind (no new, empty database)."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "TRAYBELL_HOME": str(home)
    }
    for command in (["create-user", "alice", "--admin"], ["invite", "alice"]):
        result = subprocess.run(
            [sys.executable, "-m", "traybell", "admin", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert "DATABASE_URL is unset and there is no embedded database" in _one_line(result, 2)
    assert not home.exists()


def test_tokens_can_be_listed_created_and_revoked_from_the_command_line(live_server, database_url):
    """Token rotation: `admin tokens list` shows each token's id, user, scope and last use
    (never the token), `tokens create` makes one that works, `tokens revoke` ends the old one
    (401 at once), and an unknown id exits 1."""
    env = {"DATABASE_URL": database_url}
    old = json.loads(traybell("admin", "create-user", "rota", "--token", env=env).stdout)["token"]
    with live_server.client(old) as client:
        assert client.get("/v1/me").status_code == 200
    made = traybell("admin", "tokens", "create", "rota", env=env)
    assert made.returncode == 0, made.stderr
    new = json.loads(made.stdout)
    listed = traybell("admin", "tokens", "list", "--user", "rota", env=env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["token_id"] for row in rows] == [new["token_id"], rows[1]["token_id"]]
    assert {row["user_id"] for row in rows} == {"rota"} and {r["scope"] for r in rows} == {"user"}
    assert old not in listed.stdout and new["token"] not in listed.stdout
    assert rows[1]["last_used_at"] is not None  # the old one was used above

    revoked = traybell("admin", "tokens", "revoke", rows[1]["token_id"], env=env)
    assert revoked.returncode == 0, revoked.stderr
    with live_server.client(old) as client:
        assert client.get("/v1/me").status_code == 401
    with live_server.client(new["token"]) as client:
        assert client.get("/v1/me").status_code == 200
    everyone = traybell("admin", "tokens", "list", env=env).stdout.splitlines()
    assert len(everyone) == 2  # rota's new one and the test server's admin token
    unknown = traybell("admin", "tokens", "revoke", rows[1]["token_id"], env=env)
    assert unknown.returncode == 1

"""The command line: every command documented, admin create-user, send, and the demo."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.db import db_fetch
from tests.support.pg import free_port
from tests.support.waiting import wait_until
from traybell.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def traybell(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "traybell", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def test_every_command_is_in_the_readme():
    """Each subcommand of the CLI is documented in the README."""
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name in commands:
        assert f"traybell {name}" in readme, f"`traybell {name}` is not in the README"


def test_every_setting_is_in_the_readme():
    """Each environment variable the code reads is documented in the README."""
    readme = (ROOT / "README.md").read_text()
    packages = ("server", "desktop", "shared", "traybell")
    sources = "".join(p.read_text() for pkg in packages for p in (ROOT / pkg).rglob("*.py"))
    for name in set(re.findall(r"\b(TRAYBELL_[A-Z_]+|DATABASE_URL)\b", sources)):
        assert name in readme, f"{name} is not in the README"


def test_create_user_prints_one_json_line_and_refuses_a_taken_id(database_url):
    """`admin create-user` prints {"user_id"}, and {"user_id", "token"} only with --token (no
    live token nobody asked for, and none made); an existing id exits 1 with a message."""
    env = {"DATABASE_URL": database_url}
    created = traybell("admin", "create-user", "bo", env=env)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout) == {"user_id": "bo"}
    assert db_fetch(database_url, "SELECT 1 FROM api_tokens WHERE user_id = 'bo'") == []
    created = traybell(
        "admin", "create-user", "ana", "--email", "ana@example.com", "--admin", "--token", env=env
    )
    assert created.returncode == 0, created.stderr
    line = json.loads(created.stdout.strip())
    assert line["user_id"] == "ana" and line["token"].startswith("tb_")
    again = traybell("admin", "create-user", "ana", env=env)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_send_through_the_api(live_server):
    """`traybell send` posts through the HTTP API and prints the JSON reply."""
    user, token = live_server.create_user()
    sent = traybell(
        "send",
        "--server",
        live_server.url,
        "--token",
        live_server.admin_token,
        "--to",
        user,
        "--title",
        "Deploy finished",
        "--summary",
        "v2.3 is live",
        "--severity",
        "success",
        "--resource-id",
        "deploy-23",
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["inserted"] == 1
    with live_server.client(token) as client:
        [stored] = client.get("/v1/notifications").json()["notifications"]
    assert stored["title"] == "Deploy finished" and stored["event_name"] == "admin.message"

    refused = traybell(
        "send", "--server", live_server.url, "--token", token, "--to", user, "--title", "x"
    )
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "forbidden"


def test_send_to_a_team_and_to_user_ids_side_by_side(live_server):
    """`traybell send --to team:payments bob`: addresses go out as `to`, a plain id beside
    them as `user:<id>`; the reply lists each person once, with the team's audience."""
    alice, alice_token = live_server.create_user()
    bob, _ = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        admin.post("/v1/admin/teams", json={"team_id": "payments"}).raise_for_status()
        admin.put(f"/v1/admin/teams/payments/members/{alice}").raise_for_status()
    sent = traybell(
        "send",
        "--server",
        live_server.url,
        "--token",
        live_server.admin_token,
        "--to",
        "team:payments",
        bob,
        "--title",
        "Card payments failing",
        "--topic",
        "billing",
    )
    assert sent.returncode == 0, sent.stderr
    assert sorted(r["user_id"] for r in json.loads(sent.stdout)["results"]) == sorted([alice, bob])
    with live_server.client(alice_token) as client:
        [stored] = client.get("/v1/notifications").json()["notifications"]
    assert (stored["audience"], stored["topic"]) == ("team:payments", "billing")


def test_bad_configuration_is_a_clear_error():
    """A setting that is not a number stops the command with its name, not a traceback."""
    result = traybell("migrate", env={"TRAYBELL_MAX_ATTEMPTS": "many"})
    assert result.returncode == 2
    assert "TRAYBELL_MAX_ATTEMPTS" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "0"]])
def test_migrate_and_serve_refuse_a_changed_migration_with_exit_2(command, database_url):
    """`migrate` and `serve` refuse a database whose applied migration has changed since: exit
    2, the file named, no traceback, nothing served."""
    db_fetch(
        database_url,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE name = '0001_initial.sql'",
    )
    result = traybell(*command, env={"DATABASE_URL": database_url}, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "0001_initial.sql" in result.stderr and "Traceback" not in result.stderr
    assert "serving on" not in result.stderr


@pytest.mark.timeout(240)
def test_demo_runs_on_the_embedded_database_and_stops_cleanly(tmp_path):
    """`traybell demo` with DATABASE_URL unset starts embedded PostgreSQL, the API and a worker;
    SIGTERM stops all of them, the embedded database included."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["TRAYBELL_HOME"] = str(tmp_path)
    demo = subprocess.Popen(
        [sys.executable, "-m", "traybell", "demo", "--no-tray", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    output = []
    try:
        for line in demo.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(output)
        tokens = dict(re.findall(r"(admin|user) token:\s+(\S+)", text))
        assert set(tokens) == {"admin", "user"}, text
        admin_token, user_token = tokens["admin"], tokens["user"]
        url = f"http://127.0.0.1:{port}"
        # the printed password opens the web pages
        password = re.search(r"sign in as demo with password (\S+)", text).group(1)
        with httpx.Client(base_url=url) as web:
            form = web.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            signed_in = web.post(
                "/login", data={"login": "demo", "password": password, "csrf_token": csrf}
            )
            assert signed_in.status_code == 303, signed_in.text
            assert "Disk almost full on db-1" in web.get("/").text
        unread = httpx.get(
            url + "/v1/notifications/unread-count",
            headers={"Authorization": f"Bearer {user_token}"},
        ).json()
        assert unread == {"unread": 3}
        sent = traybell(
            "send",
            "--server",
            url,
            "--token",
            admin_token,
            "--to",
            "demo",
            "--title",
            "From the test",
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert (tmp_path / "pgdata" / "postmaster.pid").exists()
    finally:
        demo.send_signal(signal.SIGTERM)
        rest, _ = demo.communicate(timeout=120)
    assert demo.returncode == 0, "".join(output) + rest
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL still runs"


def _serve_embedded(home: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "TRAYBELL_HOME": str(home)
    }
    log = home / f"serve-{port}.log"  # what it said, for the message of a failure
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "traybell", "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )

    def ready() -> bool:
        assert server.poll() is None, f"traybell serve exited early: {log.read_text()[-3000:]}"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 120, "traybell serve to be ready")
    return server


@pytest.mark.timeout(240)
def test_serve_stops_the_embedded_database_on_sigterm_even_after_a_crash(tmp_path):
    """SIGTERM stops `traybell serve` and its embedded PostgreSQL, also when an earlier server on
    the same data directory was killed and never released it; a command run meanwhile joins
    the running database and logs "joining", not "starting"."""
    crashed = _serve_embedded(tmp_path, free_port())
    crashed.kill()
    crashed.wait(30)
    assert (tmp_path / "pgdata" / "postmaster.pid").exists()  # the killed one left it running

    server = _serve_embedded(tmp_path, free_port())
    # A command on the running database joins it and says so (item: no "starting" when joining).
    joined = subprocess.run(
        [sys.executable, "-m", "traybell", "admin", "invite", "nobody"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        | {"TRAYBELL_HOME": str(tmp_path)},
        timeout=120,
    )
    assert joined.returncode == 1 and "joining the embedded PostgreSQL" in joined.stderr
    assert "starting the embedded PostgreSQL" not in joined.stderr
    server.send_signal(signal.SIGTERM)
    assert server.wait(60) == 0
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL still runs"


def test_send_at_and_at_local_schedule_through_the_api(live_server):
    """`traybell send --at` schedules for an instant with its offset, `--at-local` for a
    wall-clock time in each recipient's zone: each prints the 202 reply's schedule; a time
    the server refuses is its 422 and exit 1."""
    user, _ = live_server.create_user()
    base = ["send", "--server", live_server.url, "--token", live_server.admin_token]
    at = traybell(*base, "--to", user, "--title", "Standup", "--at", "2027-01-04T09:00+05:30")
    assert at.returncode == 0, at.stderr
    assert json.loads(at.stdout)["schedule"]["send_at"] == "2027-01-04T03:30:00+00:00"
    local = traybell(*base, "--to", user, "--title", "Standup", "--at-local", "2027-01-04T09:00")
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["schedule"]["send_at_local"] == "2027-01-04T09:00"
    bad = traybell(*base, "--to", user, "--title", "Standup", "--at", "2027-01-04T09:00")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"]["code"] == "validation_failed"

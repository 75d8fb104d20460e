"""`traybell demo`: the whole product on one machine, with a demo admin and a demo user."""

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from server.accounts import Accounts
from server.audit import CLI
from server.config import Settings
from server.db import create_pool
from server.db.migrate import migrate_or_exit
from server.embedded import resolve_database_url
from server.errors import Conflict
from server.service import Service

DEMO_ADMIN = "demo-admin"
DEMO_USER = "demo"

DEMO_NOTIFICATIONS = [
    {
        "title": "Welcome to Traybell",
        "summary": "Your notifications arrive here and in the tray.",
        "severity": "success",
        "event_name": "demo.welcome",
        "resource_id": "welcome",
    },
    {
        "title": "Nightly build failed on main",
        "summary": "3 tests failed in checkout",
        "body": "Full log with internal hostnames stays in-app.",
        "severity": "warning",
        "event_name": "ci.build_failed",
        "resource_id": "build-1042",
        "target_url": "/builds/1042",
    },
    {
        "title": "Disk almost full on db-1",
        "summary": "92 % used",
        "severity": "critical",
        "event_name": "ops.disk",
        "resource_id": "db-1-disk",
    },
]


def _say(message: str) -> None:
    print(f"traybell demo: {message}", flush=True)


@dataclass(frozen=True)
class DemoAccount:
    token: str
    password: str  # for the web pages; a new one each run, like the token


async def _demo_accounts(database_url: str, settings: Settings) -> dict[str, DemoAccount]:
    """A fresh token and password for each demo account, creating the accounts on the first run."""
    pool = await create_pool(database_url, min_size=1, max_size=2)
    service, accounts = Service(pool, settings), Accounts(pool, settings)
    found = {}
    try:
        for user_id, is_admin in ((DEMO_ADMIN, True), (DEMO_USER, False)):
            scope = "admin" if is_admin else "user"
            try:
                _, token, _ = await service.create_user(
                    user_id,
                    email=None,
                    display_name=user_id.title(),
                    is_admin=is_admin,
                    actor=CLI,
                    token_scope=scope,
                )
            except Conflict:
                token, _ = await service.create_token(user_id, CLI, scope)
            password = secrets.token_urlsafe(9)
            await accounts.set_password(user_id, password, CLI)
            found[user_id] = DemoAccount(str(token), password)
    finally:
        await pool.close()
    return found


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _wait_ready(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API server exited with status {server.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API server did not become ready within {timeout:.0f} s")


def start_tray(traybell: list[str], url: str, token: str, env: dict[str, str]) -> subprocess.Popen:
    """The tray client signed in with `token`. The token goes in the child's environment,
    which only this user can read, never on its command line, which `ps` shows to everyone."""
    return subprocess.Popen(
        [*traybell, "tray", "--server", url], env={**env, "TRAYBELL_TOKEN": token}
    )


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def run_demo(settings: Settings, *, port: int, tray: bool) -> int:
    if not settings.database_url:
        _say("starting the embedded PostgreSQL (DATABASE_URL is unset) …")
    database_url = resolve_database_url(settings.database_url)
    applied = migrate_or_exit(settings.session_url(database_url))
    _say(f"database ready ({len(applied)} migration(s) applied now)")
    demo = asyncio.run(_demo_accounts(database_url, settings))
    tokens = {user_id: account.token for user_id, account in demo.items()}

    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url}
    if "TRAYBELL_PUBLIC_URL" not in os.environ:
        env["TRAYBELL_PUBLIC_URL"] = url
    traybell = [sys.executable, "-m", "traybell"]
    processes: list[subprocess.Popen] = []
    # SIGTERM ends the demo like Ctrl-C: children first, then the embedded database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        _say(f"starting the API server on {url} …")
        server = subprocess.Popen([*traybell, "serve", "--port", str(port)], env=env)
        processes.append(server)
        _wait_ready(url, server)
        _say("starting a delivery worker …")
        processes.append(subprocess.Popen([*traybell, "worker"], env=env))

        headers = {"Authorization": f"Bearer {tokens[DEMO_ADMIN]}"}
        for notification in DEMO_NOTIFICATIONS:
            httpx.post(
                url + "/v1/notifications",
                json={"user_id": DEMO_USER, **notification},
                headers=headers,
                timeout=10,
            ).raise_for_status()

        if tray and _has_display():
            _say("starting the tray client as the demo user …")
            processes.append(start_tray(traybell, url, tokens[DEMO_USER], env))
        elif tray:
            _say("no display found: the tray client is not started")

        print(
            f"""
  Traybell is running.
    Web:          {url}/login
                  sign in as {DEMO_USER} with password {demo[DEMO_USER].password}
                  or as {DEMO_ADMIN} with password {demo[DEMO_ADMIN].password} (admin console)
    API:          {url}   (OpenAPI: {url}/docs)
    admin token:  {tokens[DEMO_ADMIN]}
    user token:   {tokens[DEMO_USER]}   (user id: {DEMO_USER})
    database:     {
                "embedded, under " + str(Path(database_url.split("host=")[-1]).parent)
                if not settings.database_url
                else "DATABASE_URL"
            }

  Try (the token in the environment, where `ps` does not show it):
    TRAYBELL_TOKEN={tokens[DEMO_ADMIN]} traybell send --server {url} --to {DEMO_USER} \\
        --title "Hello" --summary "from the command line" --severity warning
    TRAYBELL_TOKEN={tokens[DEMO_USER]} traybell tray --once --server {url}

  Ctrl-C stops everything.
""",
            flush=True,
        )
        while all(p.poll() is None for p in processes[:2]):
            time.sleep(0.5)
        _say("a server process exited; stopping the demo")
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        _say(str(exc))
        return 1
    finally:
        _say("stopping …")
        _stop(processes)

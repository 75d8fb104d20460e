"""Past one database's connection budget: the server and the workers through PgBouncer in
transaction mode (docs/SCALING.md)."""

import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.config import Settings
from tests.support.db import db_fetch
from tests.support.live import create_users_directly
from tests.support.pg import PostgresCluster, free_port
from tests.support.pgbouncer import PgBouncer
from tests.support.waiting import wait_until
from tests.worker.support import SmtpServer, deliveries, worker_env

ROOT = Path(__file__).resolve().parents[2]
#: Fewer server connections than the server's pool and the worker's together keep open, so
#: their transactions must share them.
POOL_SIZE = 2
SENDS = 40


@pytest.fixture
def pgbouncer(pg_cluster: PostgresCluster) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(pg_cluster, pool_size=POOL_SIZE)
    yield bouncer
    bouncer.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def _process(command: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "traybell", command, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _listening(database_url: str) -> set[str]:
    """The channels this database's sessions LISTEN on (their last statement)."""
    rows = db_fetch(
        database_url,
        "SELECT query FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    )
    return {row["query"].split()[1].strip('";') for row in rows}


async def _send_at_once(url: str, token: str, user: str) -> list[int]:
    async with httpx.AsyncClient(
        base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        replies = await asyncio.gather(
            *(
                client.post(
                    "/v1/notifications",
                    json={
                        "user_id": user,
                        "event_name": "deploy.failed",
                        "title": f"Deploy {n} failed",
                        "severity": "warning",
                        "resource_id": f"deploy-{n}",
                    },
                )
                for n in range(SENDS)
            )
        )
    return [reply.status_code for reply in replies]


def test_server_and_worker_run_through_pgbouncer_in_transaction_mode(
    database_url: str, settings: Settings, pgbouncer: PgBouncer, smtp: SmtpServer
):
    """With DATABASE_URL at PgBouncer in transaction mode and TRAYBELL_DIRECT_DATABASE_URL at
    PostgreSQL, `traybell serve` and `traybell worker` start, concurrent sends commit in
    batches, the sync returns them, both LISTEN on the direct connection, the worker claims
    and sends every email, and the statements went through the pooler's
    `POOL_SIZE` server connections. asyncpg's statement cache left on, a statement prepared in
    one transaction is missing in the next one's server connection and requests fail."""
    database = database_url.rsplit("/", 1)[1]
    [admin] = create_users_directly(database_url, ["pooled-admin"], admin=True)
    [reader] = create_users_directly(
        database_url,
        ["pooled-reader"],
        preferences_of=lambda user: {"email_enabled": True, "email": f"{user}@example.com"},
    )
    env = worker_env(
        pgbouncer.url(database),
        dataclasses.replace(settings, smtp_url=smtp.url, email_per_minute=SENDS),
    )
    env["TRAYBELL_DIRECT_DATABASE_URL"] = database_url
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _process("serve", env, "--port", str(port))
    worker = _process("worker", env)
    try:
        wait_until(lambda: _answers(url) or server.poll() is not None, what="the server")
        assert server.poll() is None, "the server stopped"
        wait_until(
            lambda: _listening(database_url) == {"traybell_changes", "traybell_deliveries"},
            what="the server's and the worker's LISTEN on the direct connection",
        )

        statuses = asyncio.run(_send_at_once(url, admin, "pooled-reader"))
        assert statuses == [201] * SENDS
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {reader}"}) as client:
            page = client.get("/v1/sync", params={"limit": 500}).json()
        assert len(page["changes"]) == SENDS

        smtp.mailbox.wait_for(SENDS, timeout=60)
        wait_until(
            lambda: all(d["status"] == "sent" for d in deliveries(database_url, "pooled-reader")),
            what="every delivery recorded as sent",
        )

        [pool] = [p for p in pgbouncer.show("POOLS") if p["database"] == database]
        assert int(pool["sv_active"]) + int(pool["sv_idle"]) + int(pool["sv_used"]) <= POOL_SIZE
        [stats] = [s for s in pgbouncer.show("STATS") if s["database"] == database]
        assert int(stats["total_xact_count"]) > SENDS
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(60)

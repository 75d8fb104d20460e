"""The database to use: `DATABASE_URL`, or an embedded PostgreSQL under `TRAYBELL_HOME`."""

import json
import logging
from pathlib import Path

import asyncpg
import psutil

from shared.paths import traybell_home

log = logging.getLogger(__name__)

DATABASE_NAME = "traybell"


def start_embedded() -> str:
    """Start (or join) the embedded PostgreSQL and return its URL for the `traybell` database.

    The server stops when the last process that started or joined it exits, so `serve`,
    `worker` and `demo` can share one data directory.
    """
    import pgserver  # imported here: only the embedded mode needs its binaries

    pgdata = traybell_home() / "pgdata"
    log.info("starting embedded PostgreSQL in %s", pgdata)
    _forget_dead_holders(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(DATABASE_NAME)


def _forget_dead_holders(pgdata: Path) -> None:
    """pgserver stops the database when its last holder exits, counting holders by pid in a
    file; a holder that was killed never removes itself, and the database would then outlive
    every later run. Drop the pids that no longer run."""
    holders = pgdata / ".handle_pids.json"
    if holders.exists():
        alive = [pid for pid in json.loads(holders.read_text()) if psutil.pid_exists(pid)]
        holders.write_text(json.dumps(alive))


def resolve_database_url(database_url: str | None) -> str:
    return database_url or start_embedded()


async def database_answers(dsn: str, timeout: float = 5.0) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True

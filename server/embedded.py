"""The database to use: `DATABASE_URL`, or an embedded PostgreSQL under `TRAYBELL_HOME`."""

import logging

import asyncpg

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
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(DATABASE_NAME)


def resolve_database_url(database_url: str | None) -> str:
    return database_url or start_embedded()


async def database_answers(dsn: str, timeout: float = 5.0) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True

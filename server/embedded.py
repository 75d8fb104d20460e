"""The database to use: `DATABASE_URL`, or an embedded PostgreSQL under `TRAYBELL_HOME`."""

import json
import logging
from pathlib import Path

import psutil

from server.exits import StartupFailure
from shared.paths import traybell_home

log = logging.getLogger(__name__)

DATABASE_NAME = "traybell"


def resolve_database_url(database_url: str | None, *, create: bool = True) -> str:
    """`database_url` (DATABASE_URL), else the embedded database, started or joined. With
    `create` False (the admin commands) an embedded database that does not exist yet is a
    StartupFailure, not a new, empty one that no server uses."""
    if database_url:
        return database_url
    pgdata = traybell_home(create=create) / "pgdata"
    if not create and not (pgdata / "PG_VERSION").exists():
        raise StartupFailure(
            f"no database: DATABASE_URL is unset and there is no embedded database in {pgdata};"
            " set DATABASE_URL as the server has it (its environment file), or set"
            " TRAYBELL_HOME to the embedded database's home"
        )
    return _start_embedded(pgdata)


def _start_embedded(pgdata: Path) -> str:
    """Start (or join) the embedded PostgreSQL and return its URL for the `traybell` database.

    The server stops when the last process that started or joined it exits, so `serve`,
    `worker` and `demo` can share one data directory.
    """
    import pgserver  # imported here: only the embedded mode needs its binaries

    _forget_dead_holders(pgdata)
    verb = "joining" if _running(pgdata) else "starting"
    log.info("%s the embedded PostgreSQL in %s", verb, pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(DATABASE_NAME)


def _running(pgdata: Path) -> bool:
    """Whether a postmaster serves `pgdata` now (its pid file names a live process)."""
    try:
        return psutil.pid_exists(int((pgdata / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return False


def _forget_dead_holders(pgdata: Path) -> None:
    """pgserver stops the database when its last holder exits, counting holders by pid in a
    file; a holder that was killed never removes itself, and the database would then outlive
    every later run. Drop the pids that no longer run."""
    holders = pgdata / ".handle_pids.json"
    if holders.exists():
        alive = [pid for pid in json.loads(holders.read_text()) if psutil.pid_exists(pid)]
        holders.write_text(json.dumps(alive))

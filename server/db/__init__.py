"""The database layer: the connection pool, named queries and migrations. All SQL lives here."""

import json
from pathlib import Path
from typing import Any

import aiosql
import asyncpg

SQL_DIR = Path(__file__).parent

#: Every query of the server and the worker, by name: ``await queries.get_notification(conn, ...)``.
queries = aiosql.from_path(SQL_DIR / "queries.sql", "asyncpg", mandatory_parameters=False)

#: Errors that mean "the database is not answering", as opposed to a bad statement.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    # what a connection that broke in the middle of a statement raises next
    asyncpg.exceptions.InternalClientError,
)


#: asyncpg's own default size of a connection's prepared-statement cache.
ASYNCPG_STATEMENT_CACHE = 100


async def fetch_all(query: Any, conn: Any, **params: Any) -> list[asyncpg.Record]:
    """All rows of a many-row named query (aiosql hands them out as an async generator)."""
    return [row async for row in query(conn, **params)]


async def _init_connection(conn: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await conn.set_type_codec(
            json_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """A single connection that speaks JSON, as the pool's do."""
    conn = await asyncpg.connect(dsn, **kwargs)
    await _init_connection(conn)
    return conn


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No session reset on release: asyncpg still rolls back a transaction left open."""


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    reset_sessions: bool = True,
    statement_cache: bool = True,
) -> asyncpg.Pool:
    """A pool whose connections speak JSON; broken connections are replaced on next use.

    With `reset_sessions=False` a released connection skips asyncpg's session reset (RESET ALL,
    UNLISTEN *, advisory unlock: one round trip per release). Only for code that never changes
    session state, listens or takes advisory locks on pooled connections: the API server.
    `statement_cache=False` behind PgBouncer in transaction mode (Settings.statement_cache):
    a statement prepared in one transaction would be missing on the next one's connection.
    """
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        statement_cache_size=ASYNCPG_STATEMENT_CACHE if statement_cache else 0,
        # Idle connections are closed so a restarted database is not met with stale sockets.
        max_inactive_connection_lifetime=30,
        reset=None if reset_sessions else _keep_session,
    )

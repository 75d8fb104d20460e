"""Reading the database directly from tests, to check what the API promises was stored."""

import asyncio
from typing import Any

import asyncpg


def db_fetch(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [dict(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def db_value(database_url: str, sql: str, *args: Any) -> Any:
    rows = db_fetch(database_url, sql, *args)
    return next(iter(rows[0].values())) if rows else None

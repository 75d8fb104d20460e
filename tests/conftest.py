"""Fixtures shared by every test: a real PostgreSQL and a real Traybell server on loopback.

One cluster serves the whole session; a migrated template database is cloned for each test
(`CREATE DATABASE ... TEMPLATE`), so every test starts from an empty, fully migrated schema.
"""

import asyncio
import itertools
import os

import asyncpg
import pytest

from server.db.migrate import migrate_url
from tests.support.live import LiveServer, test_settings
from tests.support.pg import PostgresCluster

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEMPLATE = "traybell_template"
_database_numbers = itertools.count()


async def _admin(cluster: PostgresCluster, sql: str) -> None:
    conn = await asyncpg.connect(cluster.url())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_cluster():
    cluster = PostgresCluster()
    cluster.start()
    asyncio.run(_admin(cluster, f"CREATE DATABASE {TEMPLATE}"))
    asyncio.run(migrate_url(cluster.url(TEMPLATE)))
    yield cluster
    cluster.destroy()


@pytest.fixture
def database_url(pg_cluster: PostgresCluster) -> str:
    """A fresh, migrated database of its own for this test."""
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    asyncio.run(_admin(pg_cluster, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    return pg_cluster.url(name)


@pytest.fixture
def empty_database_url(pg_cluster: PostgresCluster) -> str:
    """A database of its own with no schema at all (for tests of the migrations themselves)."""
    name = f"empty_{os.getpid()}_{next(_database_numbers)}"
    asyncio.run(_admin(pg_cluster, f"CREATE DATABASE {name}"))
    return pg_cluster.url(name)


@pytest.fixture
def settings():
    return test_settings()


@pytest.fixture
def live_server(database_url: str):
    """A real Traybell server on 127.0.0.1 over this test's database (see LiveServer)."""
    server = LiveServer(database_url)
    yield server
    server.stop()

"""Fixtures of the server tests that need more than the shared database."""

import asyncio

import pytest

from server.db.migrate import migrate_url
from tests.support.pg import PostgresCluster


@pytest.fixture
def own_cluster():
    """A cluster of this test's own, so stopping or killing it disturbs no other test."""
    cluster = PostgresCluster()
    cluster.start()
    asyncio.run(migrate_url(cluster.url()))
    yield cluster
    cluster.destroy()

"""Migrations are history: a database made by an earlier release upgrades in place to exactly
the schema a fresh one gets, and a numbered migration that changed after it was applied is
refused.

`schema_at/<commit>/` holds the numbered migrations as they were at that commit: the first
release (29b2c26) in full, and for an earlier state only the files that differed then. They are
copies, not `git show` at test time, so that the test needs no repository history (an archive
or a shallow clone has none), and so that they stay the record of what was shipped: the release's
files must never change (test_the_released_migrations_are_unchanged).
"""

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiosql
import asyncpg
import pytest

from server.db import connect, fetch_all, queries
from server.db import migrate as migrations
from server.db.migrate import DatabaseNewer, MigrationChanged, checksum, migrate, migrate_url
from shared.version import VERSION
from tests.support.db import db_fetch

SCHEMA_AT = Path(__file__).with_name("schema_at")
RELEASE = "29b2c26"
catalog = aiosql.from_path(
    Path(__file__).with_name("catalog.sql"), "asyncpg", mandatory_parameters=False
)
CATALOG = (
    "relations",
    "columns",
    "indexes",
    "constraints",
    "functions",
    "triggers",
    "recorded_migrations",
)


def _migrations_at(commit: str) -> list[Path]:
    """The numbered migrations at `commit`: the release's, with the files that differed then."""
    files = {path.name: path for path in (SCHEMA_AT / RELEASE).glob("*.sql")}
    files.update({path.name: path for path in (SCHEMA_AT / commit).glob("*.sql")})
    return [files[name] for name in sorted(files)]


async def _migrate_as_released(conn: asyncpg.Connection, paths: list[Path]) -> None:
    """What the release's own runner did: each file once, in order, its name recorded."""
    await conn.execute(
        "CREATE TABLE schema_migrations ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for path in paths:
        async with conn.transaction():
            await conn.execute(path.read_text(encoding="utf-8"))
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)


async def _catalog(database_url: str) -> dict[str, list[dict[str, Any]]]:
    conn = await asyncpg.connect(database_url)
    try:
        return {
            name: [dict(row) for row in await fetch_all(getattr(catalog, name), conn)]
            for name in CATALOG
        }
    finally:
        await conn.close()


async def _queue_one_email(conn: asyncpg.Connection) -> None:
    """A user with email on and a warning queued for them, through the release's send."""
    await conn.execute("INSERT INTO users (user_id) VALUES ('old-user')")
    await conn.execute(
        "INSERT INTO preferences (user_id, email_enabled, email)"
        " VALUES ('old-user', true, 'old@example.com')"
    )
    await conn.execute(
        "SELECT * FROM send_notification(ARRAY['old-user'], 'old.event', 'Queued before', NULL,"
        " '', NULL, 'warning', '{}', NULL, NULL, NULL, 5, 20, 5)"
    )


@pytest.mark.parametrize("commit", [RELEASE, "19fd52a"])
def test_an_earlier_database_upgrades_to_the_schema_of_a_fresh_one(
    commit, empty_database_url, database_url
):
    """Upgrade in place: a database migrated by the first release (or by the state before it
    whose 0005 had no claim_deliveries()) and holding a queued job gets the same tables,
    columns, indexes, constraints, functions, triggers and migration checksums as a freshly
    migrated one, and its job can be claimed."""

    async def build_and_upgrade() -> None:
        conn = await connect(empty_database_url)
        try:
            await _migrate_as_released(conn, _migrations_at(commit))
            await _queue_one_email(conn)
            applied = await migrate(conn)
            assert "0008_rules_in_function_files.sql" in applied
            claimed = await fetch_all(
                queries.worker_claim,
                conn,
                channels=["email"],
                limit=10,
                lock_timeout_seconds=300,
                email_per_minute=5,
                push_per_minute=20,
                timer_limit=10,
                max_attempts=5,
            )
            jobs = [row for row in claimed if row["timers_released"] is None]
            assert [row["recipients"] for row in jobs] == [["old@example.com"]]
        finally:
            await conn.close()

    asyncio.run(build_and_upgrade())
    upgraded = asyncio.run(_catalog(empty_database_url))
    fresh = asyncio.run(_catalog(database_url))
    for part in CATALOG:
        assert upgraded[part] == fresh[part], f"{part} differ after the upgrade from {commit}"


def test_the_released_migrations_are_unchanged():
    """History: the numbered migrations of the first release are exactly as they were shipped."""
    for released in _migrations_at(RELEASE):
        assert checksum(migrations.MIGRATIONS_DIR / released.name) == checksum(released), (
            f"{released.name} was edited; put the change in a new numbered migration"
        )


def test_a_changed_applied_migration_is_refused_and_nothing_is_applied(database_url):
    """Refusal: when the file of an applied numbered migration no longer matches its checksum,
    migrate raises naming the file, and applies nothing (not even what is pending)."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "UPDATE schema_migrations SET checksum = 'edited'"
                " WHERE name = '0004_notify_when_queued.sql'"
            )
            await conn.execute(
                "DELETE FROM schema_migrations WHERE name = 'functions/sync_versions.sql'"
            )
            with pytest.raises(MigrationChanged, match=r"0004_notify_when_queued\.sql"):
                await migrate(conn)
            names = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            assert "functions/sync_versions.sql" not in names
        finally:
            await conn.close()

    asyncio.run(run())


def test_a_changed_function_file_is_applied_again_alone(database_url, tmp_path, monkeypatch):
    """Repeatable: a functions/ file whose checksum changed is applied again, the others not;
    an unchanged tree applies nothing."""
    functions = tmp_path / "functions"
    shutil.copytree(migrations.FUNCTIONS_DIR, functions)
    monkeypatch.setattr(migrations, "FUNCTIONS_DIR", functions)
    assert asyncio.run(migrate_url(database_url)) == []

    path = functions / "sync_versions.sql"
    path.write_text(path.read_text().replace("A user's sync versions", "The sync versions"))
    assert asyncio.run(migrate_url(database_url)) == ["functions/sync_versions.sql"]
    assert asyncio.run(migrate_url(database_url)) == []


def test_every_applied_file_records_this_release(database_url):
    """Releases: each row of schema_migrations names the release that applied it."""
    releases = db_fetch(database_url, "SELECT DISTINCT release FROM schema_migrations")
    assert releases == [{"release": VERSION}]


def test_an_older_release_refuses_a_database_a_newer_one_migrated(database_url):
    """No silent downgrade: when a newer release applied the function files, migrate raises
    DatabaseNewer naming that release and applies nothing, though the older release's files
    differ from what is recorded."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "UPDATE schema_migrations SET release = '99.0.0', checksum = 'of a newer release'"
                " WHERE name = 'functions/claim_deliveries.sql'"
            )
            with pytest.raises(DatabaseNewer, match=r"99\.0\.0"):
                await migrate(conn)
            row = await conn.fetchrow(
                "SELECT checksum, release FROM schema_migrations"
                " WHERE name = 'functions/claim_deliveries.sql'"
            )
            assert dict(row) == {"checksum": "of a newer release", "release": "99.0.0"}
        finally:
            await conn.close()

    asyncio.run(run())


def test_a_process_of_the_first_release_cannot_put_its_rules_back(database_url):
    """No silent downgrade from 0.1.0, which records no release: its write to
    schema_migrations (its own statement, verbatim) fails, so its transaction, and the older
    function file it applied in it, roll back."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            with pytest.raises(asyncpg.NotNullViolationError):
                await conn.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)"
                    " ON CONFLICT (name) DO UPDATE"
                    " SET checksum = excluded.checksum, applied_at = now()",
                    "functions/claim_deliveries.sql",
                    "of the first release",
                )
        finally:
            await conn.close()

    asyncio.run(run())

"""Brings a database to the current schema: numbered migrations once each, then the rules.

- `migrations/NNNN_*.sql` are history: each is applied once, in order, and its checksum is kept
  in `schema_migrations`. One that was applied and has changed since is refused
  (`MigrationChanged`): a change to the schema is a new numbered file.
- `functions/*.sql` hold the current functions and triggers (the send, the claim, the sync
  versions), each with `CREATE OR REPLACE`, like Flyway's repeatable migrations. A file is
  applied again whenever its checksum changes, and all of them after any numbered migration ran
  (it may have dropped or replaced what they define). A change of a function's arguments or
  result type cannot be a `CREATE OR REPLACE`: drop the old one in a numbered migration.

Everything pending is applied in one transaction: a database is upgraded entirely or not at all,
and servers still running the old code never see the rules half replaced.

Each row of `schema_migrations` records the release that applied it. A release older than one
recorded refuses to run (`DatabaseNewer`) instead of putting its older rules back over the newer
ones while a rolling upgrade is under way (docs/DEPLOY.md, "Upgrading"). The column is NOT NULL,
so a process of 0.1.0, which recorded no release, fails at its first write there and changes
nothing either.
"""

import asyncio
import hashlib
import logging
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from server import exits
from shared.version import VERSION, release_key

log = logging.getLogger(__name__)

DB_DIR = Path(__file__).parent
MIGRATIONS_DIR = DB_DIR / "migrations"
FUNCTIONS_DIR = DB_DIR / "functions"
# Any number of servers and workers may start at once; one of them migrates, the others wait.
_LOCK_ID = 0x7472_6179_6265_6C6C & 0x7FFF_FFFF_FFFF_FFFF
#: The release of the rows recorded before releases were (the only one that recorded none).
_FIRST_RELEASE = "0.1.0"


class MigrationChanged(Exception):
    """A numbered migration applied to this database differs from its file now."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(
            f"migration {', '.join(names)} was changed after it was applied to this database; "
            "restore it as it was and put the change in a new numbered migration"
        )


class DatabaseNewer(Exception):
    """This database was migrated by a newer release than this one."""

    def __init__(self, release: str):
        self.release = release
        super().__init__(
            f"the database is newer than this release: its rules were applied by release "
            f"{release}, this is {VERSION}; run release {release} or later (to go back to "
            "this release, restore the backup taken before the upgrade: docs/DEPLOY.md)"
        )


def available_migrations() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def available_functions() -> list[Path]:
    return sorted(FUNCTIONS_DIR.glob("*.sql"))


def checksum(path: Path) -> str:
    # Line endings do not count: a checkout that converts them has not changed a migration.
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    return hashlib.sha256(text.encode()).hexdigest()


def _function_name(path: Path) -> str:
    """How a functions/ file is named in schema_migrations (numbered ones by their file name)."""
    return f"{FUNCTIONS_DIR.name}/{path.name}"


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply what is pending; returns the names applied now. Raises MigrationChanged."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # Databases migrated before checksums or releases were kept get the columns in place.
        await conn.execute(
            "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text,"
            " ADD COLUMN IF NOT EXISTS release text"
        )
        await conn.execute(
            "UPDATE schema_migrations SET release = $1 WHERE release IS NULL", _FIRST_RELEASE
        )
        await conn.execute("ALTER TABLE schema_migrations ALTER COLUMN release SET NOT NULL")
        rows = await conn.fetch("SELECT name, checksum, release FROM schema_migrations")
        _refuse_newer([r["release"] for r in rows])
        recorded = {r["name"]: r["checksum"] for r in rows}
        numbered = [(path.name, path, checksum(path)) for path in available_migrations()]
        _refuse_changed(numbered, recorded)
        _warn_unknown(numbered, recorded)
        await _adopt_unrecorded(conn, numbered, recorded)

        applied_now: list[str] = []
        for name, path, digest in numbered:
            if name not in recorded:
                await _apply(conn, name, path, digest)
                applied_now.append(name)
        schema_changed = bool(applied_now)
        for path in available_functions():
            name, digest = _function_name(path), checksum(path)
            if schema_changed or recorded.get(name) != digest:
                await _apply(conn, name, path, digest)
                applied_now.append(name)
    return applied_now


def _refuse_newer(releases: list[str]) -> None:
    newest = max(releases, key=release_key, default=VERSION)
    if release_key(newest) > release_key(VERSION):
        raise DatabaseNewer(newest)


def _refuse_changed(numbered: list[tuple[str, Path, str]], recorded: dict[str, str | None]) -> None:
    changed = [
        name
        for name, _, digest in numbered
        if recorded.get(name) is not None and recorded[name] != digest
    ]
    if changed:
        raise MigrationChanged(changed)


def _warn_unknown(numbered: list[tuple[str, Path, str]], recorded: dict[str, str | None]) -> None:
    known = {name for name, _, _ in numbered}
    for name in sorted(recorded):
        if name not in known and not name.startswith(f"{FUNCTIONS_DIR.name}/"):
            log.warning("this database has migration %s, which this version does not know", name)


async def _adopt_unrecorded(
    conn: asyncpg.Connection,
    numbered: list[tuple[str, Path, str]],
    recorded: dict[str, str | None],
) -> None:
    """A migration applied before checksums were kept is taken as the file is now.

    What an earlier edit of 0004 or 0005 left behind is no longer a worry: migration 0008 drops
    every function and trigger those files made, and functions/ makes the current ones.
    """
    adopted = [(n, digest) for n, _, digest in numbered if n in recorded and not recorded[n]]
    if adopted:
        log.info("recording the checksums of %d migration(s) applied before", len(adopted))
        await conn.executemany(
            "UPDATE schema_migrations SET checksum = $2 WHERE name = $1", adopted
        )
        recorded.update(adopted)


async def _apply(conn: asyncpg.Connection, name: str, path: Path, digest: str) -> None:
    log.info("applying %s", name)
    await conn.execute(path.read_text(encoding="utf-8"))
    await conn.execute(
        "INSERT INTO schema_migrations (name, checksum, release) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) DO UPDATE"
        " SET checksum = excluded.checksum, release = excluded.release, applied_at = now()",
        name,
        digest,
        VERSION,
    )


async def migrate_url(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def migrate_or_exit(dsn: str, setting: str = "DATABASE_URL") -> list[str]:
    """`migrate` for the commands (serve, worker, migrate, admin, demo) on `dsn`, the value of
    `setting`: returns the names applied now. What keeps the command from starting is a
    StartupFailure naming the setting: a changed migration or a newer database (no restart
    can fix those), a sign-in or TLS setting the database refuses, or a database that does not
    answer."""
    try:
        return asyncio.run(migrate_url(dsn))
    except (MigrationChanged, DatabaseNewer) as exc:
        raise exits.StartupFailure(str(exc)) from None
    except asyncpg.ClientConfigurationError as exc:  # sslmode, sslrootcert and the like
        first_line = str(exc).splitlines()[0]
        raise exits.StartupFailure(
            f"{setting}: {first_line}; with sslmode=verify-ca or verify-full name the CA's"
            f" certificate in {setting} (sslrootcert=/path/to/ca.crt): docs/DEPLOY.md"
        ) from None
    except (
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.InvalidPasswordError,
        asyncpg.InvalidCatalogNameError,
    ) as exc:
        raise exits.StartupFailure(f"{setting}: the database refused it: {exc}") from None
    except ssl.SSLError as exc:  # an OSError, but a setting is wrong: no restart helps
        raise exits.StartupFailure(
            f"{setting}: the TLS connection to the database failed ({exc}); check sslmode and"
            f" sslrootcert in {setting}: docs/DEPLOY.md"
        ) from None
    except (OSError, asyncpg.CannotConnectNowError) as exc:
        where = urlsplit(dsn)
        raise exits.StartupFailure(
            f"{setting}: the database at {where.hostname or 'the local socket'}:"
            f"{where.port or 5432} does not answer ({exc or type(exc).__name__}): start"
            f" PostgreSQL there or correct {setting}",
            exits.DATABASE_UNREACHABLE,
        ) from None

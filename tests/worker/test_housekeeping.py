"""Housekeeping: old rows that nothing reads go, in small batches and one worker at a time;
recent ones and the audit log stay."""

import asyncio

import asyncpg

from server.db import create_pool
from server.worker.housekeeping import prune
from tests.support.db import db_fetch, db_value

AGED = """
UPDATE deliveries SET status = 'sent', updated_at = now() - interval '31 days'
WHERE user_id = $1;
"""
SEED = """
INSERT INTO rate_limits (user_id, channel, window_start, count)
VALUES ($1, 'email', now() - interval '2 days', 1), ($1, 'email', now(), 1);
INSERT INTO web_sessions (session_hash, user_id, expires_at)
VALUES ('\\x01', $1, now() - interval '1 hour'), ('\\x02', $1, now() + interval '1 hour');
INSERT INTO invites (user_id, token_hash, expires_at)
VALUES ($1, '\\x03', now() - interval '1 s'), ($2, '\\x04', now() + interval '1 day');
INSERT INTO device_codes (device_code_hash, user_code, client_name, expires_at)
VALUES ('\\x05', 'BBBBBBBB', 'old', now() - interval '1 s'),
       ('\\x06', 'CCCCCCCC', 'new', now() + interval '10 minutes');
INSERT INTO attempts (key_hash, attempted_at)
VALUES ('\\x07', now() - interval '2 days'), ('\\x08', now());
"""


def _seed(live_server, database_url: str) -> tuple[str, str]:
    old_user, _ = live_server.create_user(email_enabled=True, email="old@example.com")
    new_user, _ = live_server.create_user(email_enabled=True, email="new@example.com")
    for user in (old_user, old_user, old_user, new_user):
        live_server.send(user, severity="warning", batch_key=None)
    db_fetch(database_url, "UPDATE deliveries SET status = 'sent'")
    db_fetch(database_url, AGED.replace("$1", f"'{old_user}'"))

    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            sql = SEED.replace("$1", f"'{old_user}'").replace("$2", f"'{new_user}'")
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(seed())
    return old_user, new_user


def _prune(database_url: str, batch: int) -> int:
    async def run() -> int:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            return await prune(pool, retention_days=30, batch=batch)
        finally:
            await pool.close()

    return asyncio.run(run())


def _left(database_url: str) -> dict[str, int]:
    tables = ("deliveries", "rate_limits", "web_sessions", "invites", "device_codes", "attempts")
    return {t: db_value(database_url, f"SELECT count(*) FROM {t}") for t in tables}


def test_old_rows_go_in_batches_and_recent_ones_and_the_audit_log_stay(live_server, database_url):
    """Sent deliveries past the retention, spent windows, expired sessions, invites and codes
    and old attempts are pruned (here two rows per batch); the rest and every audit event stay."""
    old_user, new_user = _seed(live_server, database_url)
    before = _left(database_url)
    audit_before = db_value(database_url, "SELECT count(*) FROM audit_events")
    old_jobs = db_value(
        database_url, "SELECT count(*) FROM deliveries WHERE user_id = $1", old_user
    )
    assert old_jobs >= 3  # more than a batch

    assert _prune(database_url, batch=2) == old_jobs + 5
    gone = {"deliveries": old_jobs, "rate_limits": 1, "web_sessions": 1, "invites": 1}
    gone |= {"device_codes": 1, "attempts": 1}
    assert _left(database_url) == {table: before[table] - gone[table] for table in before}
    assert db_value(database_url, "SELECT count(*) FROM deliveries WHERE user_id = $1", new_user)
    assert db_value(database_url, "SELECT count(*) FROM audit_events") == audit_before


def test_one_worker_at_a_time(live_server, database_url):
    """While another worker holds the housekeeping lock, a round prunes nothing."""
    _seed(live_server, database_url)
    before = _left(database_url)

    async def while_held() -> int:
        holder = await asyncpg.connect(database_url)
        try:
            async with holder.transaction():
                await holder.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended('traybell housekeeping', 0))"
                )
                pool = await create_pool(database_url, min_size=1, max_size=1)
                try:
                    return await prune(pool, retention_days=30)
                finally:
                    await pool.close()
        finally:
            await holder.close()

    assert asyncio.run(while_held()) == 0
    assert _left(database_url) == before

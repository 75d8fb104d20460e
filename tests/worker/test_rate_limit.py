"""The per-minute rate limit is a hard cap on what leaves, whatever path a message took.

The claim enforces it (server/db/functions/claim_deliveries.sql). Most tests here drive the
claim itself inside one transaction, where now() stands still, so no minute can end halfway;
"a minute passes" moves the user's queue and counters one minute into the past instead.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from server.audit import CLI
from server.db import connect, fetch_all, queries
from tests.support.live import create_users_directly
from tests.worker.support import deliveries, inspect, scalar, text_of, wait_until

PER_MINUTE = {"email_per_minute": 5, "push_per_minute": 20}


def _user(database_url: str, name: str) -> str:
    create_users_directly(
        database_url,
        [name],
        preferences_of=lambda _: {
            "email_enabled": True,
            "email": f"{name}@example.com",
            "digest_seconds": 0,
        },
    )
    return name


async def _send(
    conn: asyncpg.Connection, user: str, title: str, severity="warning", batch_key=None
) -> None:
    await fetch_all(
        queries.send_notification,
        conn,
        user_ids=[user],
        event_name="test.event",
        title=title,
        summary=None,
        body="",
        target_url=None,
        severity=severity,
        data={},
        idempotency_key=None,
        resource_id=None,
        batch_key=batch_key,
        max_attempts=5,
        to=None,
        topic=None,
        **CLI.as_params(),
    )


async def _claim(conn: asyncpg.Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = await fetch_all(
        queries.worker_claim,
        conn,
        channels=["email"],
        limit=limit,
        lock_timeout_seconds=300,
        timer_limit=0,
        max_attempts=5,
        **PER_MINUTE,
    )
    # the row of the timers the same statement released (none here) is not a job
    return [dict(row) for row in rows if row["timers_released"] is None]


async def _queue(conn: asyncpg.Connection, user: str) -> list[dict[str, Any]]:
    return [dict(row) for row in await fetch_all(inspect.deliveries, conn, user_ids=[user])]


def _in_one_transaction(
    database_url: str, scenario: Callable[[asyncpg.Connection], Awaitable[None]]
) -> None:
    async def run() -> None:
        conn = await connect(database_url)
        try:
            async with conn.transaction():
                await scenario(conn)
        finally:
            await conn.close()

    asyncio.run(run())


def test_every_path_counts_toward_one_cap_and_the_rest_is_folded(database_url):
    """Hard cap: single messages, a retry after a failure, an admin's retry, what quiet hours
    held, a batch digest of one and one of three, all due in the same minute: 5 are claimed,
    the other jobs are folded into one overflow digest due at the next minute, carrying every
    notification they had."""
    user = _user(database_url, "paths")

    async def scenario(conn: asyncpg.Connection) -> None:
        await _send(conn, user, "retried after an outage")
        await _send(conn, user, "retried by an admin")
        for job, permanent in zip(await _claim(conn), (False, True), strict=True):
            await queries.worker_fail(
                conn,
                id=job["id"],
                lock_token=job["lock_token"],
                error="SMTP 550" if permanent else "SMTP 421",
                permanent=permanent,
                retry_seconds=0.0,
            )
            if permanent:
                assert await queries.retry_delivery(conn, id=job["id"])
        before = {j["id"] for j in await _queue(conn, user)}
        await _send(conn, user, "held by quiet hours")
        [held] = [j["id"] for j in await _queue(conn, user) if j["id"] not in before]
        now = await conn.fetchval("SELECT now()")
        await queries.worker_hold(conn, ids=[held], untils=[now])
        await inspect.a_minute_passes(conn, user_id=user)

        for n in range(5):
            await _send(conn, user, f"single {n}")
        await _send(conn, user, "digest of one", batch_key="one")
        for n in range(3):
            await _send(conn, user, f"digest of three {n}", batch_key="three")
        assert len(await _queue(conn, user)) == 10

        claimed = await _claim(conn)
        assert len(claimed) == 5
        queue = await _queue(conn, user)
        [overflow] = [j for j in queue if j["status"] == "pending"]
        assert overflow["group_key"] == "overflow" and overflow["collecting"]
        minute = await conn.fetchval("SELECT date_trunc('minute', now())")
        assert overflow["available_at"] == minute + timedelta(minutes=1)
        carried = sum(j["items"] for j in queue)
        assert carried == await inspect.items_of_user(conn, user_id=user, channel="email") == 12
        assert await inspect.rate_total(conn, user_id=user, channel="email") == 5
        assert await _claim(conn) == []

        await inspect.a_minute_passes(conn, user_id=user)
        [digest] = await _claim(conn)
        assert digest["id"] == overflow["id"]
        assert len(digest["notification_ids"]) == overflow["items"]

    _in_one_transaction(database_url, scenario)


def test_critical_counts_but_is_never_folded(database_url):
    """Critical: seven in a minute against a limit of 5 all go at once and use up the minute;
    a warning beside them is folded, and goes out in the next minute with room."""
    user = _user(database_url, "critical")

    async def scenario(conn: asyncpg.Connection) -> None:
        for n in range(7):
            await _send(conn, user, f"critical {n}", severity="critical")
        await _send(conn, user, "a warning")
        claimed = await _claim(conn)
        assert sorted(j["is_critical"] for j in claimed) == [True] * 7
        assert await inspect.rate_total(conn, user_id=user, channel="email") == 7
        [waiting] = [j for j in await _queue(conn, user) if j["status"] == "pending"]
        assert waiting["group_key"] == "overflow"

        await _send(conn, user, "critical later", severity="critical")
        assert [j["is_critical"] for j in await _claim(conn)] == [True]
        await inspect.a_minute_passes(conn, user_id=user)
        [digest] = await _claim(conn)
        assert digest["id"] == waiting["id"] and not digest["is_critical"]

    _in_one_transaction(database_url, scenario)


def test_a_digest_in_a_minute_without_room_waits_for_the_next(database_url):
    """The overflow digest itself obeys the cap: due in a minute that is already full, it is
    not sent but waits, whole, for the next minute."""
    user = _user(database_url, "full")

    async def scenario(conn: asyncpg.Connection) -> None:
        for n in range(7):
            await _send(conn, user, f"warning {n}")
        assert len(await _claim(conn)) == 5
        await inspect.a_minute_passes(conn, user_id=user)
        for n in range(5):
            await _send(conn, user, f"critical {n}", severity="critical")
        claimed = await _claim(conn)
        assert [j["is_critical"] for j in claimed] == [True] * 5
        [waiting] = [j for j in await _queue(conn, user) if j["status"] == "pending"]
        assert waiting["items"] == 2
        await inspect.a_minute_passes(conn, user_id=user)
        [digest] = await _claim(conn)
        assert len(digest["notification_ids"]) == 2

    _in_one_transaction(database_url, scenario)


def test_workers_claiming_at_once_share_one_limit(database_url):
    """Concurrency: while one worker's claim of 3 jobs is uncommitted, another worker's claim
    of the user's other jobs waits for it and then takes only the 2 the minute has left."""
    user = _user(database_url, "shared")

    async def run() -> None:
        first, second = await connect(database_url), await connect(database_url)
        try:
            for n in range(12):
                await _send(first, user, f"warning {n}")
            one = first.transaction()
            await one.start()
            assert len(await _claim(first, limit=3)) == 3
            other = asyncio.create_task(_claim(second))
            await _until_waiting_or_done(database_url, other)
            await one.commit()
            assert len(await other) == 2
            assert await inspect.rate_total(first, user_id=user, channel="email") == 5
        finally:
            await first.close()
            await second.close()

    asyncio.run(run())


async def _until_waiting_or_done(database_url: str, task: asyncio.Task) -> None:
    """Until some session of this database waits for a lock, or `task` ended without one."""
    conn = await asyncpg.connect(database_url)
    try:
        while not task.done() and not await fetch_all(inspect.lock_waiters, conn):
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


def _fresh_minute(margin: float = 20) -> None:
    """The first part of these tests happens inside one calendar minute: start well inside."""
    wait_until(lambda: datetime.now(UTC).second < 60 - margin, 30, "a fresh minute")


@pytest.mark.parametrize("own_batch_keys", [False, True], ids=["singles", "digests_of_one"])
def test_twelve_warnings_in_a_minute_make_five_emails_then_one_digest(
    own_batch_keys, live_server, smtp, start_worker
):
    """End to end: twelve warnings in one minute, as single messages or each with a batch key
    of its own (digests of one): five emails leave in that minute, the other seven wait in one
    overflow digest and go out in the next minute as one email. Every title arrives once."""
    user, _ = live_server.create_user(email_enabled=True, email="o@example.com", digest_seconds=0)
    start_worker(smtp_url=smtp.url)
    _fresh_minute()
    titles = [f"Alert {n:02}" for n in range(12)]
    for title in titles:
        live_server.send(
            user, title=title, severity="warning", batch_key=title if own_batch_keys else None
        )

    def settled():
        jobs = deliveries(live_server.database_url, user)
        sent = [j for j in jobs if j["status"] == "sent"]
        waiting = [j for j in jobs if j["status"] == "pending" and j["group_key"] == "overflow"]
        return len(sent) == 5 and len(waiting) == 1 and waiting[0]["items"] == 7 and waiting

    [overflow] = wait_until(settled, 20, "five sent and seven folded")
    assert len(smtp.mailbox.messages) == len(smtp.mailbox.arrived) == 5
    assert overflow["available_at"].second == 0

    scalar(live_server.database_url, "a_minute_passes", user_id=user)
    messages = smtp.mailbox.wait_for(6)
    [digest] = [m for m in messages if m["Subject"].strip().startswith("7 new: ")]
    singles = [m["Subject"] for m in messages if m is not digest]
    assert len(singles) == 5 and all(s.startswith("[Warning] ") for s in singles)
    delivered = [s.removeprefix("[Warning] ") for s in singles]
    delivered += [t for t in titles if t in text_of(digest)]
    assert sorted(delivered) == titles

    def all_sent() -> bool:
        return all(j["status"] == "sent" for j in deliveries(live_server.database_url, user))

    wait_until(all_sent, 20, "the digest recorded as sent")
    assert len(smtp.mailbox.arrived) == 6

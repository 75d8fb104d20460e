"""Coalesced sends (server/sending.py): sends that share a transaction keep every rule of a
send on its own, fail alone, are committed before they are answered, and never deadlock."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

from server.audit import CLI
from server.db import create_pool
from server.sending import Coalescer, SendsClosed
from server.service import Service
from tests.support import live
from tests.support.db import db_fetch, db_value
from tests.support.live import LiveServer, create_users_directly
from tests.support.sends import outgoing


async def _with_service(database_url: str, work):
    pool = await create_pool(database_url, reset_sessions=False)
    service = Service(pool, live.test_settings())
    try:
        return await work(service)
    finally:
        await service.close()
        await pool.close()


def test_concurrent_sends_to_one_user_are_each_stored_once_in_sync_order(live_server, database_url):
    """Sends to one user that meet in batches are each stored once, each under a version of
    its own, and a sync lists them all, once, in version order."""
    user, token = live_server.create_user()
    count = 40
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(
            pool.map(lambda n: live_server.send(user, resource_id=f"r-{n}"), range(count))
        )
    ids = [reply["results"][0]["id"] for reply in replies]
    assert all(reply["inserted"] == 1 for reply in replies)
    assert len(set(ids)) == count
    stored = db_fetch(
        database_url,
        "SELECT id::text, created_version FROM notifications WHERE user_id = $1",
        user,
    )
    assert sorted(r["id"] for r in stored) == sorted(ids)
    versions = sorted(r["created_version"] for r in stored)
    assert versions == list(range(versions[0], versions[0] + count))
    with live_server.client(token) as client:
        page = client.get("/v1/sync", params={"limit": 1000}).json()
    assert [c["id"] for c in page["changes"]] == [
        r["id"] for r in sorted(stored, key=lambda r: r["created_version"])
    ]


def test_identical_sends_in_one_batch_make_one_row_and_share_its_id(database_url):
    """Idempotency inside one batch: the second identical send is a duplicate of the first,
    with its id; one row and one delivery job."""
    [_] = create_users_directly(database_url, ["dana"])
    db_value(
        database_url,
        "UPDATE preferences SET email_enabled = true, email = 'dana@example.com'"
        " WHERE user_id = 'dana'",
    )
    same = outgoing(["dana"], severity="warning", resource_id="deploy-1")

    batch = asyncio.run(_with_service(database_url, lambda s: s._send_batch([(same, CLI)] * 2)))

    first, second = ([r["outcome"], r["id"]] for [r] in batch)
    assert first[0] == "inserted" and second[0] == "duplicate"
    assert first[1] == second[1]
    assert db_value(database_url, "SELECT count(*) FROM notifications") == 1
    assert db_value(database_url, "SELECT count(*) FROM deliveries") == 1


def test_one_failing_send_in_a_batch_fails_only_itself(database_url):
    """A send the database refuses (NaN in data) fails alone: the others of its batch are
    stored, each with its own audit event, and the failed one leaves nothing behind."""
    create_users_directly(database_url, ["erin", "fred"])
    sends = [
        (outgoing(["erin"], resource_id="good-1"), CLI),
        (outgoing(["fred"], data={"n": float("nan")}), CLI),
        (outgoing(["fred"], resource_id="good-2"), CLI),
    ]

    batch = asyncio.run(_with_service(database_url, lambda s: s._send_batch(sends)))

    assert batch[1] is None
    assert [r["outcome"] for r in batch[0] + batch[2]] == ["inserted", "inserted"]
    stored = db_fetch(database_url, "SELECT user_id FROM notifications ORDER BY user_id")
    assert [r["user_id"] for r in stored] == ["erin", "fred"]
    events = db_value(
        database_url, "SELECT count(*) FROM audit_events WHERE action = 'notification.send'"
    )
    assert events == 2


def test_a_failing_send_beside_good_ones_is_422_and_they_are_201(live_server):
    """Over HTTP, concurrent with good sends: the refused one is its own 422, theirs are 201."""
    user, _ = live_server.create_user()
    bad = f'{{"event_name": "x", "title": "t", "user_id": "{user}", "data": {{"n": NaN}}}}'

    def post(n: int) -> int:
        with live_server.client(live_server.admin_token) as admin:
            if n % 5 == 0:
                reply = admin.post(
                    "/v1/notifications",
                    content=bad,
                    headers={"Content-Type": "application/json"},
                )
                return reply.status_code
            body = {"user_id": user, "event_name": "x", "title": "t", "resource_id": f"r{n}"}
            return admin.post("/v1/notifications", json=body).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(post, range(40)))
    assert statuses == [422 if n % 5 == 0 else 201 for n in range(40)]


def test_an_acknowledged_send_survives_a_database_crash(own_cluster):
    """Every send answered 201 was committed before its answer: after the database is killed
    at once and started again, each acknowledged id is stored."""
    server = LiveServer(own_cluster.url())
    try:
        user, _ = server.create_user()
        with ThreadPoolExecutor(max_workers=16) as pool:
            replies = list(pool.map(lambda n: server.send(user, resource_id=f"r{n}"), range(48)))
        own_cluster.kill()
    finally:
        server.stop()
    own_cluster.start()
    acknowledged = {reply["results"][0]["id"] for reply in replies}
    stored = db_fetch(own_cluster.url(), "SELECT id::text FROM notifications")
    assert acknowledged <= {r["id"] for r in stored}
    assert len(acknowledged) == 48


def test_batches_of_two_servers_with_overlapping_recipients_do_not_deadlock(database_url):
    """Two servers' services (each its own pool and batches, as two processes have) sending
    at once to overlapping recipients, named in opposite orders: every send is stored, none
    fails on a deadlock."""
    users = [f"u{n}" for n in range(6)]
    create_users_directly(database_url, users)

    async def scenario() -> None:
        pools = [await create_pool(database_url, reset_sessions=False) for _ in range(2)]
        services = [Service(pool, live.test_settings()) for pool in pools]
        try:

            async def send(n: int) -> None:
                named = users[n % 3 : n % 3 + 4]
                note = outgoing(named if n % 2 else named[::-1], resource_id=f"r{n}")
                await services[n % 2].send(note, CLI)

            await asyncio.gather(*(send(n) for n in range(200)))
        finally:
            for service, pool in zip(services, pools, strict=True):
                await service.close()
                await pool.close()

    asyncio.run(scenario())
    assert db_value(database_url, "SELECT count(*) FROM notifications") == 200 * 4
    # A send that failed on a deadlock would have been run again alone and stored all the
    # same: the database's own count says whether one happened (the pools' backends have
    # exited, and a backend reports its figures as it exits).
    deadlocks = db_value(
        database_url,
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    assert deadlocks == 0


def test_sends_waiting_behind_a_batch_go_together_in_the_next(database_url):
    """The machinery: a lone send starts a batch at once; the sends that arrive while the
    batch slots are busy form the next batch together; each gets its own result."""

    async def scenario() -> list[list[int]]:
        batches: list[list[int]] = []
        release = asyncio.Event()

        async def run_batch(items):
            batches.append(list(items))
            await release.wait()
            return [item * 10 for item in items]

        sends = Coalescer(run_batch, max_batch=10, max_in_flight=1)
        lone = asyncio.ensure_future(sends.submit(1))
        while not batches:  # the first batch is under way, with the lone send
            await asyncio.sleep(0)
        waiting = [asyncio.ensure_future(sends.submit(n)) for n in (2, 3, 4)]
        release.set()
        assert await lone == 10
        assert [await w for w in waiting] == [20, 30, 40]
        return batches

    assert asyncio.run(scenario()) == [[1], [2, 3, 4]]


def test_closing_finishes_what_was_taken_and_refuses_the_rest():
    """Shutdown: sends already taken are run and answered; a send after close is refused."""

    async def scenario() -> tuple[list[str], bool]:
        release = asyncio.Event()

        async def run_batch(items):
            await release.wait()
            return [f"stored {item}" for item in items]

        sends = Coalescer(run_batch, max_batch=2, max_in_flight=1)
        taken = [asyncio.ensure_future(sends.submit(n)) for n in range(5)]
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(sends.close())
        await asyncio.sleep(0)
        try:
            await sends.submit(99)
            refused = False
        except SendsClosed:
            refused = True
        release.set()
        await closing
        assert all(t.done() for t in taken)
        return [t.result() for t in taken], refused

    results, refused = asyncio.run(scenario())
    assert results == [f"stored {n}" for n in range(5)]
    assert refused


def test_a_batch_the_database_cannot_run_fails_every_request_with_its_error():
    """A connection error in a batch reaches each of its requests (the API answers each 503)."""

    async def scenario() -> list[BaseException]:
        async def run_batch(items):
            await asyncio.sleep(0)
            raise ConnectionRefusedError("database gone")

        sends = Coalescer(run_batch, max_batch=10, max_in_flight=1)
        return await asyncio.gather(*(sends.submit(n) for n in range(3)), return_exceptions=True)

    assert all(isinstance(e, ConnectionRefusedError) for e in asyncio.run(scenario()))


def test_unknown_recipient_in_a_batch_stores_nothing_for_that_send(database_url):
    """An unknown id makes its own send 'unknown' (the API's 422) and leaves the batch's other
    sends stored."""
    create_users_directly(database_url, ["gina"])
    ghost = "ghost-" + uuid.uuid4().hex[:6]
    sends = [(outgoing(["gina", ghost]), CLI), (outgoing(["gina"], resource_id="ok"), CLI)]

    batch = asyncio.run(_with_service(database_url, lambda s: s._send_batch(sends)))

    assert [(r["user_id"], r["outcome"]) for r in batch[0]] == [(ghost, "unknown")]
    assert [r["outcome"] for r in batch[1]] == ["inserted"]
    assert db_value(database_url, "SELECT count(*) FROM notifications") == 1

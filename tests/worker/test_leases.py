"""Leases: heartbeats, recovery after a crash, fencing, shutdown, LISTEN loss, many workers."""

import asyncio
import signal
import threading
import uuid
from datetime import timedelta

from server.channels import Envelope
from server.db import connect, create_pool, fetch_all
from server.worker.queue import Queue
from tests.support.live import create_users_directly
from tests.support.live import test_settings as worker_settings
from tests.support.waiting import wait_until_async
from tests.worker.support import (
    ThreadWorker,
    deliveries,
    inspect,
    rows,
    scalar,
    script,
    wait_until,
)


def test_late_completion_after_lease_loss_does_not_overwrite(live_server, database_url):
    """Fencing: a holder whose lease expired and whose job another worker then claimed can
    neither refresh, complete nor fail it over the new holder's result."""
    user, _ = live_server.create_user(email_enabled=True, email="f@example.com")
    live_server.send(user, title="fenced", severity="warning")

    async def scenario() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            queue = Queue(pool, worker_settings(lock_timeout_seconds=1))
            [old] = (await queue.claim(["email"], 10)).jobs

            async def recovered():
                while not (await queue.claim(["email"], 0)).recovered:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(recovered(), 10)
            [new] = (await queue.claim(["email"], 10)).jobs
            assert new.id == old.id and new.lock_token != old.lock_token
            assert new.attempts == 2
            assert await queue.complete([new]) == {new.id}
            assert await queue.complete([old]) == set()
            assert await queue.fail(old, "late", permanent=False, retry_seconds=0) is None
            assert await queue.heartbeat([old]) == set()
            assert await queue.release([old]) == set()
        finally:
            await pool.close()

    asyncio.run(scenario())
    [job] = deliveries(database_url, user)
    assert job["status"] == "sent" and job["attempts"] == 2 and job["last_error"] != "late"


def test_heartbeat_and_completion_of_the_same_jobs_wait_for_each_other_without_deadlock(
    live_server, database_url
):
    """Lock order: a heartbeat and a completion of the same two jobs, handed them in opposite
    orders and let go at the worst moment, wait for each other instead of deadlocking (every
    multi-row worker statement locks its rows in id order)."""
    user, _ = live_server.create_user(email_enabled=True, email="d@example.com")
    for n in range(2):
        live_server.send(user, title=f"pair {n}", severity="warning")

    async def scenario() -> None:
        pool = await create_pool(database_url, min_size=2, max_size=2)
        gates = [await connect(database_url) for _ in range(2)]
        observer = await connect(database_url)
        try:
            queue = Queue(pool, worker_settings())
            jobs = (await queue.claim(["email"], 10)).jobs
            # Each gate holds one job's row lock, so both statements stop at their first row.
            transactions = [gate.transaction() for gate in gates]
            for gate, transaction, job in zip(gates, transactions, jobs, strict=True):
                await transaction.start()
                await inspect.lock_delivery(gate, id=job.id)
            heartbeat = asyncio.create_task(queue.heartbeat(jobs))
            completion = asyncio.create_task(queue.complete(jobs[::-1]))
            first_gate = gates[0].get_server_pid()

            async def waiting(settled: bool) -> bool:
                waiters = await fetch_all(inspect.lock_waiters, observer)
                # Settled: no one waits for the first gate any more, each waits for someone.
                return len(waiters) == 2 and (
                    not settled
                    or all(w["blocked_by"] and first_gate not in w["blocked_by"] for w in waiters)
                )

            await wait_until_async(lambda: waiting(False), 10, "both statements to wait")
            # Free the first job: a statement that locked in its own order now holds it and
            # waits for the second, which the other takes next: the classic deadlock.
            await transactions[0].commit()
            await wait_until_async(lambda: waiting(True), 10, "the first job to be taken")
            await transactions[1].commit()
            _, sent = await asyncio.wait_for(asyncio.gather(heartbeat, completion), 30)
            assert sent == {job.id for job in jobs}
        finally:
            for conn in (*gates, observer):
                await conn.close()
            await pool.close()

    asyncio.run(scenario())
    assert [job["status"] for job in deliveries(database_url, user)] == ["sent", "sent"]


def test_heartbeat_keeps_a_slow_send_from_being_taken(live_server, smtp, start_worker):
    """Heartbeat: a live holder keeps its lock however slow the send; no second worker sends."""
    user, _ = live_server.create_user(email_enabled=True, email="s@example.com")
    smtp.mailbox.open.clear()
    live_server.send(user, title="slow server", severity="warning")
    start_worker(smtp_url=smtp.url, lock_timeout_seconds=1)
    start_worker(smtp_url=smtp.url, lock_timeout_seconds=1)
    wait_until(lambda: smtp.mailbox.arrived, what="the send to start")
    [first] = deliveries(live_server.database_url, user)
    # Two full lock timeouts pass while the send hangs; the lock keeps being refreshed.
    wait_until(
        lambda: (
            deliveries(live_server.database_url, user)[0]["locked_at"]
            > first["locked_at"] + timedelta(seconds=2)
        ),
        10,
        "the lock to be refreshed past two timeouts",
    )
    smtp.mailbox.open.set()
    smtp.mailbox.wait_for(1)
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "sent"]
    )
    assert job["attempts"] == 1 and len(smtp.mailbox.arrived) == 1


def test_heartbeat_keeps_running_after_an_error_that_is_not_an_outage(
    live_server, smtp, start_worker, caplog
):
    """Heartbeat: a lock refresh that fails for another reason than an outage (a deadlock, a
    bug) is logged and the heartbeat carries on, so a slow send keeps its lock and is not sent
    a second time after the lock timeout."""
    user, _ = live_server.create_user(email_enabled=True, email="h@example.com")
    script(live_server.database_url, "refuse_the_first_heartbeat")
    smtp.mailbox.open.clear()
    live_server.send(user, title="slow and unlucky", severity="warning")
    start_worker(smtp_url=smtp.url, lock_timeout_seconds=3)
    try:
        wait_until(lambda: smtp.mailbox.arrived, what="the send to start")
        [claimed] = deliveries(live_server.database_url, user)
        wait_until(
            lambda: scalar(live_server.database_url, "heartbeat_refused"), 10, "a refused refresh"
        )
        # A full lock timeout passes after the claim while the send hangs.
        wait_until(
            lambda: (
                deliveries(live_server.database_url, user)[0]["locked_at"]
                > claimed["locked_at"] + timedelta(seconds=3)
            ),
            10,
            "the lock to be refreshed past the lock timeout",
        )
    finally:
        smtp.mailbox.open.set()
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "sent"]
    )
    assert job["attempts"] == 1 and len(smtp.mailbox.arrived) == 1
    assert "heartbeat refused by the test" in caplog.text


def test_killed_worker_job_is_sent_by_another_after_the_lock_timeout(
    live_server, smtp, spawn_worker
):
    """Crash recovery: a worker SIGKILLed mid-send loses nothing; after the lock timeout another
    worker sends the job, with the same Message-ID as the interrupted attempt."""
    user, _ = live_server.create_user(email_enabled=True, email="k@example.com")
    smtp.mailbox.open.clear()
    live_server.send(user, title="survives a crash", severity="warning")
    first = spawn_worker(smtp_url=smtp.url, lock_timeout_seconds=2)
    wait_until(lambda: smtp.mailbox.arrived, 30, "the first worker to start sending")
    first.kill()
    smtp.mailbox.open.set()
    second = spawn_worker(smtp_url=smtp.url, lock_timeout_seconds=2)
    [message] = smtp.mailbox.wait_for(1, 30)
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "sent"]
    )
    assert job["attempts"] == 2
    assert message["Message-ID"] == smtp.mailbox.arrived[0] == f"<delivery.{job['id']}@localhost>"
    assert second.terminate() == 0
    assert "lost its worker" in second.log()


def test_sigterm_lets_the_send_in_flight_finish(live_server, smtp, spawn_worker):
    """Graceful shutdown: SIGTERM stops claiming, the send in flight finishes and is recorded."""
    user, _ = live_server.create_user(email_enabled=True, email="t@example.com")
    smtp.mailbox.open.clear()
    live_server.send(user, title="finish me", severity="warning")
    worker = spawn_worker(smtp_url=smtp.url)
    wait_until(lambda: smtp.mailbox.arrived, 30, "the send to start")
    worker.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "stopping: waiting" in worker.log(), 10, "the worker to start stopping")
    smtp.mailbox.open.set()
    assert worker.process.wait(30) == 0
    [job] = deliveries(live_server.database_url, user)
    assert job["status"] == "sent" and len(smtp.mailbox.messages) == 1


def test_lost_listen_connection_polls_and_reconnects(live_server, smtp, start_worker):
    """LISTEN loss: with its LISTEN connection killed the worker still picks jobs up by polling,
    and listens again."""
    user, _ = live_server.create_user(email_enabled=True, email="l@example.com")
    start_worker(smtp_url=smtp.url)
    [before] = wait_until(lambda: rows(live_server.database_url, "listener_pids"), 10, "LISTEN")
    assert scalar(live_server.database_url, "terminate_backend", pid=before["pid"])
    live_server.send(user, title="after the drop", severity="warning")
    smtp.mailbox.wait_for(1)
    wait_until(
        lambda: [r for r in rows(live_server.database_url, "listener_pids") if r != before],
        10,
        "a new LISTEN connection",
    )


def test_three_worker_processes_send_a_thousand_jobs_exactly_once(
    live_server, smtp, spawn_worker, database_url
):
    """No double send: three workers on 1,000 jobs send each exactly once."""
    count = 1000

    users = [f"bulk-{n:04}-{uuid.uuid4().hex[:6]}" for n in range(count)]
    create_users_directly(
        database_url,
        users,
        preferences_of=lambda user_id: {"email_enabled": True, "email": f"{user_id}@example.com"},
    )
    workers = [spawn_worker(smtp_url=smtp.url) for _ in range(3)]
    live_server.send(users, title="to everyone", severity="warning")
    smtp.mailbox.wait_for(count, 90)
    wait_until(
        lambda: (
            {r["status"]: r["count"] for r in rows(database_url, "status_counts")}
            == {"sent": count}
        ),
        30,
        "every job to be recorded as sent",
    )
    ids = [m["Message-ID"] for m in smtp.mailbox.messages]
    assert len(ids) == len(set(ids)) == count
    assert len(smtp.mailbox.arrived) == count
    assert {m["To"] for m in smtp.mailbox.messages} == {f"{u}@example.com" for u in users}
    for worker in workers:
        assert worker.terminate() == 0


class GatedTransport:
    """A push transport whose sends wait until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started: list[str] = []

    async def send(self, envelope: Envelope) -> None:
        self.started.append(envelope.delivery_id)
        await asyncio.to_thread(self.gate.wait)

    async def close(self) -> None:
        pass


def test_stop_gives_back_the_claimed_batch_that_has_not_started(live_server, database_url):
    """Pipelining: a worker holds the next batch while the current one sends; on stop that
    batch goes back to the queue at once, and the send in flight still finishes."""
    user, _ = live_server.create_user(push_enabled=True, push_urls=["json://127.0.0.1:9/x"])
    for n in range(3):
        live_server.send(user, title=f"job {n}", severity="warning")
    transport = GatedTransport()
    worker = ThreadWorker(
        database_url, worker_settings(worker_concurrency=1), transports={"push": transport}
    ).start()
    try:
        # One sends, one waits as the next batch (claimed: an attempt spent), one stays queued.
        wait_until(
            lambda: (
                sorted(j["status"] for j in deliveries(database_url, user))
                == ["pending", "sending", "sending"]
            ),
            10,
            "the next batch to be claimed",
        )
        worker.worker.stop()
        given_back = wait_until(
            lambda: [
                j
                for j in deliveries(database_url, user)
                if j["status"] == "pending" and j["attempts"] == 1
            ],
            10,
            "the waiting job to go back",
        )
        assert len(given_back) == 1 and str(given_back[0]["id"]) not in transport.started
        assert len(transport.started) == 1
        # The stop asked above still waits for the send in flight: once the gate opens, that
        # send is recorded and the worker ends by itself. (A second stop would give up on it.)
        transport.gate.set()
        worker.join()
    finally:
        transport.gate.set()
        worker.stop()
    jobs = deliveries(database_url, user)
    assert sorted(j["status"] for j in jobs) == ["pending", "pending", "sent"]
    [sent] = [j for j in jobs if j["status"] == "sent"]
    assert str(sent["id"]) == transport.started[0]

"""What an idle worker costs the database: one statement per safety poll, nothing more."""

from urllib.parse import urlsplit

from tests.support.db import db_value
from tests.worker.support import wait_until

#: Safety polls counted; the window is bounded by the worker's own polls, not by the clock.
POLLS = 8
#: Polls (at least a second each) before the window opens: PostgreSQL reports what a backend
#: did just before it went idle within 10 s, so by then the start-up's statements (preparing,
#: the first housekeeping round) are all counted.
SETTLE_POLLS = 12


def test_an_idle_worker_runs_one_transaction_per_safety_poll(
    pg_cluster, database_url, start_worker
):
    """Idle cost: with nothing to send, a worker waits on LISTEN and each safety poll is one
    statement (recovering expired leases and claiming together), so one transaction."""
    database = urlsplit(database_url).path.lstrip("/")

    def committed() -> int:
        # Read from another database, so that reading adds nothing to what is counted.
        return db_value(
            pg_cluster.url(),
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
            database,
        )

    def listening() -> bool:
        return bool(
            db_value(
                pg_cluster.url(),
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = $1 AND query = 'LISTEN \"traybell_deliveries\"'",
                database,
            )
        )

    worker = start_worker()
    polls = 0
    sleep = worker.worker.waker.sleep

    async def counted_sleep() -> None:
        nonlocal polls
        polls += 1
        await sleep()

    worker.worker.waker.sleep = counted_sleep
    wait_until(lambda: listening() and polls >= SETTLE_POLLS, what="an idle, listening worker")
    first_poll, before = polls, committed()
    wait_until(lambda: polls >= first_poll + POLLS, what=f"{POLLS} safety polls")
    last_poll, after = polls, committed()

    # A backend reports its counts at most once a second: either end of the window may be
    # off by the transaction of one poll.
    assert after - before <= (last_poll - first_poll) + 2

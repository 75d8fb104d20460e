"""The stream hub's rounds (server/streams.py), driven in-process against a real database: a
wake-up is a hint the hub may act on late, but never one it may drop."""

import asyncio

from server.audit import CLI
from server.cursors import SyncCursor
from server.db import create_pool
from server.identity import Caller
from server.service import Service
from server.streams import Hub
from server.wakeups import ALL_USERS
from tests.support.live import create_users_directly
from tests.support.sends import outgoing


def test_a_wake_up_that_arrives_while_a_round_reads_is_served_by_the_next_round(
    database_url, settings
):
    """A wake-up naming a user that arrives while the hub is in the middle of a round (here:
    looking up who moved after a wake-up for everyone) is read for in the very next round, not
    left for the recheck seconds later (which a round that cleared its wake-ups only after its
    reads did)."""
    create_users_directly(database_url, ["hub-a", "hub-b"])

    async def scenario() -> str | None:
        pool = await create_pool(database_url, reset_sessions=False)
        service = Service(pool, settings)
        hub = Hub(pool, settings)
        try:
            b = hub.open(Caller("hub-b", is_admin=False), SyncCursor())
            await hub._catch_up()  # b's (empty) backlog: b is now at the end of its changes
            assert not b.holds_events

            find_moved = hub._find_moved

            async def find_moved_then_b_changes(users):
                await find_moved(users)
                # b gets a notification, and its wake-up, after this round looked: only the
                # wake-up can bring it before the recheck
                await service.send(outgoing(["hub-b"], title="for b"), CLI)
                hub.wake(["hub-b"])

            hub._find_moved = find_moved_then_b_changes
            hub.wake(ALL_USERS)
            await hub._catch_up()  # the round the wake-up for everyone started
            hub._find_moved = find_moved
            await hub._catch_up()  # the next round: b's wake-up must still be there
            return await b.next_event() if b.holds_events else None
        finally:
            await service.close()
            await pool.close()

    event = asyncio.run(scenario())
    assert event is not None, "the wake-up was dropped"
    assert '"title":"for b"' in event

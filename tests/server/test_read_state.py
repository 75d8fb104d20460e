"""Unread state: read_at alone, every change idempotent, counts always from the server."""

import asyncio
import uuid

import pytest

from server.db import connect, fetch_all, queries


@pytest.fixture
def inbox(live_server):
    """A user with three notifications, newest first: (client, [id3, id2, id1])."""
    user, token = live_server.create_user()
    for n in (1, 2, 3):
        live_server.send(user, title=f"n{n}")
    client = live_server.client(token)
    ids = [n["id"] for n in client.get("/v1/notifications").json()["notifications"]]
    yield client, ids
    client.close()


def _unread(client) -> int:
    return client.get("/v1/notifications/unread-count").json()["unread"]


def test_mark_read_keeps_first_read_at(inbox):
    """read_at keeps its first value: a second read changes nothing."""
    client, ids = inbox
    first = client.post(f"/v1/notifications/{ids[0]}/read").json()["notification"]
    again = client.post(f"/v1/notifications/{ids[0]}/read").json()["notification"]
    assert first["read_at"] is not None
    assert again["read_at"] == first["read_at"]
    assert _unread(client) == 2


def test_mark_unread_then_read_again(inbox):
    """unread clears read_at; the unread count follows."""
    client, ids = inbox
    client.post(f"/v1/notifications/{ids[0]}/read")
    reply = client.post(f"/v1/notifications/{ids[0]}/unread")
    assert reply.status_code == 200
    assert reply.json()["notification"]["read_at"] is None
    assert _unread(client) == 3
    assert client.post(f"/v1/notifications/{ids[0]}/unread").status_code == 200  # idempotent


def test_archive_marks_read_and_hides(inbox):
    """Archiving also marks read; archived ones leave the default list and join archived=true."""
    client, ids = inbox
    archived = client.post(f"/v1/notifications/{ids[1]}/archive").json()["notification"]
    assert archived["archived_at"] is not None and archived["read_at"] is not None
    assert _unread(client) == 2
    listed = [n["id"] for n in client.get("/v1/notifications").json()["notifications"]]
    assert listed == [ids[0], ids[2]]
    only_archived = client.get("/v1/notifications", params={"archived": "true"}).json()
    assert [n["id"] for n in only_archived["notifications"]] == [ids[1]]
    # read, unread and archive answer 200 on an archived notification too
    for action in ("read", "unread", "archive"):
        assert client.post(f"/v1/notifications/{ids[1]}/{action}").status_code == 200
    assert _unread(client) == 2  # unread but archived does not count


def test_read_by_ids_counts_changed_rows_only(inbox, live_server):
    """POST /read changes only the caller's unread rows and says how many changed."""
    client, ids = inbox
    other, _ = live_server.create_user()
    foreign = live_server.send(other, title="theirs")["results"][0]["id"]
    reply = client.post(
        "/v1/notifications/read", json={"ids": [ids[0], ids[1], foreign, "nonsense"]}
    )
    assert reply.json() == {"updated": 2}
    assert client.post("/v1/notifications/read", json={"ids": ids}).json() == {"updated": 1}
    assert _unread(client) == 0


def test_read_all_without_cursor(inbox):
    """read-all marks everything unread."""
    client, _ = inbox
    assert client.post("/v1/notifications/read-all").json() == {"updated": 3}
    assert _unread(client) == 0
    assert client.post("/v1/notifications/read-all", json={}).json() == {"updated": 0}


def test_read_all_up_to_cursor_spares_later_arrivals(inbox, live_server):
    """read-all with up_to marks only what was stored at or before that sync cursor."""
    client, ids = inbox
    cursor = client.get("/v1/sync").json()["cursor"]
    user = client.get(f"/v1/notifications/{ids[0]}").json()["user_id"]
    late = live_server.send(user, title="arrived meanwhile")["results"][0]["id"]
    assert client.post("/v1/notifications/read-all", json={"up_to": cursor}).json() == {
        "updated": 3
    }
    assert _unread(client) == 1
    assert client.get(f"/v1/notifications/{late}").json()["read_at"] is None


@pytest.mark.parametrize("change", ["mark_all_read", "mark_read", "archive", "mark_unread"])
def test_a_change_of_many_rows_takes_its_versions_in_one_step(change, live_server, database_url):
    """Sync versions: read-all (and read, unread or archive of many ids) updates the user's row
    once, not once per changed row, while every changed row still gets a version of its own
    after the cursor, so that a sync from it returns each of them."""
    user, token = live_server.create_user()
    ids = [live_server.send(user, title=f"n{n}")["results"][0]["id"] for n in range(30)]
    with live_server.client(token) as client:
        if change == "mark_unread":
            client.post("/v1/notifications/read-all").raise_for_status()
        cursor = client.get("/v1/sync", params={"limit": 1000}).json()["cursor"]

    async def run() -> tuple[int, int]:
        conn = await connect(database_url)
        try:
            async with conn.transaction():
                changed = await fetch_all(
                    getattr(queries, change),
                    conn,
                    user_id=user,
                    ids=[uuid.UUID(i) for i in ids],
                    up_to_version=2**62,
                )
                updated = await conn.fetchval(
                    "SELECT pg_stat_get_xact_tuples_updated('users'::regclass)"
                )
            return len(changed), updated
        finally:
            await conn.close()

    assert asyncio.run(run()) == (30, 1)
    with live_server.client(token) as client:
        page = client.get("/v1/sync", params={"cursor": cursor, "limit": 1000}).json()
    assert sorted(c["id"] for c in page["changes"]) == sorted(ids)


def test_unread_filter_and_paging(live_server):
    """Lists are newest first, pages follow next_before, unread=true lists unread only."""
    user, token = live_server.create_user()
    for n in range(5):
        live_server.send(user, title=f"n{n}")
    with live_server.client(token) as client:
        page1 = client.get("/v1/notifications", params={"limit": 2}).json()
        page2 = client.get(
            "/v1/notifications", params={"limit": 2, "before": page1["next_before"]}
        ).json()
        page3 = client.get(
            "/v1/notifications", params={"limit": 2, "before": page2["next_before"]}
        ).json()
        titles = [n["title"] for p in (page1, page2, page3) for n in p["notifications"]]
        assert titles == ["n4", "n3", "n2", "n1", "n0"]
        assert page3["next_before"] is None
        client.post(f"/v1/notifications/{page1['notifications'][0]['id']}/read")
        unread = client.get("/v1/notifications", params={"unread": "true"}).json()["notifications"]
        assert [n["title"] for n in unread] == ["n3", "n2", "n1", "n0"]


def test_limit_above_maximum_is_clamped(live_server):
    """A limit above its maximum is clamped, not refused."""
    user, token = live_server.create_user()
    live_server.send(user)
    with live_server.client(token) as client:
        assert client.get("/v1/notifications", params={"limit": 100000}).status_code == 200
        assert client.get("/v1/sync", params={"limit": 100000}).status_code == 200
        assert client.get("/v1/notifications", params={"limit": 0}).status_code == 422

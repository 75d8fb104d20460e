"""Sync: a client that applies every page holds the server's state, whatever the commit order."""

import asyncio
import base64
import re
import uuid

import asyncpg

from server.audit import CLI
from server.db import connect, fetch_all, queries


def _drain(client, cursor=None, limit=500):
    """Apply pages until has_more is false; returns (state by id, last cursor, unread)."""
    state: dict[str, dict] = {}
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/sync", params=params).json()
        for change in page["changes"]:
            state[change["id"]] = change
        cursor = page["cursor"]
        if not page["has_more"]:
            return state, cursor, page["unread"]


def test_pages_in_order_reproduce_server_state(live_server):
    """Applying every page in order, small pages included, equals the server's list."""
    user, token = live_server.create_user()
    for n in range(7):
        live_server.send(user, title=f"n{n}")
    with live_server.client(token) as client:
        _, cursor, _ = _drain(client, limit=3)
        ids = [n["id"] for n in client.get("/v1/notifications").json()["notifications"]]
        client.post("/v1/notifications/read", json={"ids": ids[:4]})
        client.post(f"/v1/notifications/{ids[5]}/archive")
        state, cursor2, unread = _drain(client, cursor, limit=2)
        assert set(state) == set(ids[:4]) | {ids[5]}
        assert all(state[i]["read_at"] for i in ids[:4])
        assert state[ids[5]]["archived_at"] is not None
        assert unread == 2
        empty = client.get("/v1/sync", params={"cursor": cursor2}).json()
        assert empty == {"changes": [], "cursor": cursor2, "has_more": False, "unread": 2}


def test_out_of_order_commit_is_not_missed(live_server, database_url, settings):
    """Transactions that start A then B but commit B then A: the naive created_at scan misses A,
    the version cursor does not."""
    user, token = live_server.create_user()

    async def scenario() -> None:
        conn_a = await connect(database_url)
        tx_a = conn_a.transaction()
        await tx_a.start()
        await conn_a.fetchval("SELECT now()")  # A's timestamp (its created_at) is fixed here

        live_server.send(user, title="B")  # B starts after A and commits first
        with live_server.client(token) as client:
            first = client.get("/v1/sync").json()
            assert [c["title"] for c in first["changes"]] == ["B"]
            naive_cursor = max(c["created_at"] for c in first["changes"])

            await fetch_all(
                queries.send_notification,
                conn_a,
                user_ids=[user],
                event_name="test.a",
                title="A",
                summary=None,
                body="",
                target_url=None,
                severity="info",
                data={},
                idempotency_key=None,
                resource_id=None,
                batch_key=None,
                max_attempts=5,
                to=None,
                topic=None,
                **CLI.as_params(),
            )
            await tx_a.commit()
            await conn_a.close()

            second = client.get("/v1/sync", params={"cursor": first["cursor"]}).json()
        assert [c["title"] for c in second["changes"]] == ["A"]

        check = await asyncpg.connect(database_url)
        naive = await check.fetch(
            "SELECT title FROM notifications"
            " WHERE user_id = $1 AND created_at > $2::text::timestamptz",
            user,
            naive_cursor,
        )
        await check.close()
        assert naive == [], "the naive scan should miss A in this interleaving"

    asyncio.run(scenario())


def test_read_elsewhere_reaches_other_clients(live_server):
    """A read made through one client is a change in every other client's next sync."""
    user, token = live_server.create_user()
    nid = live_server.send(user)["results"][0]["id"]
    with live_server.client(token) as laptop, live_server.client(token) as phone:
        _, laptop_cursor, unread = _drain(laptop)
        assert unread == 1
        phone.post(f"/v1/notifications/{nid}/read")
        state, _, unread = _drain(laptop, laptop_cursor)
        assert state[nid]["read_at"] is not None and unread == 0


def test_bad_cursor_is_400(live_server):
    """A malformed cursor is 400 with the contract's error body, never 500."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        for cursor in ("garbage", "czo", "cDo1", "czotMTpmZg", "%%%", "x" * 300, ""):
            reply = client.get("/v1/sync", params={"cursor": cursor})
            assert reply.status_code == 400, (cursor, reply.text)
            assert reply.json()["error"]["code"] == "invalid_cursor"
        reply = client.get("/v1/notifications", params={"before": "nope"})
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_cursor"
        reply = client.post("/v1/notifications/read-all", json={"up_to": "nope"})
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_cursor"


def _documented_pattern(document: dict, path: str, parameter: str) -> str:
    [param] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == parameter]
    [string] = [branch for branch in param["schema"]["anyOf"] if branch["type"] == "string"]
    return string["pattern"]


def test_the_documents_cursor_patterns_are_exactly_the_cursors_taken(live_server):
    """Every cursor the server issues matches the pattern its OpenAPI document gives, and every
    string matching that pattern is read as a position: one this database can have issued is
    taken, one past its end is 410 resync_required, never 400. The document says exactly what
    the server enforces."""
    user, token = live_server.create_user()
    for n in range(3):
        live_server.send(user, title=f"n{n}")
    with live_server.client(token) as client:
        document = client.get("/openapi.json").json()
        sync_pattern = _documented_pattern(document, "/v1/sync", "cursor")
        page_pattern = _documented_pattern(document, "/v1/notifications", "before")
        issued = client.get("/v1/sync", params={"limit": 1}).json()["cursor"]
        assert re.fullmatch(sync_pattern, issued)
        listing = client.get("/v1/notifications", params={"limit": 1}).json()
        assert re.fullmatch(page_pattern, listing["next_before"])
        past_the_end = "s7fffffffffffffff" + "f" * 32
        for cursor, status in (("s" + "0" * 48, 200), (issued, 200), (past_the_end, 410)):
            assert re.fullmatch(sync_pattern, cursor)
            assert client.get("/v1/sync", params={"cursor": cursor}).status_code == status
            reply = client.post("/v1/notifications/read-all", json={"up_to": cursor})
            assert reply.status_code == status
        for before in ("p0000000000000000", "p7fffffffffffffff"):
            assert re.fullmatch(page_pattern, before)
            assert client.get("/v1/notifications", params={"before": before}).status_code == 200
        for refused in ("s8" + "0" * 47, "S" + "0" * 48, "p0000000000000000\n"):
            assert client.get("/v1/sync", params={"cursor": refused}).status_code == 400


def test_cursors_of_the_first_release_are_still_taken(live_server):
    """A tray's stored cursor, or a read-all it queued, from before cursors changed shape
    still works after the upgrade."""
    user, token = live_server.create_user()
    live_server.send(user, title="before the upgrade")
    earlier = base64.urlsafe_b64encode(f"s:0:{uuid.UUID(int=0).hex}".encode()).decode()
    with live_server.client(token) as client:
        page = client.get("/v1/sync", params={"cursor": earlier.rstrip("=")}).json()
        assert [change["title"] for change in page["changes"]] == ["before the upgrade"]
        reply = client.post("/v1/notifications/read-all", json={"up_to": earlier.rstrip("=")})
        assert reply.json() == {"updated": 0}

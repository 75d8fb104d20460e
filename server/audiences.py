"""Audiences: teams, declared topics and who follows them. A send to `team:...` or
`topic:...` is resolved in the database, in the send's own transaction
(db/functions/audiences.sql); this module holds the rules of changing them."""

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from server import audit
from server.audit import Actor
from server.db import fetch_all, queries
from server.errors import ClosedTopic, Conflict, NotFound
from shared.topics import preference_center

#: Topics of received notifications the preference center lists at most.
RECEIVED_TOPICS_SHOWN = 50


def team_id_of_group(group: str) -> str | None:
    """The team an identity provider's group becomes: its name lower-cased, each character
    outside a-z 0-9 . _ - as '-', cut to 64; None for a name that leaves nothing."""
    team_id = re.sub(r"[^a-z0-9._-]", "-", group.lower())[:64].strip("-")
    return team_id or None


def _iso(value: datetime) -> str:
    return value.isoformat()


def team_dict(row: Mapping[str, Any], *, with_member_ids: bool = False) -> dict[str, Any]:
    """A team as the API shows it: a count of members in lists, their ids on its own."""
    team = {
        "team_id": row["team_id"],
        "display_name": row["display_name"],
        "managed_by": row["managed_by"],
        "created_at": _iso(row["created_at"]),
    }
    if with_member_ids:
        team["member_ids"] = list(row["member_ids"])
    else:
        team["members"] = row["members"]
    return team


class Audiences:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    # ------------------------------------------------------------------ teams

    async def create_team(
        self, team_id: str, display_name: str | None, actor: Actor
    ) -> dict[str, Any]:
        """A team admins manage; Conflict when the id is taken. The name defaults to the id."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.create_team(
                conn, team_id=team_id, display_name=display_name or team_id, managed_by="local"
            )
            if row is None:
                raise Conflict(f"team {team_id!r} already exists")
            await audit.record(conn, actor, "team.create", target=team_id)
        return team_dict(row)

    async def teams(self) -> list[dict[str, Any]]:
        return [team_dict(r) for r in await fetch_all(queries.list_teams, self.pool)]

    async def team(self, team_id: str) -> dict[str, Any]:
        row = await queries.get_team(self.pool, team_id=team_id)
        if row is None:
            raise NotFound(f"no team {team_id!r}")
        return team_dict(row, with_member_ids=True)

    async def change_member(self, team_id: str, user_id: str, add: bool, actor: Actor) -> None:
        """Idempotent; NotFound for an unknown team or user, Conflict for a team the identity
        provider manages (its members follow the person's groups at each sign-in)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.change_team_member(conn, team_id=team_id, user_id=user_id, add=add)
            if row["managed_by"] is None:
                raise NotFound(f"no team {team_id!r}")
            if not row["user_exists"]:
                raise NotFound(f"no user {user_id!r}")
            if row["managed_by"] != "local":
                raise Conflict(
                    f"team {team_id!r} is managed by the company sign-in: its members follow "
                    "the identity provider's groups"
                )
            if row["changed"]:
                action = "team.member.add" if add else "team.member.remove"
                await audit.record(conn, actor, action, target_user_id=user_id, target=team_id)

    async def delete_team(self, team_id: str, actor: Actor) -> None:
        """Stored notifications keep the audience they were sent through."""
        async with self.pool.acquire() as conn, conn.transaction():
            managed_by = await queries.delete_team(conn, team_id=team_id)
            if managed_by is None:
                raise NotFound(f"no team {team_id!r}")
            await audit.record(
                conn, actor, "team.delete", target=team_id, details={"managed_by": managed_by}
            )

    async def set_oidc_teams(
        self, conn: asyncpg.Connection, user_id: str, groups: list[str], actor: Actor
    ) -> None:
        """At a company sign-in, inside its transaction: the user's membership of the teams
        the identity provider manages becomes exactly their `groups` (those the sign-in is set
        to turn into teams), each as team_id_of_group() names it. A group that is no
        team yet becomes one the provider manages; a team of the same id that admins manage
        is left alone."""
        team_ids = sorted({t for group in groups if (t := team_id_of_group(group))})
        await queries.ensure_oidc_teams(conn, team_ids=team_ids)
        for change in await fetch_all(
            queries.set_oidc_memberships, conn, user_id=user_id, team_ids=team_ids
        ):
            action = "team.member.add" if change["added"] else "team.member.remove"
            await audit.record(
                conn, actor, action, target_user_id=user_id, target=change["team_id"]
            )

    # ------------------------------------------------------------------ topics

    async def declare_topic(
        self, topic: str, description: str, is_open: bool, actor: Actor
    ) -> dict[str, Any]:
        """Idempotent: declaring again replaces the description and whether it is open."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.declare_topic(
                conn, topic=topic, description=description, is_open=is_open
            )
            await audit.record(
                conn, actor, "topic.declare", target=topic, details={"open": is_open}
            )
        return {"topic": row["topic"], "description": row["description"], "open": row["is_open"]}

    async def delete_topic(self, topic: str, actor: Actor) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if await queries.delete_topic(conn, topic=topic) is None:
                raise NotFound(f"no topic {topic!r}")
            await audit.record(conn, actor, "topic.delete", target=topic)

    async def change_team_subscription(
        self, topic: str, team_id: str, subscribe: bool, actor: Actor
    ) -> None:
        """Idempotent; NotFound for an unknown topic or team."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.change_team_subscription(
                conn, topic=topic, team_id=team_id, subscribe=subscribe
            )
            if not row["topic_exists"]:
                raise NotFound(f"no topic {topic!r}")
            if not row["team_exists"]:
                raise NotFound(f"no team {team_id!r}")
            if row["changed"]:
                action = "topic.subscribe" if subscribe else "topic.unsubscribe"
                await audit.record(conn, actor, action, target=topic, details={"team_id": team_id})

    async def topics(self, user_id: str) -> list[dict[str, Any]]:
        """The declared topics; `subscribed` when the user receives it, `via_team` when
        through a team (which only an admin can end)."""
        return [
            {
                "topic": r["topic"],
                "description": r["description"],
                "open": r["is_open"],
                "subscribed": r["own"] or r["via_team"],
                "via_team": r["via_team"],
            }
            for r in await fetch_all(queries.list_topics, self.pool, user_id=user_id)
        ]

    async def admin_topics(self) -> list[dict[str, Any]]:
        """The declared topics with the teams subscribed to each (the console)."""
        return [
            {
                "topic": r["topic"],
                "description": r["description"],
                "open": r["is_open"],
                "team_ids": list(r["team_ids"]),
            }
            for r in await fetch_all(queries.list_topics, self.pool, user_id=None)
        ]

    async def change_own_subscription(self, user_id: str, topic: str, subscribe: bool) -> None:
        """Joining or leaving, idempotent; NotFound for an unknown topic, ClosedTopic for one
        that is not open."""
        is_open = await queries.change_own_subscription(
            self.pool, user_id=user_id, topic=topic, subscribe=subscribe
        )
        if is_open is None:
            raise NotFound(f"no topic {topic!r}")
        if not is_open:
            raise ClosedTopic(f"topic {topic!r} is closed: an admin subscribes teams to it")

    async def preference_center(
        self, user_id: str, overrides: Mapping[str, Mapping[str, bool | None]]
    ) -> list[dict[str, Any]]:
        """The topics a user's settings show (shared/topics.py), from the declared topics,
        the topics of their newest notifications and their overrides."""
        received = await fetch_all(
            queries.received_topics, self.pool, user_id=user_id, limit=RECEIVED_TOPICS_SHOWN
        )
        return preference_center(
            await self.topics(user_id), [r["topic"] for r in received], overrides
        )

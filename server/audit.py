"""The audit log: who changed what, from where. Every change an admin or a sign-in makes records
one event in the transaction of the change, so a change that rolls back leaves none.

No event holds a token, a password, a session id or a notification's text: callers hand in
ids, counts and field names only."""

from dataclasses import dataclass
from typing import Any

import asyncpg

from server.cursors import PageCursor
from server.db import fetch_all, queries
from server.identity import Caller

ACTIONS = (
    "user.create",
    "user.invite",
    "user.disable",
    "user.enable",
    "user.admin",
    "password.set",
    "token.create",
    "token.revoke",
    "device.approve",
    "device.deny",
    "login.success",
    "login.failure",
    "logout",
    "notification.send",
    "schedule.create",
    "schedule.cancel",
    "delivery.retry",
    "delivery.dismiss",
    "preferences.update",
    "team.create",
    "team.delete",
    "team.member.add",
    "team.member.remove",
    "topic.declare",
    "topic.delete",
    "topic.subscribe",
    "topic.unsubscribe",
    "integration.create",
    "integration.delete",
)
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Actor:
    """Who acts, and from which address. `user_id` None: the command line."""

    user_id: str | None
    token_id: str | None  # None for a web session
    ip: str | None
    via: str | None = None  # "cli", or how someone acted without a session (an invite)

    @classmethod
    def of(cls, caller: Caller, ip: str | None) -> "Actor":
        return cls(caller.user_id, caller.token_id, ip)

    def as_params(self) -> dict[str, Any]:
        """The parameters of a statement that records its own event (the send)."""
        return {
            "actor_user_id": self.user_id,
            "actor_token_id": self.token_id,
            "ip": self.ip,
            "via": self.via,
        }


#: An action taken on the command line.
CLI = Actor(None, None, None, via="cli")


async def record(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    *,
    target_user_id: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One event; `conn` must be inside the transaction of the change."""
    assert action in ACTIONS, action
    details = dict(details or {})
    if actor.via:
        details.setdefault("via", actor.via)
    await queries.record_audit(
        conn,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        action=action,
        target_user_id=target_user_id,
        target=target,
        ip=actor.ip,
        details=details,
    )


def event_dict(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "at": row["at"].isoformat(),
        "actor_user_id": row["actor_user_id"],
        "actor_token_id": str(row["actor_token_id"]) if row["actor_token_id"] else None,
        "action": row["action"],
        "target_user_id": row["target_user_id"],
        "target": row["target"],
        "ip": str(row["ip"]) if row["ip"] is not None else None,
        "details": row["details"],
    }


async def events(
    pool: asyncpg.Pool,
    *,
    limit: int,
    before: str | None = None,
    action: str | None = None,
    user_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of events, newest first, and the cursor of the next page (None at the end)."""
    before_id = PageCursor.decode(before).before_version if before is not None else MAX_ID
    rows = await fetch_all(
        queries.list_audit,
        pool,
        before=before_id,
        action=action,
        user_id=user_id,
        limit=limit + 1,
    )
    next_before = PageCursor(rows[limit - 1]["id"]).encode() if len(rows) > limit else None
    return [event_dict(r) for r in rows[:limit]], next_before

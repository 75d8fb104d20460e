"""Integrations (contract, "Ingest"): the sources an admin connects, each with an `ingest` token
of its own, and what they send, stored through the send path of POST /v1/notifications."""

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from server import audit
from server.api.schemas import EVENT_NAME_PATTERN
from server.audit import Actor
from server.db import fetch_all, queries
from server.errors import NotFound, UnknownAddresses
from server.identity import Caller, issue_token
from server.ingest import Integration, Kind
from server.service import Outgoing, Service


@dataclass(frozen=True)
class Stored:
    """What a source's message became: each notification's results, as the send gives them."""

    results: list[list[dict[str, Any]]]

    @property
    def stored(self) -> int:
        return sum(r["inserted"] for send in self.results for r in send)

    @property
    def duplicates(self) -> int:
        return sum(
            not r["inserted"] and not r.get("suppressed") for send in self.results for r in send
        )

    @property
    def first_id(self) -> str | None:
        """The first notification's id (a duplicate's too), for a reply that names one."""
        return next((r["id"] for send in self.results for r in send if r["id"]), None)


def integration_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    last_used = row["last_used_at"]
    return {
        "integration_id": str(row["integration_id"]),
        "name": row["name"],
        "kind": row["kind"],
        "to": list(row["audience"]),
        "topic": row["topic"],
        "created_at": row["created_at"].isoformat(),
        "last_used_at": last_used.isoformat() if last_used else None,
    }


class Integrations:
    def __init__(self, pool: asyncpg.Pool, service: Service):
        self.pool = pool
        self.service = service

    async def create(
        self, name: str, kind: Kind, to: list[str], topic: str | None, actor: Actor
    ) -> tuple[dict[str, Any], str]:
        """A new integration and its token (returned once, never stored). The token belongs to
        the admin who connects the source; an unknown address in `to` is refused."""
        if actor.user_id is None:
            raise NotFound("an integration needs an admin to belong to")
        if to:
            unknown = (await self.service.count_audience(to)).unknown
            if unknown:
                raise UnknownAddresses(unknown)
        async with self.pool.acquire() as conn, conn.transaction():
            token, token_id = await issue_token(
                conn, actor.user_id, scope="ingest", name=f"{kind}: {name}"[:100]
            )
            row = await queries.create_integration(
                conn, name=name, kind=kind, audience=to, topic=topic, token_id=uuid.UUID(token_id)
            )
            integration_id = str(row["integration_id"])
            await audit.record(
                conn,
                actor,
                "integration.create",
                target=integration_id,
                details={"kind": kind, "to": len(to)},
            )
        return integration_dict(row), token

    async def list(self) -> list[dict[str, Any]]:
        return [integration_dict(r) for r in await fetch_all(queries.list_integrations, self.pool)]

    async def delete(self, integration_id: str, actor: Actor) -> None:
        try:
            key = uuid.UUID(integration_id)
        except ValueError:
            raise NotFound("no such integration") from None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.delete_integration(conn, integration_id=key)
            if row is None:
                raise NotFound("no such integration")
            await audit.record(
                conn,
                actor,
                "integration.delete",
                target_user_id=row["user_id"],
                target=integration_id,
                details={"kind": row["kind"]},
            )

    async def of_caller(self, caller: Caller, kind: Kind) -> Integration | None:
        """The integration of kind `kind` whose token the caller used, else None."""
        if caller.scope != "ingest" or caller.token_id is None:
            return None
        row = await queries.token_integration(self.pool, token_id=uuid.UUID(caller.token_id))
        if row is None or row["kind"] != kind:
            return None
        return Integration(
            str(row["integration_id"]),
            row["name"],
            row["kind"],
            list(row["audience"]),
            row["topic"],
        )

    async def send(
        self, integration: Integration, outgoings: Sequence[Outgoing], actor: Actor
    ) -> Stored:
        """All of a payload's notifications in one transaction, to the integration's audience
        (an ntfy message's to its topic's subscribers too); the audit event names the kind."""
        if not outgoings:
            return Stored([])
        to = outgoings[0].to or []
        assert all(o.to == to for o in outgoings), "one audience per payload"
        topic = outgoings[0].topic if integration.kind == "ntfy" else None
        if topic is not None and not re.fullmatch(EVENT_NAME_PATTERN, topic):
            raise NotFound(f"no topic {topic!r}")
        via = Actor(actor.user_id, actor.token_id, actor.ip, via=integration.kind)
        try:
            return Stored(await self.service.send_together(outgoings, to, via))
        except UnknownAddresses as exc:
            if topic is not None and f"topic:{topic}" in exc.addresses:
                raise NotFound(f"no topic {topic!r}: an admin declares it first") from None
            raise

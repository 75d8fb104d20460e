"""Who is calling: the caller a token or a session stands for, and the tokens themselves.

Every secret the server hands out (API tokens, session ids, invite, unsubscribe and device
codes) is stored only as `hash_token` of it, so the service, the sign-in rules and the worker
all hash here."""

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from server.db import queries
from server.errors import NotFound

TOKEN_PREFIX = "tb_"


#: What a token may do (contract, "Token scopes"): `admin` calls need an admin's `admin` token,
#: `user` acts only as its user, `ingest` (an integration's) reaches no /v1 call.
TokenScope = Literal["admin", "user", "ingest"]


@dataclass(frozen=True)
class Caller:
    user_id: str
    is_admin: bool  # may make admin calls: an admin on the web, or an admin's `admin` token
    token_id: str | None = None  # None when signed in on the web
    scope: TokenScope | None = None  # the token's; None when signed in on the web
    integration_id: str | None = None  # the integration an `ingest` token sends for

    @classmethod
    def of_token(cls, row: Mapping[str, Any]) -> "Caller":
        """The caller a token names: its user acts as an admin only through an `admin` token."""
        scope = row["scope"]
        return cls(
            row["user_id"], row["is_admin"] and scope == "admin", str(row["token_id"]), scope
        )


def hash_token(token: str) -> bytes:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).digest()


async def issue_token(
    conn: Any, user_id: str, *, scope: TokenScope, name: str = "API token", kind: str = "api"
) -> tuple[str, str]:
    """A new token for the user; returns (token, token_id). Only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = await queries.create_token(
        conn, user_id=user_id, token_hash=hash_token(token), name=name, kind=kind, scope=scope
    )
    if token_id is None:
        raise NotFound(f"no user {user_id!r}")
    return token, str(token_id)

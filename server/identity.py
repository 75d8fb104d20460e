"""Who is calling: the caller a token or a session stands for, and the tokens themselves.

Every secret the server hands out (API tokens, session ids, invite, unsubscribe and device
codes) is stored only as `hash_token` of it, so the service, the sign-in rules and the worker
all hash here."""

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from server.db import queries
from server.errors import NotFound

TOKEN_PREFIX = "tb_"


@dataclass(frozen=True)
class Caller:
    user_id: str
    is_admin: bool
    token_id: str | None = None  # None when signed in on the web


def hash_token(token: str) -> bytes:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).digest()


async def issue_token(
    conn: Any, user_id: str, *, name: str = "API token", kind: str = "api"
) -> tuple[str, str]:
    """A new token for the user; returns (token, token_id). Only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = await queries.create_token(
        conn, user_id=user_id, token_hash=hash_token(token), name=name, kind=kind
    )
    if token_id is None:
        raise NotFound(f"no user {user_id!r}")
    return token, str(token_id)

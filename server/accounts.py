"""The rules of signing in on the web: passwords, sessions, invites and the sign-in throttle.

Page handlers and the command line call in here; every statement it runs is a named query in
db/. Secrets are stored only as hashes: passwords with argon2, session ids and invite tokens
(256 random bits each) with SHA-256.
"""

import asyncio
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import argon2
import asyncpg

from server import audit
from server.audiences import Audiences
from server.audit import Actor
from server.config import Settings
from server.db import queries
from server.errors import NotFound
from server.identity import Caller, TokenScope, hash_token, issue_token
from server.oidc import Person
from shared.models import DeviceAuthorization, DeviceGrant

MIN_PASSWORD_LENGTH = 10
# argon2 hashes whatever it is given; a cap keeps one request from costing seconds of CPU.
MAX_PASSWORD_LENGTH = 1_000
INVITE_DAYS = 7
LOGIN_WINDOW_SECONDS = 15 * 60
MAX_LOGIN_FAILURES = 5
# Failed password checks per client address and minute, whatever login they name: counted
# before argon2 runs, so a flood of made-up logins costs the server no hashing past these.
CLIENT_WINDOW_SECONDS = 60
MAX_CLIENT_FAILURES = 10
# Device sign-ins one client address may start a minute: each puts its client name on an
# approval page.
MAX_DEVICE_AUTHORIZATIONS = 10

# Device sign-in (RFC 8628): codes people can read out and type without mistakes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
DEVICE_CODE_SECONDS = 600
DEVICE_POLL_SECONDS = 5
SLOW_DOWN_SECONDS = 5
# A client that waits its interval may still arrive a little early (network jitter).
POLL_TOLERANCE_SECONDS = 1
CODE_ENTRY_WINDOW_SECONDS = 60
# Codes looked up per session and minute, right or wrong: counting the right ones too means
# a code of one's own cannot reset the count between guesses.
MAX_CODE_ENTRIES = 5

_hasher = argon2.PasswordHasher()


class WeakPassword(ValueError):
    """The password breaks the password rule; the message says which part, for people."""


class Throttled(Exception):
    """Too many attempts (sign-ins for one login, codes entered in one session) lately."""

    def __init__(self, retry_at: datetime):
        super().__init__("too many attempts")
        self.retry_at = retry_at

    @property
    def retry_after(self) -> int:
        """Whole seconds until the next attempt may pass (for a Retry-After header)."""
        return max(1, math.ceil((self.retry_at - datetime.now(UTC)).total_seconds()))


class PasswordSignInOff(Exception):
    """TRAYBELL_PASSWORD_SIGNIN=off: people sign in with the company account only."""


class UserDisabled(Exception):
    """The company sign-in named a user an admin has disabled."""


class AdminApprovalNeeded(Exception):
    """A device that asks for the admin scope, approved by someone who is not an admin."""


class DeviceGrantRefused(Exception):
    """A device poll that gets no token (yet); `code` is the error code the API answers."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class PendingDevice:
    user_code: str  # as people read it
    client_name: str
    scope: TokenScope  # `admin`: the device will act as an admin (only an admin approves)


def user_code_for_people(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def parse_user_code(typed: str) -> str | None:
    """A typed code without case, hyphens or spaces; None when it cannot be one."""
    code = "".join(c for c in typed.upper() if c not in "- ")
    if len(code) == USER_CODE_LENGTH and all(c in USER_CODE_ALPHABET for c in code):
        return code
    return None


@dataclass(frozen=True)
class SignedIn:
    caller: Caller
    session_id: str  # goes into the cookie; only its hash is stored


def check_password_rule(password: str, confirmation: str | None = None) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"The password may have at most {MAX_PASSWORD_LENGTH} characters.")
    if "\x00" in password:
        raise WeakPassword("The password must not contain NUL characters.")
    if confirmation is not None and confirmation != password:
        raise WeakPassword("The two passwords differ.")


@cache
def _dummy_hash() -> str:
    # An unknown login is verified against this, so it costs what a known one does.
    return _hasher.hash(secrets.token_urlsafe(16))


async def _hash(password: str) -> str:
    # argon2 takes tens of milliseconds of CPU on purpose: off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def _attempt_key(kind: str, value: str) -> bytes:
    return hash_token(f"{kind}\0{value}")


def _client_key(kind: str, ip: str | None) -> bytes:
    return _attempt_key(kind, ip or "unknown address")


def _account_key(account: asyncpg.Record | None, login: str) -> bytes:
    """One budget per user, whether they typed their id or their email address; per typed
    text for a login that names nobody."""
    if account is not None:
        return _attempt_key("user", account["user_id"])
    return _attempt_key("login", login.strip().casefold())


async def _count_attempt(
    conn: asyncpg.Connection, key_hash: bytes, *, window_seconds: int, max_attempts: int
) -> None:
    """Counts one attempt under the key (committed at once, so that concurrent attempts see it);
    Throttled when the window already holds `max_attempts`."""
    async with conn.transaction():
        await queries.lock_attempts(conn, key_hash=key_hash)
        attempt = await queries.record_attempt(
            conn, key_hash=key_hash, window_seconds=window_seconds, max_attempts=max_attempts
        )
    if not attempt["allowed"]:
        raise Throttled(attempt["retry_at"])


class Accounts:
    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self.pool = pool
        self.settings = settings

    # ------------------------------------------------------------------ signing in and out

    async def sign_in(self, login: str, password: str, *, ip: str | None) -> SignedIn | None:
        """A new session for the right password; None for a wrong one (which part was wrong is
        never said); Throttled after too many failures from this client or for this user (see
        _check_password). A failure's audit event names the user only when the login matched
        one: the typed text may be a password typed into the wrong field. PasswordSignInOff
        when passwords are off (TRAYBELL_PASSWORD_SIGNIN)."""
        if not self.settings.password_signin:
            raise PasswordSignInOff()
        async with self.pool.acquire() as conn:
            password = password[:MAX_PASSWORD_LENGTH]
            account = await self._check_password(
                conn, login, password, actor=Actor(None, None, ip), during="sign-in"
            )
            if account is None:
                return None
            async with conn.transaction():
                await audit.record(
                    conn,
                    Actor(account["user_id"], None, ip),
                    "login.success",
                    target_user_id=account["user_id"],
                )
                if _hasher.check_needs_rehash(account["password_hash"]):
                    await queries.rehash_password(
                        conn, user_id=account["user_id"], password_hash=await _hash(password)
                    )
                session_id = await self._create_session(conn, account["user_id"])
        return SignedIn(Caller(account["user_id"], account["is_admin"]), session_id)

    async def sign_in_person(
        self, person: Person, audiences: Audiences, *, ip: str | None
    ) -> SignedIn:
        """A new session for someone the identity provider signed in (server.oidc), in one
        transaction: their user made at the first sign-in, their admin flag (when
        TRAYBELL_OIDC_ADMIN_GROUPS is set) and provider-managed teams set to their groups'.
        UserDisabled (audited as a login.failure) for a user an admin disabled."""
        actor = Actor(person.user_id, None, ip, via="oidc")
        async with self.pool.acquire() as conn:
            signed_in = await self._sign_in_person(conn, person, audiences, actor)
            if signed_in is None:
                async with conn.transaction():
                    await audit.record(
                        conn,
                        actor,
                        "login.failure",
                        target_user_id=person.user_id,
                        details={"reason": "disabled"},
                    )
                raise UserDisabled()
        return signed_in

    async def _sign_in_person(
        self, conn: asyncpg.Connection, person: Person, audiences: Audiences, actor: Actor
    ) -> SignedIn | None:
        """sign_in_person's transaction; None for a disabled user (and nothing changed)."""
        async with conn.transaction():
            user = await queries.get_user(conn, user_id=person.user_id)
            if user is None:
                user = await queries.create_user(
                    conn,
                    user_id=person.user_id,
                    display_name=person.display_name,
                    is_admin=bool(person.is_admin),
                    email=person.email,
                    email_enabled=self.settings.default_email,
                    push_enabled=self.settings.default_push,
                )
                if user is None:  # made by a sign-in of theirs a moment ago
                    user = await queries.get_user(conn, user_id=person.user_id)
                else:
                    await audit.record(
                        conn,
                        actor,
                        "user.create",
                        target_user_id=person.user_id,
                        details={"admin": user["is_admin"]},
                    )
            if user["disabled_at"] is not None:
                return None
            is_admin = user["is_admin"]
            if person.is_admin is not None and person.is_admin != is_admin:
                await queries.set_admin(conn, user_id=person.user_id, is_admin=person.is_admin)
                await audit.record(
                    conn,
                    actor,
                    "user.admin",
                    target_user_id=person.user_id,
                    details={"admin": person.is_admin},
                )
                is_admin = person.is_admin
            await audiences.set_oidc_teams(conn, person.user_id, list(person.team_groups), actor)
            await audit.record(conn, actor, "login.success", target_user_id=person.user_id)
            session_id = await self._create_session(conn, person.user_id)
        return SignedIn(Caller(person.user_id, is_admin), session_id)

    async def company_sign_in_failed(self, reason: str, *, ip: str | None) -> None:
        """The audit event of a company sign-in that the provider's answer did not finish."""
        async with self.pool.acquire() as conn, conn.transaction():
            actor = Actor(None, None, ip, via="oidc")
            await audit.record(conn, actor, "login.failure", details={"reason": reason})

    async def _check_password(
        self, conn: asyncpg.Connection, login: str, password: str, *, actor: Actor, during: str
    ) -> asyncpg.Record | None:
        """The one password check of every sign-in and password change: the account when
        `password` is its password, else None (audited as a login.failure).

        Before argon2 runs, the attempt counts against two budgets, each a failure until it
        succeeds: the client's address (MAX_CLIENT_FAILURES a minute, whatever login it
        names) and the account (MAX_LOGIN_FAILURES in LOGIN_WINDOW_SECONDS, whether by user
        id or email address). Past either it raises Throttled; the audit log gets one event
        for the first refusal of each budget and window, not one per refused attempt. A
        success clears the account's count and takes its own attempt off the client's."""
        client_key = _client_key("sign-in", actor.ip)
        await self._spend(conn, client_key, CLIENT_WINDOW_SECONDS, MAX_CLIENT_FAILURES, actor)
        account = await queries.find_login(conn, login=login.strip()[:320])
        target = account["user_id"] if account else None
        account_key = _account_key(account, login)
        try:
            await self._spend(
                conn, account_key, LOGIN_WINDOW_SECONDS, MAX_LOGIN_FAILURES, actor, target
            )
        except Throttled:
            await queries.forget_attempt(conn, key_hash=client_key)  # refused: nothing hashed
            raise
        hashed = account["password_hash"] if account else None
        if not await asyncio.to_thread(_verify, hashed, password):
            async with conn.transaction():
                reason = "password" if account else "unknown_login"
                await audit.record(
                    conn,
                    actor,
                    "login.failure",
                    target_user_id=target,
                    details={"reason": reason, "during": during},
                )
            return None
        assert account is not None  # a dummy hash never verifies as true
        async with conn.transaction():
            await queries.clear_attempts(conn, key_hash=account_key)
            await queries.forget_attempt(conn, key_hash=client_key)
        return account

    async def _spend(
        self,
        conn: asyncpg.Connection,
        key_hash: bytes,
        window_seconds: int,
        max_attempts: int,
        actor: Actor,
        target_user_id: str | None = None,
    ) -> None:
        """Counts an attempt under the key; Throttled past the budget, audited once a window."""
        try:
            await _count_attempt(
                conn, key_hash, window_seconds=window_seconds, max_attempts=max_attempts
            )
        except Throttled:
            try:
                # a marker of its own: the first refusal of the window passes it, later ones not
                await _count_attempt(
                    conn,
                    _attempt_key("refused", key_hash.hex()),
                    window_seconds=window_seconds,
                    max_attempts=1,
                )
            except Throttled:
                pass
            else:
                async with conn.transaction():
                    await audit.record(
                        conn,
                        actor,
                        "login.failure",
                        target_user_id=target_user_id,
                        details={"reason": "throttled"},
                    )
            raise

    async def session_caller(self, session_id: str) -> tuple[Caller, str | None] | None:
        """The caller a live session signs in, with their `language` preference."""
        row = await queries.session_caller(self.pool, session_hash=hash_token(session_id))
        return (Caller(row["user_id"], row["is_admin"]), row["language"]) if row else None

    async def sign_out(self, session_id: str, actor: Actor) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await queries.delete_session(conn, session_hash=hash_token(session_id))
            await audit.record(conn, actor, "logout", target_user_id=actor.user_id)

    async def _create_session(self, conn: asyncpg.Connection, user_id: str) -> str:
        # A fresh id at every sign-in: a session id planted before it is worth nothing after.
        session_id = secrets.token_urlsafe(32)
        await queries.create_session(
            conn,
            session_hash=hash_token(session_id),
            user_id=user_id,
            hours=self.settings.session_hours,
        )
        return session_id

    # ------------------------------------------------------------------ passwords and invites

    async def set_password(self, user_id: str, password: str, actor: Actor) -> None:
        """Sets the password and ends every web session of the user."""
        check_password_rule(password)
        password_hash = await _hash(password)
        async with self.pool.acquire() as conn, conn.transaction():
            changed = await queries.set_password(conn, user_id=user_id, password_hash=password_hash)
            if changed is None:
                raise NotFound(f"no user {user_id!r}")
            await audit.record(conn, actor, "password.set", target_user_id=user_id)

    async def change_password(
        self, caller: Caller, current: str, new: str, confirmation: str, actor: Actor
    ) -> str | None:
        """The signed-in user's own change: None when `current` is wrong, else the id of a new
        session for this browser (every older session has ended). `current` is checked as a
        sign-in's password is (_check_password): Throttled past the same budgets."""
        check_password_rule(new, confirmation)
        async with self.pool.acquire() as conn:
            current = current[:MAX_PASSWORD_LENGTH]
            checked = await self._check_password(
                conn, caller.user_id, current, actor=actor, during="password change"
            )
            if checked is None:
                return None
            async with conn.transaction():
                await queries.set_password(
                    conn, user_id=caller.user_id, password_hash=await _hash(new)
                )
                await audit.record(conn, actor, "password.set", target_user_id=caller.user_id)
                return await self._create_session(conn, caller.user_id)

    async def create_invite(self, user_id: str, actor: Actor) -> tuple[str, datetime]:
        """A one-time sign-up link, valid INVITE_DAYS; it voids the user's older invite."""
        token = secrets.token_urlsafe(32)
        async with self.pool.acquire() as conn, conn.transaction():
            expires_at = await queries.create_invite(
                conn, user_id=user_id, token_hash=hash_token(token), days=INVITE_DAYS
            )
            if expires_at is None:
                raise NotFound(f"no user {user_id!r}")
            await audit.record(conn, actor, "user.invite", target_user_id=user_id)
        return f"{self.settings.public_url}/invite/{token}", expires_at

    async def invited_user(self, token: str) -> str:
        user_id = await queries.invite_user(self.pool, token_hash=hash_token(token))
        if user_id is None:
            raise NotFound("no such invite")
        return user_id

    async def accept_invite(
        self, token: str, password: str, confirmation: str, *, ip: str | None
    ) -> SignedIn:
        """Sets the password, uses the invite up and signs the user in."""
        check_password_rule(password, confirmation)
        password_hash = await _hash(password)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.accept_invite(
                conn, token_hash=hash_token(token), password_hash=password_hash
            )
            if row is None:
                raise NotFound("no such invite")
            invited = Actor(row["user_id"], None, ip, via="invite")
            for action in ("password.set", "login.success"):
                await audit.record(conn, invited, action, target_user_id=row["user_id"])
            session_id = await self._create_session(conn, row["user_id"])
        return SignedIn(Caller(row["user_id"], row["is_admin"]), session_id)

    # ------------------------------------------------------------------ device sign-in

    async def authorize_device(
        self, client_name: str, scope: TokenScope = "user", *, ip: str | None
    ) -> DeviceAuthorization:
        """Step 1: a device code for the client, a user code for the person; the token it
        leads to will have `scope` (`user` or `admin`). Throttled past
        MAX_DEVICE_AUTHORIZATIONS a minute from the client's address."""
        async with self.pool.acquire() as conn:
            await _count_attempt(
                conn,
                _client_key("device authorization", ip),
                window_seconds=CLIENT_WINDOW_SECONDS,
                max_attempts=MAX_DEVICE_AUTHORIZATIONS,
            )
        device_code = secrets.token_urlsafe(32)
        while True:  # a user code still held by another request: draw again
            user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
            stored = await queries.create_device_code(
                self.pool,
                device_code_hash=hash_token(device_code),
                user_code=user_code,
                client_name=client_name,
                scope=scope,
                expires_in=DEVICE_CODE_SECONDS,
            )
            if stored is not None:
                break
        shown = user_code_for_people(user_code)
        verification_uri = f"{self.settings.public_url}/device"
        return DeviceAuthorization(
            device_code=device_code,
            user_code=shown,
            verification_uri=verification_uri,
            verification_uri_complete=f"{verification_uri}?code={shown}",
            expires_in=DEVICE_CODE_SECONDS,
            interval=DEVICE_POLL_SECONDS,
        )

    async def poll_device(self, device_code: str, *, ip: str | None) -> DeviceGrant:
        """Step 3: the token, exactly once, after the person approved; else DeviceGrantRefused."""
        device_code_hash = hash_token(device_code)
        refused: DeviceGrantRefused | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            found = await queries.lock_device_code(
                conn, device_code_hash=device_code_hash, tolerance_seconds=POLL_TOLERANCE_SECONDS
            )
            if found is None:
                raise DeviceGrantRefused("invalid_grant", "No such device code.")
            if found["expired"] or found["status"] == "issued":
                raise DeviceGrantRefused(
                    "expired_token", "This sign-in has expired or was used; start a new one."
                )
            if found["status"] == "denied" or found["user_disabled"]:
                raise DeviceGrantRefused("access_denied", "The sign-in was denied.")
            approved = found["status"] == "approved"
            too_soon = bool(found["too_soon"]) and not approved
            # The poll is recorded (and committed) whatever it answers: the next one is
            # judged by it.
            await queries.record_device_poll(
                conn,
                device_code_hash=device_code_hash,
                slow_down_seconds=SLOW_DOWN_SECONDS if too_soon else 0,
                issued=approved,
            )
            if approved:
                token, token_id = await issue_token(
                    conn,
                    found["user_id"],
                    scope=found["scope"],
                    name=found["client_name"],
                    kind="device",
                )
                await audit.record(
                    conn,
                    Actor(found["user_id"], None, ip, via="device sign-in"),
                    "token.create",
                    target_user_id=found["user_id"],
                    target=token_id,
                    details={"kind": "device", "scope": found["scope"]},
                )
            elif too_soon:
                refused = DeviceGrantRefused(
                    "slow_down", f"Polled too often; wait {SLOW_DOWN_SECONDS} s longer."
                )
            else:
                refused = DeviceGrantRefused(
                    "authorization_pending", "Waiting for the person to approve the sign-in."
                )
        if refused is not None:
            raise refused
        return DeviceGrant(token, token_id, found["user_id"])

    async def pending_device(self, session_id: str, typed_code: str) -> PendingDevice | None:
        """Step 2, the page: the device waiting for this code, if any. Each look-up counts
        toward the session's code entries (Throttled past MAX_CODE_ENTRIES a minute)."""
        code = await self._entered_code(session_id, typed_code)
        if code is None:
            return None
        row = await queries.pending_device_code(self.pool, user_code=code)
        if row is None:
            return None
        return PendingDevice(user_code_for_people(code), row["client_name"], row["scope"])

    async def decide_device(
        self, caller: Caller, session_id: str, typed_code: str, *, approve: bool, actor: Actor
    ) -> str | None:
        """Step 2, the decision: the approved or denied client's name; None when the code names
        no waiting device; AdminApprovalNeeded when someone who is not an admin approves a
        device that asks for the admin scope."""
        code = await self._entered_code(session_id, typed_code)
        if code is None:
            return None
        async with self.pool.acquire() as conn, conn.transaction():
            decided = await queries.decide_device_code(
                conn,
                user_code=code,
                status="approved" if approve else "denied",
                user_id=caller.user_id,
                approver_is_admin=caller.is_admin,
            )
            if decided is None:
                if await queries.pending_device_code(conn, user_code=code) is not None:
                    raise AdminApprovalNeeded()
                return None
            await audit.record(
                conn,
                actor,
                "device.approve" if approve else "device.deny",
                target_user_id=caller.user_id,
                details={"client_name": decided["client_name"], "scope": decided["scope"]},
            )
        return decided["client_name"]

    async def _entered_code(self, session_id: str, typed_code: str) -> str | None:
        async with self.pool.acquire() as conn:
            await _count_attempt(
                conn,
                _attempt_key("device", session_id),
                window_seconds=CODE_ENTRY_WINDOW_SECONDS,
                max_attempts=MAX_CODE_ENTRIES,
            )
        return parse_user_code(typed_code)

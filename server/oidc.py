"""Company sign-in: Traybell as an OpenID Connect relying party (the contract's "Company
sign-in"). One provider object, made from the provider's discovery document at first use,
starts the authorization code flow (PKCE S256, `state`, `nonce`) and finishes it (the code
exchanged, the ID token checked by joserfc against the provider's published keys); one
function, `person_of`, turns the token's claims into the user, admin flag and teams that
Accounts.sign_in_person signs in. The session that follows is the password sign-in's own."""

import asyncio
import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from server.api.schemas import NOT_IN_NEW_USER_IDS
from server.config import Settings, is_acceptable_issuer

#: How long the provider gets for one call before the sign-in page says it does not answer.
PROVIDER_TIMEOUT_SECONDS = 10
#: Seconds of clock difference between the provider and this server that an ID token's times
#: may have.
CLOCK_LEEWAY_SECONDS = 60
#: The user id rules (the API's NEW_USER_ID_PATTERN): no blanks, controls or "/", 200 at most.
MAX_USER_ID_LENGTH = 200


class ProviderUnavailable(Exception):
    """The provider did not answer, or not as an OpenID Provider does (answered with 502)."""


class SignInRejected(Exception):
    """The sign-in cannot be finished (answered with 400): a `state` that is not this
    browser's, the provider's refusal, a refused code or a token that fails a check. `reason`
    is the audit log's word for it."""

    def __init__(self, message: str, reason: str = "token"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Attempt:
    """One sign-in under way, kept by the browser that started it (a cookie) until the
    provider sends it back: `state` must match, the rest is needed to finish."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str


@dataclass(frozen=True)
class Person:
    """Who the provider says signed in, in Traybell's terms."""

    user_id: str
    email: str | None
    display_name: str | None
    team_groups: tuple[str, ...]  # the groups that are provider-managed teams
    is_admin: bool | None  # None: TRAYBELL_OIDC_ADMIN_GROUPS is unset, the flag is Traybell's


def _as_text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def person_of(claims: Mapping[str, Any], settings: Settings) -> Person | None:
    """The one mapping from an ID token's claims to a Traybell user and teams; None when the
    claims name nobody Traybell can use (no user id claim)."""
    named_by = settings.oidc_user_claim
    raw_id = (
        _as_text(claims.get(named_by))
        if named_by
        else _as_text(claims.get("preferred_username")) or _as_text(claims.get("sub"))
    )
    user_id = re.sub(NOT_IN_NEW_USER_IDS, "-", raw_id)[:MAX_USER_ID_LENGTH] if raw_id else ""
    if not user_id:
        return None
    listed = claims.get(settings.oidc_groups_claim)
    groups = [g for g in listed if isinstance(g, str)] if isinstance(listed, list) else []
    wanted = settings.oidc_team_groups
    team_groups = tuple(g for g in groups if "*" in wanted or g in wanted)
    admins = settings.oidc_admin_groups
    email = _as_text(claims.get("email"))
    return Person(
        user_id=user_id,
        email=email[:320] if email else None,
        display_name=(_as_text(claims.get("name")) or "")[:200] or None,
        team_groups=team_groups,
        is_admin=None if admins is None else any(g in admins for g in groups),
    )


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProvider:
    """The provider at TRAYBELL_OIDC_ISSUER. Its discovery document and keys are fetched at
    first use and kept; the keys are fetched again when a token names a key id they lack (the
    provider rotated its keys)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient):
        assert settings.oidc_issuer, "only with TRAYBELL_OIDC_ISSUER set"
        self.settings = settings
        self.issuer: str = settings.oidc_issuer
        self.http = http
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url}/login/oidc/callback"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            reply = await self.http.get(url, timeout=PROVIDER_TIMEOUT_SECONDS)
            reply.raise_for_status()
            document = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"{url}: {exc}") from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"{url}: not a JSON object")
        return document

    async def discovery(self) -> dict[str, Any]:
        async with self._lock:
            if self._discovery is None:
                url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
                document = await self._get_json(url)
                endpoints = ("authorization_endpoint", "token_endpoint", "jwks_uri")
                if document.get("issuer") != self.issuer or not all(
                    isinstance(document.get(e), str) and is_acceptable_issuer(document[e])
                    for e in endpoints
                ):
                    raise ProviderUnavailable(f"{url}: not this issuer's discovery document")
                self._discovery = document
            return self._discovery

    async def _key_set(self, *, refresh: bool) -> KeySet:
        discovery = await self.discovery()
        async with self._lock:
            if self._keys is None or refresh:
                document = await self._get_json(discovery["jwks_uri"])
                try:
                    self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    raise ProviderUnavailable(f"the provider's keys: {exc}") from None
            return self._keys

    async def start(self, next_path: str) -> tuple[str, Attempt]:
        """Where to send the browser, and what it must keep until it comes back."""
        discovery = await self.discovery()
        attempt = Attempt(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            next_path=next_path,
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.oidc_client_id,
                "redirect_uri": self.redirect_uri,
                "scope": "openid profile email",
                "state": attempt.state,
                "nonce": attempt.nonce,
                "code_challenge": _s256(attempt.code_verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = discovery["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", attempt

    async def finish(self, attempt: Attempt, code: str) -> dict[str, Any]:
        """The checked claims of the ID token the code is exchanged for."""
        discovery = await self.discovery()
        try:
            reply = await self.http.post(
                discovery["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "code_verifier": attempt.code_verifier,
                },
                auth=(self.settings.oidc_client_id, self.settings.oidc_client_secret),
                timeout=PROVIDER_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"token endpoint: {exc}") from None
        if 400 <= reply.status_code < 500:
            raise SignInRejected(f"the provider refused the code ({reply.status_code})")
        if reply.status_code != 200:
            raise ProviderUnavailable(f"token endpoint answered {reply.status_code}")
        try:
            id_token = reply.json()["id_token"]
        except (ValueError, KeyError, TypeError):
            raise SignInRejected("the provider's answer has no ID token") from None
        if not isinstance(id_token, str):
            raise SignInRejected("the provider's answer has no ID token")
        return await self._checked_claims(id_token, attempt.nonce, discovery)

    async def _checked_claims(
        self, id_token: str, nonce: str, discovery: dict[str, Any]
    ) -> dict[str, Any]:
        algorithms = [
            a
            for a in discovery.get("id_token_signing_alg_values_supported") or ["RS256"]
            if isinstance(a, str) and a != "none" and not a.startswith("HS")
        ]
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(refresh=False), algorithms)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, await self._key_set(refresh=True), algorithms)
            jwt.JWTClaimsRegistry(
                leeway=CLOCK_LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.settings.oidc_client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
                sub={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInRejected(f"the ID token: {exc}") from None
        return token.claims

"""The company sign-in's two pages: /login/oidc sends the browser to the identity provider,
/login/oidc/callback signs in whom it sends back (server.oidc holds the protocol, Accounts the
rules of the user it makes). Their refusals are pages by the error table (server.api.errors):
400 for a sign-in that cannot be finished, 502 for a provider that does not answer."""

import base64
import json
import secrets
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from server.dependencies import AccountsDep, AudiencesDep, request_ip
from server.errors import NotFound
from server.oidc import Attempt, OidcProvider, SignInRejected, person_of
from server.web.routing import PageRoute
from server.web.security import local_path
from server.web.session import VisitorDep, set_session_cookie

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: The sign-in under way, in the browser that started it: only sent back to the callback.
ATTEMPT_COOKIE = "traybell_oidc"
ATTEMPT_PATH = "/login/oidc"
ATTEMPT_SECONDS = 600
_MAX_ATTEMPT_COOKIE = 2_000
STATE_MISMATCH = "this sign-in was already finished, has expired or was started in another browser"


def _provider(request: Request) -> OidcProvider:
    provider: OidcProvider | None = request.app.state.oidc
    if provider is None:
        raise NotFound("no company sign-in here")
    return provider


def _encode(attempt: Attempt) -> str:
    return base64.urlsafe_b64encode(json.dumps(asdict(attempt)).encode()).decode()


def _attempt_of(request: Request) -> Attempt | None:
    raw = request.cookies.get(ATTEMPT_COOKIE, "")
    if not raw or len(raw) > _MAX_ATTEMPT_COOKIE:
        return None
    try:
        attempt = Attempt(**json.loads(base64.urlsafe_b64decode(raw)))
    except (ValueError, TypeError):
        return None
    # the browser may send anything back: only what this server wrote counts
    fields = (attempt.state, attempt.nonce, attempt.code_verifier, attempt.next_path)
    return attempt if all(isinstance(value, str) for value in fields) else None


@router.get("/login/oidc")
async def start_company_sign_in(request: Request, visitor: VisitorDep, next: str = "/") -> Response:
    target = local_path(next)
    if visitor.caller is not None:
        return RedirectResponse(target, status_code=303)
    settings = request.app.state.service.settings
    authorization_url, attempt = await _provider(request).start(target)
    response = RedirectResponse(authorization_url, status_code=303)
    response.set_cookie(
        ATTEMPT_COOKIE,
        _encode(attempt),
        max_age=ATTEMPT_SECONDS,
        path=ATTEMPT_PATH,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level navigation: it is sent
        secure=settings.public_url.startswith("https:"),
    )
    return response


@router.get("/login/oidc/callback")
async def finish_company_sign_in(
    request: Request,
    accounts: AccountsDep,
    audiences: AudiencesDep,
    state: str = "",
    code: str = "",
    error: str = "",
) -> Response:
    provider = _provider(request)
    attempt = _attempt_of(request)
    if attempt is None or not secrets.compare_digest(attempt.state.encode(), state.encode()):
        raise SignInRejected(STATE_MISMATCH)
    ip = request_ip(request)
    try:
        if error or not code:
            reason = (error or "no code")[:100]
            raise SignInRejected(
                f"the identity provider did not sign you in ({reason})", "provider_error"
            )
        person = person_of(await provider.finish(attempt, code), provider.settings)
        if person is None:
            raise SignInRejected("the identity provider's answer names no user")
    except SignInRejected as exc:
        await accounts.company_sign_in_failed(exc.reason, ip=ip)
        raise
    signed_in = await accounts.sign_in_person(person, audiences, ip=ip)
    response = RedirectResponse(local_path(attempt.next_path), status_code=303)
    set_session_cookie(request, response, signed_in.session_id)
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_PATH)
    return response

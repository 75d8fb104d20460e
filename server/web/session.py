"""Who is visiting a page: the session cookie resolved to a caller, the CSRF token of the page's
forms, and the check every form post goes through."""

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response

from server.accounts import Accounts
from server.identity import Caller
from server.web.security import (
    ANONYMOUS_CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_token,
    is_same_site,
)
from shared.i18n import LazyText, lazy_gettext

# Longer cookies than ours are not ours: no database lookup for them.
_MAX_COOKIE_LENGTH = 100


class SignInRequired(Exception):
    """The page needs a session: answered with 303 to /login?next=<this page>."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class PageRefused(Exception):
    """An error page with this status and message for people."""

    def __init__(self, status: int, message: str | LazyText):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Visitor:
    caller: Caller | None
    session_id: str | None
    csrf_token: str
    # set when this response must give the browser its anonymous CSRF secret
    new_csrf_secret: str | None = None
    language: str | None = None  # the signed-in person's preference

    @property
    def user(self) -> Caller:
        assert self.caller is not None, "only for pages that need a session"
        return self.caller


def _cookie(request: Request, name: str) -> str | None:
    value = request.cookies.get(name)
    return value if value and len(value) <= _MAX_COOKIE_LENGTH else None


async def session_caller_of(request: Request) -> tuple[Caller, str, str | None] | None:
    """The caller the request's session cookie signs in, with the session id and their language
    preference; None without a live session."""
    session_id = _cookie(request, SESSION_COOKIE)
    if session_id is None:
        return None
    accounts: Accounts = request.app.state.accounts
    found = await accounts.session_caller(session_id)
    if found is None:
        return None
    caller, language = found
    return caller, session_id, language


async def visitor(request: Request) -> Visitor:
    """The visitor, looked up once per request (the form check of PageRoute may have already)."""
    if (known := getattr(request.state, "visitor", None)) is not None:
        return known
    signed_in = await session_caller_of(request)
    if signed_in is not None:
        caller, session_id, language = signed_in
        found = Visitor(caller, session_id, csrf_token(session_id), language=language)
    else:
        secret = _cookie(request, ANONYMOUS_CSRF_COOKIE)
        new_secret = None if secret else secrets.token_urlsafe(32)
        found = Visitor(None, None, csrf_token(secret or new_secret or ""), new_secret)
    request.state.visitor = found  # for the templates
    return found


async def signed_in(request: Request, found: Annotated[Visitor, Depends(visitor)]) -> Visitor:
    if found.caller is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    return found


async def signed_in_admin(found: Annotated[Visitor, Depends(signed_in)]) -> Visitor:
    if not found.user.is_admin:
        raise PageRefused(403, lazy_gettext("This page is for administrators."))
    return found


async def check_posted_form(request: Request) -> None:
    """Refuses (403) a form that is not shown to come from our own page: another site, or not
    the visitor's token. Every unsafe page request goes through here (server.web.routing), and
    the checked form is what `PostedFormDep` hands the handler."""
    found = await visitor(request)
    settings = request.app.state.service.settings
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    token = fields.get("csrf_token", "")
    if not is_same_site(request, settings.public_url) or not secrets.compare_digest(
        token.encode(), found.csrf_token.encode()
    ):
        raise PageRefused(
            403,
            lazy_gettext(
                "This form has expired or came from another site. Reload the page and try again."
            ),
        )
    request.state.posted_form = fields


def posted_form(request: Request) -> dict[str, str]:
    """The form of this request, as `check_posted_form` let it through."""
    return request.state.posted_form


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    settings = request.app.state.service.settings
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=settings.session_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https:"),
    )
    response.delete_cookie(ANONYMOUS_CSRF_COOKIE, path="/")


def end_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def give_csrf_secret(request: Request, response: Response, found: Visitor) -> None:
    if found.new_csrf_secret:
        settings = request.app.state.service.settings
        response.set_cookie(
            ANONYMOUS_CSRF_COOKIE,
            found.new_csrf_secret,
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.public_url.startswith("https:"),
        )


def login_redirect(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


VisitorDep = Annotated[Visitor, Depends(visitor)]
SignedInDep = Annotated[Visitor, Depends(signed_in)]
AdminVisitorDep = Annotated[Visitor, Depends(signed_in_admin)]
PostedFormDep = Annotated[dict[str, str], Depends(posted_form)]

"""What every page route does around its handler: the CSRF and same-site check of every form
post (a handler cannot forget it), and refusals answered with a page or a redirect for people,
never a JSON body (domain errors by the one table in server/api/errors.py)."""

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from server.db import UNAVAILABLE_ERRORS
from server.web.rendering import render
from server.web.security import SESSION_COOKIE, add_page_headers
from server.web.session import (
    PageRefused,
    SignInRequired,
    check_posted_form,
    login_redirect,
    visitor,
)
from shared.i18n import LazyText, lazy_gettext

NOT_FOUND_MESSAGE = lazy_gettext("There is nothing here, or it is not yours to see.")
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
#: Methods that change nothing; every other method of a page route is a form post to check.
SAFE_METHODS = frozenset({"GET", "HEAD"})


def csrf_exempt(endpoint: Endpoint) -> Endpoint:
    """Marks a page handler whose posts carry no CSRF token because something else is the
    authority (the one-click unsubscribe's token). It must change nothing else."""
    endpoint.csrf_exempt = True  # type: ignore[attr-defined]
    return endpoint


async def error_page(request: Request, status: int, message: str | LazyText) -> Response:
    """The page of any refusal (server.api.errors answers domain errors with it for pages).
    Every 404 says the same, so a page never tells whether something exists for someone else.
    A signed-in person keeps the site's navigation, also where no page route looked them up
    (an unknown address); a database that does not answer leaves the page without it."""
    if status == 404:
        message = NOT_FOUND_MESSAGE
    if getattr(request.state, "visitor", None) is None and request.cookies.get(SESSION_COOKIE):
        with contextlib.suppress(*UNAVAILABLE_ERRORS, asyncpg.PostgresError):
            await visitor(request)
    response = render(request, "error.html", {"status": status, "message": message}, status)
    add_page_headers(response.headers)
    return response


class PageRoute(APIRoute):
    """A route whose unsafe requests are refused (403) unless their form carries the visitor's
    CSRF token and comes from this site, whose missing session becomes a 303 to the sign-in
    page, and whose errors are answered with pages (server.api.errors reads
    `answers_with_pages`)."""

    answers_with_pages = True

    @property
    def csrf_exempt(self) -> bool:
        return getattr(self.endpoint, "csrf_exempt", False)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks_form = not self.csrf_exempt

        async def page_handler(request: Request) -> Response:
            try:
                if checks_form and request.method not in SAFE_METHODS:
                    await check_posted_form(request)
                return await handler(request)
            except SignInRequired as exc:
                return RedirectResponse(login_redirect(exc.next_path), status_code=303)
            except PageRefused as exc:
                return await error_page(request, exc.status, exc.message)

        return page_handler

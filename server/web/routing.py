"""What every page route does around its handler: the CSRF and same-site check of every form
post (a handler cannot forget it), and refusals answered with a page or a redirect for people,
never a JSON body."""

import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from server.db import UNAVAILABLE_ERRORS
from server.errors import NotFound
from server.web.rendering import render
from server.web.session import PageRefused, SignInRequired, check_posted_form, login_redirect

log = logging.getLogger(__name__)

NOT_FOUND_MESSAGE = "There is nothing here, or it is not yours to see."
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
#: Methods that change nothing; every other method of a page route is a form post to check.
SAFE_METHODS = frozenset({"GET", "HEAD"})


def csrf_exempt(endpoint: Endpoint) -> Endpoint:
    """Marks a page handler whose posts carry no CSRF token because something else is the
    authority (the one-click unsubscribe's token). It must change nothing else."""
    endpoint.csrf_exempt = True  # type: ignore[attr-defined]
    return endpoint


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, status)


class PageRoute(APIRoute):
    """A route whose unsafe requests are refused (403) unless their form carries the visitor's
    CSRF token and comes from this site, whose refusals become error pages and whose missing
    session becomes a 303 to the sign-in page."""

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
                return error_page(request, exc.status, exc.message)
            except NotFound:
                return error_page(request, 404, NOT_FOUND_MESSAGE)
            except UNAVAILABLE_ERRORS as exc:
                log.warning("database unavailable: %s", exc)
                return error_page(
                    request, 503, "Traybell cannot reach its database. Try again shortly."
                )

        return page_handler

"""The page routes' own error answers: people get a page or a redirect, never a JSON body."""

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from server.db import UNAVAILABLE_ERRORS
from server.errors import NotFound
from server.web.rendering import render
from server.web.session import PageRefused, SignInRequired, login_redirect

log = logging.getLogger(__name__)

NOT_FOUND_MESSAGE = "There is nothing here, or it is not yours to see."


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, status)


class PageRoute(APIRoute):
    """A route whose refusals become error pages and whose missing session becomes a 303 to
    the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
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

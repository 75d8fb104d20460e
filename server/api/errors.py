"""Every error is answered in one of two ways from one table (DOMAIN_ERRORS): to the API as
{"error": {"code", "message", ...}}, to a person as an error page. No client input yields a
500."""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from server.accounts import PasswordSignInOff, UserDisabled
from server.channels.push_targets import PushTargetRefused
from server.cursors import InvalidCursor, ResyncRequired
from server.db import UNAVAILABLE_ERRORS
from server.errors import (
    ClosedTopic,
    Conflict,
    NotFound,
    UnknownAddresses,
    UnknownUsers,
    Unprocessable,
)
from server.metrics import route_template
from server.oidc import ProviderUnavailable, SignInRejected
from server.sending import SendsClosed

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


def _describe(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0], "message": e["msg"]}
        for e in errors
    ]


#: Paths whose errors are JSON bodies when no route answered them (an unknown path or method);
#: every other such path is a page for people.
_API_PATHS = ("/v1/", "/healthz", "/readyz", "/openapi.json", "/metrics", "/hooks/", "/message")

PageError = Callable[[Request, int, str], Awaitable[Response]]


@dataclass(frozen=True)
class Refusal:
    """A domain error as an answer, before it is a JSON body or a page."""

    status: int
    code: str
    message: str  # a sentence for people, in the JSON body and on the page alike
    extra: dict[str, Any] = field(default_factory=dict)


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _data_error(request: Request, exc: Exception) -> Refusal:
    # A safety net behind validation: the database refused a value the client sent (NaN in
    # `data`, say). Only the message is logged: the detail may quote the notification's data.
    assert isinstance(exc, asyncpg.DataError)
    log.warning(
        "%s: the database refused a value: %s (SQLSTATE %s)",
        _described(request),
        exc.message,
        exc.sqlstate,
    )
    return Refusal(
        422,
        "invalid_value",
        "A value in the request cannot be stored (for example NaN or Infinity in data).",
    )


def _unavailable(request: Request, exc: Exception) -> Refusal:
    log.warning("%s: database unavailable: %s", _described(request), exc)
    return Refusal(503, "database_unavailable", "The database is not answering; try again shortly.")


def _unknown_users(_: Request, exc: Exception) -> Refusal:
    assert isinstance(exc, UnknownUsers)
    return Refusal(
        422,
        "unknown_users",
        f"{len(exc.user_ids)} recipient(s) do not exist ({', '.join(exc.user_ids[:20])}); "
        "nothing was stored.",
        {"unknown_user_ids": exc.user_ids},
    )


def _unknown_addresses(_: Request, exc: Exception) -> Refusal:
    assert isinstance(exc, UnknownAddresses)
    return Refusal(
        422,
        "unknown_addresses",
        f"{len(exc.addresses)} address(es) name no user, team or topic "
        f"({', '.join(exc.addresses[:20])}); nothing was stored.",
        {"unknown_addresses": exc.addresses},
    )


def _unexpected(request: Request, exc: Exception) -> Refusal:
    log.error("%s: unexpected error", _described(request), exc_info=exc)
    return Refusal(500, "internal_error", "Something went wrong on the server.")


# every one of them is an Exception; the database module's tuple is typed for `except`
_UNAVAILABLE = cast(
    tuple[type[Exception], ...], (*UNAVAILABLE_ERRORS, asyncpg.PostgresConnectionError)
)

#: Every domain error the rule layers raise, and how it is answered: the one table for the API
#: (a JSON body) and the pages (an error page), chosen by where the request came from
#: (`_wants_page`). The most specific class of an error that is listed wins; what is not
#: listed is a bug (500). What the database or its driver says never goes to a client: it
#: names tables, columns and types, and sometimes quotes a value; it goes to the log.
DOMAIN_ERRORS: dict[type[Exception], Callable[[Request, Exception], Refusal]] = {
    InvalidCursor: lambda _, exc: Refusal(
        400, "invalid_cursor", f"The cursor is not valid: {exc}."
    ),
    ResyncRequired: lambda _, exc: Refusal(
        410,
        "resync_required",
        "The server's database does not hold the change this cursor names (it was restored"
        " or rebuilt): drop what you keep of it and sync from the beginning, without a cursor.",
    ),
    NotFound: lambda _, exc: Refusal(404, "not_found", _sentence(exc)),
    Conflict: lambda _, exc: Refusal(409, "conflict", _sentence(exc)),
    UnknownUsers: _unknown_users,
    Unprocessable: lambda _, exc: Refusal(422, "validation_failed", _sentence(exc)),
    UnknownAddresses: _unknown_addresses,
    ClosedTopic: lambda _, exc: Refusal(403, "topic_closed", _sentence(exc)),
    PushTargetRefused: lambda _, exc: Refusal(
        422,
        "push_url_not_allowed",
        f"{exc}. Push URLs may only reach public addresses, unless the server's "
        "administrator lists the host in TRAYBELL_PUSH_ALLOWED_HOSTS.",
    ),
    ProviderUnavailable: lambda _, exc: Refusal(
        502,
        "identity_provider_unavailable",
        "The company sign-in did not answer, so nobody was signed in. Try again in a while;"
        " if it goes on, tell an administrator.",
    ),
    SignInRejected: lambda _, exc: Refusal(
        400,
        "sign_in_rejected",
        f"The company sign-in did not work: {exc}. Nobody was signed in; start again from"
        " the sign-in page.",
    ),
    UserDisabled: lambda _, exc: Refusal(
        403, "user_disabled", "This account is disabled. Ask an administrator to enable it."
    ),
    PasswordSignInOff: lambda _, exc: Refusal(
        403,
        "password_sign_in_off",
        "Signing in with a password is turned off here: use the company sign-in.",
    ),
    SendsClosed: lambda _, exc: Refusal(
        503, "server_stopping", "The server is stopping; nothing was stored. Try again."
    ),
    asyncpg.DataError: _data_error,
    **dict.fromkeys(_UNAVAILABLE, _unavailable),
    Exception: _unexpected,
}


def refusal_for(request: Request, exc: Exception) -> Refusal:
    """The answer to `exc` by the table: its own class's entry, else its nearest listed base."""
    for kind in type(exc).__mro__:
        if kind in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[kind](request, exc)
    return _unexpected(request, exc)


def _wants_page(request: Request) -> bool:
    """A request a page route took (server.web.routing.PageRoute says so) is answered with a
    page; one no route took, by its path: outside the API's paths it is a person's."""
    route = request.scope.get("route")
    if route is not None:
        return getattr(route, "answers_with_pages", False)
    return not request.url.path.startswith(_API_PATHS)


def _looks_for_a_page(request: Request, status: int) -> bool:
    """A person's GET of an address outside the API that takes only other methods."""
    return (
        status == 405
        and request.method in ("GET", "HEAD")
        and not request.url.path.startswith(_API_PATHS)
    )


def install_error_handlers(app: FastAPI, page_error: PageError | None = None) -> None:
    """`page_error` renders an error page for a request that came from a page."""

    async def answer(request: Request, refusal: Refusal) -> Response:
        if page_error is not None and _wants_page(request):
            return await page_error(request, refusal.status, refusal.message)
        return error_response(refusal.status, refusal.code, refusal.message, **refusal.extra)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        fields = _describe(errors)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return await answer(
            request,
            Refusal(422, "validation_failed", f"Invalid request: {summary}", {"fields": fields}),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, ApiError):  # FastAPI wraps errors raised while reading a body
            cause = exc.__cause__
            return error_response(cause.status, cause.code, cause.message, **cause.extra)
        if page_error is not None and _looks_for_a_page(request, exc.status_code):
            # Only sources post to an address like /<topic> (ntfy's publish): for a person
            # opening it there is nothing here.
            return await page_error(request, 404, "Not Found")
        if page_error is not None and _wants_page(request):
            return await page_error(request, exc.status_code, str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405 and (documented := _documented_methods(request)):
            # The router names only the methods of the first route matching the path.
            headers = {**(headers or {}), "Allow": ", ".join(documented)}
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    async def _domain_error(request: Request, exc: Exception) -> Response:
        return await answer(request, refusal_for(request, exc))

    for error_type in DOMAIN_ERRORS:
        app.add_exception_handler(error_type, _domain_error)


def _documented_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives this request's path, for the Allow header; of
    the templates that match, the most specific one (`/read-all` rather than `/{id}`)."""
    matching = [
        template
        for template in request.app.openapi()["paths"]
        if compile_path(template)[0].match(request.url.path)
    ]
    if not matching:
        return []
    template = min(matching, key=lambda t: t.count("{"))
    return sorted(method.upper() for method in request.app.openapi()["paths"][template])


def _described(request: Request) -> str:
    """The request as a log line names it: method and route template, never the raw path (it
    may carry an invite or unsubscribe token) nor the body (it may hold a notification's
    text)."""
    return f"{request.method} {route_template(request.scope)}"

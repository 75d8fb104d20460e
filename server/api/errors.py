"""Every error leaves as {"error": {"code", "message", ...}}; no client input yields a 500."""

import logging
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from server.channels.push_targets import PushTargetRefused
from server.cursors import InvalidCursor, ResyncRequired
from server.db import UNAVAILABLE_ERRORS
from server.errors import ClosedTopic, Conflict, NotFound, UnknownAddresses, UnknownUsers
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


#: Paths whose errors are JSON bodies; every other path is a page for people.
_API_PATHS = ("/v1/", "/healthz", "/readyz", "/openapi.json", "/metrics")

PageError = Callable[[Request, int, str], Response]


def install_error_handlers(app: FastAPI, page_error: PageError | None = None) -> None:
    """`page_error` answers an unknown path or method outside the API with a page."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        fields = _describe(errors)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return error_response(
            422, "validation_failed", f"Invalid request: {summary}", fields=fields
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, ApiError):  # FastAPI wraps errors raised while reading a body
            cause = exc.__cause__
            return error_response(cause.status, cause.code, cause.message, **cause.extra)
        if page_error is not None and not request.url.path.startswith(_API_PATHS):
            return page_error(request, exc.status_code, str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405 and (documented := _documented_methods(request)):
            # The router names only the methods of the first route matching the path.
            headers = {**(headers or {}), "Allow": ", ".join(documented)}
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(InvalidCursor)
    async def _cursor(_: Request, exc: InvalidCursor) -> JSONResponse:
        return error_response(400, "invalid_cursor", f"The cursor is not valid: {exc}.")

    @app.exception_handler(ResyncRequired)
    async def _resync(_: Request, exc: ResyncRequired) -> JSONResponse:
        return error_response(
            410,
            "resync_required",
            "The server's database does not hold the change this cursor names (it was restored"
            " or rebuilt): drop what you keep of it and sync from the beginning, without a cursor.",
        )

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc).capitalize() + ".")

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc).capitalize() + ".")

    @app.exception_handler(UnknownUsers)
    async def _unknown(_: Request, exc: UnknownUsers) -> JSONResponse:
        return error_response(
            422,
            "unknown_users",
            f"{len(exc.user_ids)} recipient(s) do not exist; nothing was stored.",
            unknown_user_ids=exc.user_ids,
        )

    @app.exception_handler(UnknownAddresses)
    async def _unknown_addresses(_: Request, exc: UnknownAddresses) -> JSONResponse:
        return error_response(
            422,
            "unknown_addresses",
            f"{len(exc.addresses)} address(es) name no user, team or topic; nothing was stored.",
            unknown_addresses=exc.addresses,
        )

    @app.exception_handler(ClosedTopic)
    async def _closed_topic(_: Request, exc: ClosedTopic) -> JSONResponse:
        return error_response(403, "topic_closed", str(exc).capitalize() + ".")

    @app.exception_handler(PushTargetRefused)
    async def _push_target(_: Request, exc: PushTargetRefused) -> JSONResponse:
        return error_response(
            422,
            "push_url_not_allowed",
            f"{exc}. Push URLs may only reach public addresses, unless the server's "
            "administrator lists the host in TRAYBELL_PUSH_ALLOWED_HOSTS.",
        )

    @app.exception_handler(SendsClosed)
    async def _stopping(_: Request, exc: SendsClosed) -> JSONResponse:
        return error_response(
            503, "server_stopping", "The server is stopping; nothing was stored. Try again."
        )

    # What the database or its driver says never goes to a client: it names tables, columns
    # and types, and sometimes quotes a value. It goes to the log, with the request.

    @app.exception_handler(asyncpg.DataError)
    async def _data(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        # A safety net behind validation: the database refused a value the client sent (NaN in
        # `data`, say). Only the message is logged: the detail may quote the notification's data.
        log.warning(
            "%s: the database refused a value: %s (SQLSTATE %s)",
            _described(request),
            exc.message,
            exc.sqlstate,
        )
        return error_response(
            422,
            "invalid_value",
            "A value in the request cannot be stored (for example NaN or Infinity in data).",
        )

    for error_type in (*UNAVAILABLE_ERRORS, asyncpg.PostgresConnectionError):

        @app.exception_handler(error_type)
        async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
            log.warning("%s: database unavailable: %s", _described(request), exc)
            return error_response(
                503, "database_unavailable", "The database is not answering; try again shortly."
            )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s: unexpected error", _described(request))
        return error_response(500, "internal_error", "Something went wrong on the server.")


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
    """The request as a log line names it: method and path, never the body (it may hold a
    notification's text)."""
    return f"{request.method} {request.url.path}"

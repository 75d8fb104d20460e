"""The ASGI application: routes, error handling, and the database pool's lifetime."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response

from server import metrics, web
from server.accounts import Accounts
from server.api import (
    admin,
    audiences,
    device,
    events,
    ingest,
    integrations,
    me,
    notifications,
    preferences,
    sync,
)
from server.api.deps import admin as admin_caller
from server.api.errors import error_response, install_error_handlers
from server.api.limits import BodySizeLimit
from server.api.schemas import ErrorReply
from server.audiences import Audiences
from server.config import Settings
from server.db import UNAVAILABLE_ERRORS, create_pool, queries
from server.integrations import Integrations
from server.oidc import OidcProvider
from server.service import Service
from server.streams import Hub
from server.wakeups import Wakeups
from shared.version import VERSION

log = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorReply, "description": description}
    for status, description in {
        400: "Malformed JSON or cursor",
        401: "No or bad token",
        403: "Needs the admin scope",
        404: "No such thing for this caller",
        409: "Conflicts with the current state",
        413: "Body over 65,536 bytes (over 1,048,576 for a send)",
        422: "Validation failed",
        503: "Database unavailable",
    }.items()
}


def create_app(database_url: str, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The API never sets session state, listens or takes advisory locks on its pool.
        pool = await create_pool(
            database_url,
            max_size=settings.pool_size,
            reset_sessions=False,
            statement_cache=settings.statement_cache,
        )
        streams = Hub(pool, settings)
        wakeups = Wakeups(settings.session_url(database_url), streams.wake)
        app.state.service = Service(pool, settings, wakeups)
        app.state.accounts = Accounts(pool, settings)
        app.state.audiences = Audiences(pool)
        app.state.integrations = Integrations(pool, app.state.service)
        app.state.queue_figures = metrics.QueueFigures()
        app.state.streams = streams
        provider_calls = httpx.AsyncClient(follow_redirects=False)
        app.state.oidc = OidcProvider(settings, provider_calls) if settings.oidc_issuer else None
        streams.start()
        wakeups.start()
        try:
            yield
        finally:
            await app.state.service.close()  # the sends taken so far, answered and announced
            await wakeups.stop()
            await streams.stop()
            await pool.close()
            await provider_calls.aclose()

    app = FastAPI(
        title="Traybell",
        version=VERSION,
        description="Every call under /v1 needs `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        responses=_ERRORS,
        # Operation ids are the handlers' names, which the document's links refer to.
        generate_unique_id_function=lambda route: route.name,
    )
    # Before the database: an error page may be drawn while it is unreachable.
    app.state.settings = settings
    install_error_handlers(app, page_error=web.error_page)
    app.add_middleware(BodySizeLimit)
    # outermost: it times and counts every answer, the size limit's and the error handlers' too
    app.add_middleware(
        metrics.RequestObservation,
        request_log_level=logging.INFO if settings.log_format == "json" else logging.DEBUG,
    )
    for module in (
        notifications,
        sync,
        events,
        preferences,
        me,
        device,
        admin,
        audiences,
        integrations,
        ingest,
    ):
        app.include_router(module.router)
    web.install(app)
    app.include_router(ingest.topic_router)  # last: `/{topic}` would take any page's path

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": ErrorReply}})
    async def readyz() -> JSONResponse:
        try:
            async with asyncio.timeout(2):
                await queries.ping(app.state.service.pool)
        except UNAVAILABLE_ERRORS:
            return error_response(503, "database_unavailable", "The database is not answering.")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(admin_caller)])
    async def metrics_page() -> Response:
        rows = await app.state.queue_figures.rows(app.state.service.pool)
        body, content_type = metrics.exposition(metrics.QueueCollector(rows))
        return Response(body, media_type=content_type)

    return app

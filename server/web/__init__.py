"""The web pages: sign-in, the inbox, one notification, settings and the admin console,
server-rendered from templates/ on top of the same service layer as the API."""

from fastapi import FastAPI

from server.web import admin, live, oidc, pages, unsubscribe
from server.web.rendering import static_router
from server.web.routing import error_page
from server.web.security import SecurityHeaders

__all__ = ["error_page", "install"]


def install(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)
    for router in (
        static_router,
        pages.router,
        oidc.router,
        live.router,
        admin.router,
        unsubscribe.router,
    ):
        app.include_router(router)

"""The admin console: one page per area under /admin/, each its own handler module here and its
own template in templates/admin/, under one sub-navigation (templates/admin/layout.html).

A new area is a module with a `router` (prefixed with its path, route class PageRoute), a
template extending admin/layout.html, and one entry in AREAS."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from server.web.admin import (
    audit_log,
    deliveries,
    integrations,
    people_import,
    scheduled,
    send,
    teams,
    tokens,
    topics,
    users,
)
from server.web.admin.area import Area
from server.web.rendering import add_template_global
from server.web.routing import PageRoute
from server.web.session import AdminVisitorDep
from shared.i18n import lazy_gettext

#: The console's areas, in the order of its sub-navigation. Each forms go to the same service
#: calls as the admin API.
AREAS = (
    Area(lazy_gettext("Send"), send.router),
    Area(lazy_gettext("Scheduled"), scheduled.router),
    Area(lazy_gettext("Users"), users.router),
    Area(lazy_gettext("Import"), people_import.router),
    Area(lazy_gettext("Teams"), teams.router),
    Area(lazy_gettext("Topics"), topics.router),
    Area(lazy_gettext("Integrations"), integrations.router),
    Area(lazy_gettext("Deliveries"), deliveries.router),
    Area(lazy_gettext("Tokens"), tokens.router),
    Area(lazy_gettext("Audit log"), audit_log.router),
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/admin")
async def console(_: AdminVisitorDep) -> Response:
    """The console's address opens its first area (for admins only, like every area)."""
    return RedirectResponse(AREAS[0].path, status_code=303)


for _area in AREAS:
    router.include_router(_area.router)
add_template_global("admin_areas", AREAS)

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

#: The console's areas, in the order of its sub-navigation. Each forms go to the same service
#: calls as the admin API.
AREAS = (
    Area("Send", send.router),
    Area("Scheduled", scheduled.router),
    Area("Users", users.router),
    Area("Import", people_import.router),
    Area("Teams", teams.router),
    Area("Topics", topics.router),
    Area("Integrations", integrations.router),
    Area("Deliveries", deliveries.router),
    Area("Tokens", tokens.router),
    Area("Audit log", audit_log.router),
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/admin")
async def console(_: AdminVisitorDep) -> Response:
    """The console's address opens its first area (for admins only, like every area)."""
    return RedirectResponse(AREAS[0].path, status_code=303)


for _area in AREAS:
    router.include_router(_area.router)
add_template_global("admin_areas", AREAS)

"""The audit log, newest first, filtered by action and by user."""

from fastapi import Request
from fastapi.responses import Response

from server import audit
from server.dependencies import ServiceDep
from server.web.admin.area import area_router
from server.web.rendering import render
from server.web.session import AdminVisitorDep

router = area_router("/admin/audit")

AUDIT_SHOWN = 100


@router.get("")
async def audit_page(
    request: Request,
    _: AdminVisitorDep,
    service: ServiceDep,
    action: str | None = None,
    user: str | None = None,
) -> Response:
    action = action if action in audit.ACTIONS else None
    user = (user or "").strip()[:200] or None
    events, _next = await audit.events(service.pool, limit=AUDIT_SHOWN, action=action, user_id=user)
    context = {
        "audit_events": events,
        "audit_actions": audit.ACTIONS,
        "audit_filter": {"action": action or "", "user": user or ""},
    }
    return render(request, "admin/audit.html", context)

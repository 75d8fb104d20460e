"""Scheduled sends: the newest schedules with their status, and a cancel for those still
waiting; what GET and DELETE /v1/admin/scheduled do."""

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import Response

from server.dependencies import ServiceDep, actor_of
from server.errors import Conflict, NotFound
from server.service import Service
from server.web.admin.area import area_router
from server.web.rendering import render
from server.web.session import AdminVisitorDep
from shared.i18n import Shown, lazy_gettext

router = area_router("/admin/scheduled")

SCHEDULES_SHOWN = 200


async def _scheduled_page(
    request: Request,
    service: Service,
    *,
    notice: Shown | None = None,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    schedules, _ = await service.schedules(None, SCHEDULES_SHOWN, None)
    context = {"notice": notice, "errors": errors or [], "schedules": schedules}
    return render(request, "admin/scheduled.html", context, status)


@router.get("")
async def scheduled_page(request: Request, _: AdminVisitorDep, service: ServiceDep) -> Response:
    return await _scheduled_page(request, service)


@router.post("/{schedule_id}/cancel")
async def cancel(
    schedule_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    try:
        await service.cancel_schedule(schedule_id, actor_of(request, visitor.user))
    except NotFound:
        return await _scheduled_page(
            request,
            service,
            errors=[lazy_gettext("That scheduled send does not exist.")],
            status=404,
        )
    except Conflict:
        return await _scheduled_page(
            request, service, errors=[lazy_gettext("That one has been sent already.")], status=409
        )
    return await _scheduled_page(
        request, service, notice=lazy_gettext("Cancelled: it will not be sent.")
    )

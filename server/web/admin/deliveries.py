"""Deliveries: the failed ones with their last error, and for each a retry or a dismissal (it
leaves this list and the failed gauge)."""

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import Response

from server.dependencies import ServiceDep, actor_of
from server.errors import Conflict
from server.service import Service
from server.web.admin.area import area_router
from server.web.rendering import render
from server.web.session import AdminVisitorDep
from shared.i18n import Shown, lazy_gettext

router = area_router("/admin/deliveries")

DELIVERIES_SHOWN = 50


async def _deliveries_page(
    request: Request,
    service: Service,
    *,
    notice: Shown | None = None,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "notice": notice,
        "errors": errors or [],
        "deliveries": await service.deliveries("failed", DELIVERIES_SHOWN),
    }
    return render(request, "admin/deliveries.html", context, status)


@router.get("")
async def deliveries_page(request: Request, _: AdminVisitorDep, service: ServiceDep) -> Response:
    return await _deliveries_page(request, service)


@router.post("/{delivery_id}/retry")
async def retry_delivery(
    delivery_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    try:
        await service.retry_delivery(delivery_id, actor_of(request, visitor.user))
    except Conflict as exc:
        return await _deliveries_page(request, service, errors=[f"{exc}."], status=409)
    return await _deliveries_page(
        request, service, notice=lazy_gettext("The delivery is queued again.")
    )


@router.post("/{delivery_id}/dismiss")
async def dismiss_delivery(
    delivery_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    try:
        await service.dismiss_delivery(delivery_id, actor_of(request, visitor.user))
    except Conflict as exc:
        return await _deliveries_page(request, service, errors=[f"{exc}."], status=409)
    return await _deliveries_page(
        request, service, notice=lazy_gettext("The delivery is dismissed.")
    )

"""/v1/notifications: send (admin), read and change the caller's own."""

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from server.api.deps import AdminActorDep, CallerDep, IdempotencyKeyHeader
from server.api.links import LIST_LINKS, notification_links, replies_with
from server.api.schemas import (
    RESYNC_REQUIRED,
    IdsRequest,
    NotificationList,
    NotificationReply,
    PageCursorText,
    ReadAllRequest,
    ScheduleReply,
    SendReply,
    SendRequest,
    SnoozeRequest,
    UnreadReply,
    UpdatedReply,
)
from server.dependencies import ServiceDep
from shared.models import Notification

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

LIST_LIMIT_MAX = 200


@router.post(
    "",
    response_model=SendReply,
    status_code=201,
    responses={
        200: {"model": SendReply | ScheduleReply},
        202: {"model": ScheduleReply, "description": "Scheduled (send_at or send_at_local)."},
    },
)
async def send(
    request: SendRequest,
    service: ServiceDep,
    actor: AdminActorDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    outgoing = request.outgoing(idempotency_key)
    when = request.send_time()
    if when is not None:
        scheduled = await service.schedule(outgoing, when, actor)
        if scheduled is not None:  # else the time has passed: sent now, as without one
            schedule, created = scheduled
            return JSONResponse({"schedule": schedule}, status_code=202 if created else 200)
    results = await service.send(outgoing, actor)
    inserted = sum(r["inserted"] for r in results)
    duplicates = sum(1 for r in results if not r["inserted"] and not r.get("suppressed"))
    return JSONResponse(
        {"results": results, "inserted": inserted, "duplicates": duplicates},
        status_code=201 if inserted else 200,
    )


@router.get("", response_model=NotificationList, responses=replies_with(LIST_LINKS))
async def list_notifications(
    service: ServiceDep,
    caller: CallerDep,
    unread: bool = False,
    archived: bool = False,
    snoozed: Annotated[
        bool | None, Query(description="true: only the snoozed ones; false: none of them.")
    ] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    before: Annotated[PageCursorText | None, Query()] = None,
) -> dict:
    notifications, next_before = await service.list_notifications(
        caller,
        unread=unread,
        archived=archived,
        snoozed=snoozed,
        limit=min(limit, LIST_LIMIT_MAX),
        before=before,
    )
    return {"notifications": notifications, "next_before": next_before}


@router.get("/unread-count", response_model=UnreadReply)
async def unread_count(service: ServiceDep, caller: CallerDep) -> dict:
    return {"unread": await service.unread_count(caller)}


@router.post("/read", response_model=UpdatedReply)
async def read_many(request: IdsRequest, service: ServiceDep, caller: CallerDep) -> dict:
    return {"updated": await service.mark_read(caller, request.ids)}


@router.post("/read-all", response_model=UpdatedReply, responses={410: RESYNC_REQUIRED})
async def read_all(
    service: ServiceDep, caller: CallerDep, request: Annotated[ReadAllRequest | None, Body()] = None
) -> dict:
    return {"updated": await service.mark_all_read(caller, request.up_to if request else None)}


@router.get(
    "/{notification_id}",
    response_model=Notification,
    responses=replies_with(notification_links("/id")),
)
async def get_notification(
    notification_id: str, service: ServiceDep, caller: CallerDep
) -> Notification:
    return await service.get(caller, notification_id)


def _state_change(action: str):
    async def change(notification_id: str, service: ServiceDep, caller: CallerDep) -> dict:
        return {"notification": await service.change_one(caller, notification_id, action)}

    change.__name__ = f"{action}_notification"
    return change


for _action in ("read", "unread", "archive"):
    router.add_api_route(
        "/{notification_id}/" + _action,
        _state_change(_action),
        methods=["POST"],
        response_model=NotificationReply,
        responses=replies_with(notification_links("/notification/id")),
        name=f"{_action}_notification",
    )


@router.post(
    "/{notification_id}/snooze",
    response_model=NotificationReply,
    responses=replies_with(notification_links("/notification/id")),
)
async def snooze_notification(
    notification_id: str, request: SnoozeRequest, service: ServiceDep, caller: CallerDep
) -> dict:
    """Read now, unread again at `until` (1 minute to 30 days ahead)."""
    until = request.until_instant()
    return {"notification": await service.snooze(caller, notification_id, until)}


@router.post(
    "/{notification_id}/unsnooze",
    response_model=NotificationReply,
    responses=replies_with(notification_links("/notification/id")),
)
async def unsnooze_notification(
    notification_id: str, service: ServiceDep, caller: CallerDep
) -> dict:
    return {"notification": await service.unsnooze(caller, notification_id)}

"""/v1/admin: users, tokens, the delivery dead letters and the audit log."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from server import audit
from server.api.deps import AdminActorDep
from server.api.links import TOKEN_LINKS, USER_LINKS, delivery_links, replies_with
from server.api.schemas import (
    AuditList,
    CreateTokenRequest,
    CreateUserReply,
    CreateUserRequest,
    DeliveryList,
    DeliveryReply,
    DeliveryReportList,
    InviteReply,
    PageCursorText,
    ScheduleList,
    Text,
    TokenReply,
    UserReply,
)
from server.dependencies import AccountsDep, ServiceDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])

DELIVERY_LIMIT_MAX = 200
AUDIT_LIMIT_MAX = 200
SCHEDULE_LIMIT_MAX = 200


@router.post(
    "/users",
    response_model=CreateUserReply,
    status_code=201,
    responses=replies_with(USER_LINKS, status=201),
)
async def create_user(
    request: CreateUserRequest, service: ServiceDep, actor: AdminActorDep
) -> dict:
    user, token, token_id = await service.create_user(
        request.user_id,
        email=request.email,
        display_name=request.display_name,
        is_admin=request.admin,
        actor=actor,
    )
    return {"user": user, "token": token, "token_id": token_id}


@router.post(
    "/users/{user_id}/tokens",
    response_model=TokenReply,
    status_code=201,
    responses=replies_with(TOKEN_LINKS, status=201),
)
async def create_token(
    user_id: Text,
    service: ServiceDep,
    actor: AdminActorDep,
    request: CreateTokenRequest | None = None,
) -> dict:
    """A `user` token unless `{"scope": "admin"}` (409 when the user is not an admin)."""
    scope = request.scope if request is not None else "user"
    token, token_id = await service.create_token(user_id, actor, scope)
    return {"token": token, "token_id": token_id}


@router.post("/users/{user_id}/invite", response_model=InviteReply, status_code=201)
async def invite_user(user_id: str, accounts: AccountsDep, actor: AdminActorDep) -> dict:
    invite_url, expires_at = await accounts.create_invite(user_id, actor)
    return {"invite_url": invite_url, "expires_at": expires_at.isoformat()}


@router.post("/users/{user_id}/disable", response_model=UserReply)
async def disable_user(user_id: str, service: ServiceDep, actor: AdminActorDep) -> dict:
    return {"user": await service.set_disabled(user_id, True, actor)}


@router.post("/users/{user_id}/enable", response_model=UserReply)
async def enable_user(user_id: str, service: ServiceDep, actor: AdminActorDep) -> dict:
    return {"user": await service.set_disabled(user_id, False, actor)}


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, service: ServiceDep, actor: AdminActorDep) -> Response:
    await service.revoke_token(token_id, actor)
    return Response(status_code=204)


@router.get(
    "/deliveries",
    response_model=DeliveryList,
    responses=replies_with(delivery_links("/deliveries/0/id")),
)
async def list_deliveries(
    service: ServiceDep,
    _: AdminActorDep,
    status: Literal["pending", "sending", "sent", "failed"] = "failed",
    limit: Annotated[int, Query(ge=1)] = 50,
    user_id: Annotated[Text | None, Query()] = None,
) -> dict:
    return {
        "deliveries": await service.deliveries(
            status, min(limit, DELIVERY_LIMIT_MAX), user_id=user_id
        )
    }


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryReply,
    responses=replies_with(delivery_links("/delivery/id")),
)
async def retry_delivery(delivery_id: str, service: ServiceDep, actor: AdminActorDep) -> dict:
    return {"delivery": await service.retry_delivery(delivery_id, actor)}


@router.post(
    "/deliveries/{delivery_id}/dismiss",
    response_model=DeliveryReply,
    responses=replies_with(delivery_links("/delivery/id")),
)
async def dismiss_delivery(delivery_id: str, service: ServiceDep, actor: AdminActorDep) -> dict:
    """A failed delivery seen to: it leaves the failed list and the failed gauge (a retry
    brings it back to the queue)."""
    return {"delivery": await service.dismiss_delivery(delivery_id, actor)}


@router.get("/notifications/{notification_id}/deliveries", response_model=DeliveryReportList)
async def notification_deliveries(
    notification_id: str, service: ServiceDep, _: AdminActorDep
) -> dict:
    """Why a notification went out on each external channel, or did not."""
    return {"deliveries": await service.notification_deliveries(notification_id)}


@router.get("/audit", response_model=AuditList)
async def list_audit(
    service: ServiceDep,
    _: AdminActorDep,
    limit: Annotated[int, Query(ge=1)] = 50,
    before: Annotated[PageCursorText | None, Query()] = None,
    action: Literal[audit.ACTIONS] | None = None,  # type: ignore[valid-type]
) -> dict:
    events, next_before = await audit.events(
        service.pool, limit=min(limit, AUDIT_LIMIT_MAX), before=before, action=action
    )
    return {"events": events, "next_before": next_before}


@router.get("/scheduled", response_model=ScheduleList)
async def list_scheduled(
    service: ServiceDep,
    _: AdminActorDep,
    status: Literal["scheduled", "sent", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    before: Annotated[str | None, Query(max_length=100)] = None,
) -> dict:
    schedules, next_before = await service.schedules(status, min(limit, SCHEDULE_LIMIT_MAX), before)
    return {"schedules": schedules, "next_before": next_before}


@router.delete("/scheduled/{schedule_id}", status_code=204)
async def cancel_scheduled(
    schedule_id: Text, service: ServiceDep, actor: AdminActorDep
) -> Response:
    await service.cancel_schedule(schedule_id, actor)
    return Response(status_code=204)

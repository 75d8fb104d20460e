"""The admin console: send, failed deliveries, users, the audit log. Each form goes to the same
service calls as the admin API."""

import re
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from server import audit
from server.accounts import Accounts
from server.api.schemas import CreateUserRequest, SendRequest
from server.dependencies import AccountsDep, ServiceDep, actor_of
from server.errors import Conflict, UnknownUsers
from server.service import Service
from server.web.pages import validation_messages
from server.web.rendering import render
from server.web.routing import PageRoute
from server.web.session import AdminVisitorDep, PostedFormDep, Visitor

router = APIRouter(prefix="/admin", route_class=PageRoute, include_in_schema=False)

USERS_SHOWN = 500
DELIVERIES_SHOWN = 50
AUDIT_SHOWN = 100
_SEND_FIELDS = ("title", "summary", "body", "severity", "target_url", "event_name")


def _recipient_ids(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text) if part]


def _send_request(form: dict[str, str]) -> SendRequest:
    """The send form as the API's send request, validated by the same rules."""
    fields: dict[str, Any] = {
        name: form.get(name, "").strip() or None for name in _SEND_FIELDS if name != "body"
    }
    fields["body"] = form.get("body", "")
    fields["event_name"] = fields["event_name"] or "admin.message"
    fields["severity"] = fields["severity"] or "info"
    fields["idempotency_key"] = form.get("idempotency_key") or None
    ids = _recipient_ids(form.get("recipients", ""))
    if form.get("audience") == "all":
        fields["all_users"] = True
    elif len(ids) == 1:
        fields["user_id"] = ids[0]
    elif ids:
        fields["user_ids"] = ids
    return SendRequest.model_validate({k: v for k, v in fields.items() if v is not None})


async def _console(
    request: Request,
    visitor: Visitor,
    service: Service,
    *,
    notice: str | None = None,
    invite_url: str | None = None,
    errors: list[str] | None = None,
    send_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "notice": notice,
        "invite_url": invite_url,
        "errors": errors or [],
        "send_form": send_form or {},
        "deliveries": await service.deliveries("failed", DELIVERIES_SHOWN),
        "users": await service.users(USERS_SHOWN),
        "me": visitor.user.user_id,
        **await _audit_context(request, service),
    }
    return render(request, "admin.html", context, status)


async def _audit_context(request: Request, service: Service) -> dict[str, Any]:
    """The audit section, filtered by the console's `audit_action` and `audit_user` query."""
    action = request.query_params.get("audit_action") or None
    user = (request.query_params.get("audit_user") or "").strip()[:200] or None
    events, _ = await audit.events(
        service.pool,
        limit=AUDIT_SHOWN,
        action=action if action in audit.ACTIONS else None,
        user_id=user,
    )
    return {
        "audit_events": events,
        "audit_actions": audit.ACTIONS,
        "audit_filter": {"action": action or "", "user": user or ""},
    }


@router.get("")
async def console(request: Request, visitor: AdminVisitorDep, service: ServiceDep) -> Response:
    return await _console(request, visitor, service)


@router.post("/send")
async def send(
    request: Request, visitor: AdminVisitorDep, form: PostedFormDep, service: ServiceDep
) -> Response:
    """Two steps: `review` shows how many people the send reaches; `send` sends. The review
    gives the form an idempotency key, so a send posted twice (a reload) is stored once."""
    try:
        send_request = _send_request(form)
    except ValidationError as exc:
        errors = validation_messages(exc)
        return await _console(request, visitor, service, errors=errors, send_form=form, status=422)
    recipients = send_request.recipients()
    if form.get("step") != "send":
        context = {
            "form": {**form, "idempotency_key": form.get("idempotency_key") or str(uuid.uuid4())},
            "count": await service.count_recipients(recipients),
            "named": len(recipients) if recipients is not None else None,
            "send": send_request,
        }
        return render(request, "admin_review.html", context)
    try:
        results = await service.send(send_request.outgoing(), actor_of(request, visitor.user))
    except UnknownUsers as exc:
        errors = [f"No such user: {', '.join(exc.user_ids[:20])}. Nothing was sent."]
        return await _console(request, visitor, service, errors=errors, send_form=form, status=422)
    inserted = sum(r["inserted"] for r in results)
    suppressed = sum(1 for r in results if r.get("suppressed"))
    notice = f"Sent to {inserted} of {len(results)} recipient(s)."
    if len(results) - inserted - suppressed:
        notice += f" {len(results) - inserted - suppressed} already had it (a repeated send)."
    if suppressed:
        notice += f" {suppressed} turned in-app notifications off or are disabled."
    return await _console(request, visitor, service, notice=notice)


@router.post("/deliveries/{delivery_id}/retry")
async def retry_delivery(
    delivery_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    try:
        await service.retry_delivery(delivery_id, actor_of(request, visitor.user))
    except Conflict as exc:
        return await _console(request, visitor, service, errors=[f"{exc}."], status=409)
    return await _console(request, visitor, service, notice="The delivery is queued again.")


@router.post("/users")
async def create_user(
    request: Request,
    visitor: AdminVisitorDep,
    form: PostedFormDep,
    service: ServiceDep,
    accounts: AccountsDep,
) -> Response:
    try:
        user = CreateUserRequest.model_validate(
            {
                "user_id": form.get("user_id", "").strip(),
                "email": form.get("email", "").strip() or None,
                "display_name": form.get("display_name", "").strip() or None,
                "admin": "admin" in form,
            }
        )
        await service.create_user(
            user.user_id,
            email=user.email,
            display_name=user.display_name,
            is_admin=user.admin,
            actor=actor_of(request, visitor.user),
            with_token=False,
        )
    except ValidationError as exc:
        return await _console(
            request, visitor, service, errors=validation_messages(exc), status=422
        )
    except Conflict:
        errors = [f"A user {form.get('user_id', '').strip()!r} exists already."]
        return await _console(request, visitor, service, errors=errors, status=409)
    return await _invite(request, visitor, service, accounts, user.user_id, created=True)


@router.post("/users/{user_id}/invite")
async def invite_user(
    user_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    service: ServiceDep,
    accounts: AccountsDep,
) -> Response:
    return await _invite(request, visitor, service, accounts, user_id, created=False)


async def _invite(
    request: Request,
    visitor: Visitor,
    service: Service,
    accounts: Accounts,
    user_id: str,
    *,
    created: bool,
) -> Response:
    invite_url, expires_at = await accounts.create_invite(user_id, actor_of(request, visitor.user))
    notice = (
        f"{'Created ' + user_id + '. ' if created else ''}Send them this sign-up link; it works "
        f"once, until {expires_at:%d %b %Y}, and voids any older link."
    )
    return await _console(request, visitor, service, notice=notice, invite_url=invite_url)


@router.post("/users/{user_id}/disable")
async def disable_user(
    user_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    if user_id == visitor.user.user_id:
        errors = ["You cannot disable yourself; ask another admin."]
        return await _console(request, visitor, service, errors=errors, status=409)
    await service.set_disabled(user_id, True, actor_of(request, visitor.user))
    notice = f"{user_id} is disabled: every device and session of theirs is signed out."
    return await _console(request, visitor, service, notice=notice)


@router.post("/users/{user_id}/enable")
async def enable_user(
    user_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    await service.set_disabled(user_id, False, actor_of(request, visitor.user))
    notice = f"{user_id} is enabled again; they sign in anew."
    return await _console(request, visitor, service, notice=notice)


@router.post("/users/{user_id}/admin")
async def set_admin(
    user_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    form: PostedFormDep,
    service: ServiceDep,
) -> Response:
    make_admin = form.get("admin") == "1"
    if user_id == visitor.user.user_id and not make_admin:
        errors = ["You cannot remove your own admin rights; ask another admin."]
        return await _console(request, visitor, service, errors=errors, status=409)
    await service.set_admin(user_id, make_admin, actor_of(request, visitor.user))
    verb = "is now an admin" if make_admin else "is no longer an admin"
    return await _console(request, visitor, service, notice=f"{user_id} {verb}.")

"""Users: create (with a sign-up link), invite again, make or remove admin, disable, enable;
and one user's page: their preferences (read-only) and their last deliveries with the reason
each went out or did not."""

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from server.accounts import Accounts
from server.api.schemas import CreateUserRequest
from server.dependencies import AccountsDep, ServiceDep, actor_of
from server.errors import Conflict
from server.service import Service
from server.web.admin.area import area_router
from server.web.pages import validation_messages
from server.web.rendering import render
from server.web.session import AdminVisitorDep, PostedFormDep, Visitor
from shared.i18n import Shown, lazy_gettext

router = area_router("/admin/users")

USERS_SHOWN = 500
#: The newest notifications shown on a user's page, each with its email and push.
RECENT_SHOWN = 20


async def _users_page(
    request: Request,
    visitor: Visitor,
    service: Service,
    *,
    notice: Shown | None = None,
    invite_url: str | None = None,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "notice": notice,
        "invite_url": invite_url,
        "errors": errors or [],
        "users": await service.users(USERS_SHOWN),
        "users_shown": USERS_SHOWN,
        "me": visitor.user.user_id,
    }
    return render(request, "admin/users.html", context, status)


@router.get("")
async def users_page(request: Request, visitor: AdminVisitorDep, service: ServiceDep) -> Response:
    return await _users_page(request, visitor, service)


@router.get("/{user_id}")
async def user_page(
    user_id: str, request: Request, _: AdminVisitorDep, service: ServiceDep
) -> Response:
    """Why a user gets what they get: preferences and the last deliveries (NotFound: 404)."""
    overview = await service.delivery_overview(user_id, RECENT_SHOWN)
    return render(request, "admin/user.html", {**overview, "recent_shown": RECENT_SHOWN})


@router.post("")
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
        errors: Sequence[Shown] = validation_messages(exc)
        return await _users_page(request, visitor, service, errors=errors, status=422)
    except Conflict:
        errors = [
            lazy_gettext(
                "A user %(user)s exists already.", user=repr(form.get("user_id", "").strip())
            )
        ]
        return await _users_page(request, visitor, service, errors=errors, status=409)
    return await _invite(request, visitor, service, accounts, user.user_id, created=True)


@router.post("/{user_id}/invite")
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
    until = f"{expires_at:%d %b %Y}"
    notice = (
        lazy_gettext(
            "Created %(user)s. Send them this sign-up link; it works once, until %(date)s, and "
            "voids any older link.",
            user=user_id,
            date=until,
        )
        if created
        else lazy_gettext(
            "Send them this sign-up link; it works once, until %(date)s, and voids any older link.",
            date=until,
        )
    )
    return await _users_page(request, visitor, service, notice=notice, invite_url=invite_url)


@router.post("/{user_id}/disable")
async def disable_user(
    user_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    try:
        await service.set_disabled(user_id, True, actor_of(request, visitor.user))
    except Conflict as exc:
        return await _refused(request, visitor, service, exc)
    notice = lazy_gettext(
        "%(user)s is disabled: every device and session of theirs is signed out.", user=user_id
    )
    return await _users_page(request, visitor, service, notice=notice)


@router.post("/{user_id}/enable")
async def enable_user(
    user_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    await service.set_disabled(user_id, False, actor_of(request, visitor.user))
    notice = lazy_gettext("%(user)s is enabled again; they sign in anew.", user=user_id)
    return await _users_page(request, visitor, service, notice=notice)


@router.post("/{user_id}/admin")
async def set_admin(
    user_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    form: PostedFormDep,
    service: ServiceDep,
) -> Response:
    make_admin = form.get("admin") == "1"
    try:
        await service.set_admin(user_id, make_admin, actor_of(request, visitor.user))
    except Conflict as exc:
        return await _refused(request, visitor, service, exc)
    notice = (
        lazy_gettext("%(user)s is now an admin.", user=user_id)
        if make_admin
        else lazy_gettext("%(user)s is no longer an admin.", user=user_id)
    )
    return await _users_page(request, visitor, service, notice=notice)


async def _refused(request: Request, visitor: Visitor, service: Service, exc: Conflict) -> Response:
    """The users page with the rule that refused the change (the service's, for API and page)."""
    errors = [f"{str(exc)[:1].upper()}{str(exc)[1:]}."]
    return await _users_page(request, visitor, service, errors=errors, status=409)

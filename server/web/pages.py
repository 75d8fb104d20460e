"""The pages of a signed-in user (and the sign-in itself). Handlers parse forms and answer with
pages; the rules are in the service layer they call (server.service, server.accounts)."""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from server.accounts import AdminApprovalNeeded, Throttled, WeakPassword
from server.api.schemas import PreferencesPatch
from server.audiences import Audiences
from server.channels.push_targets import PushTargetRefused
from server.cursors import InvalidCursor
from server.dependencies import AccountsDep, AudiencesDep, ServiceDep, actor_of, request_ip
from server.errors import ClosedTopic, NotFound
from server.service import Service
from server.web.live import end_session_streams
from server.web.rendering import render
from server.web.routing import PageRoute
from server.web.security import local_path
from server.web.session import (
    PostedFormDep,
    SignedInDep,
    Visitor,
    VisitorDep,
    end_session_cookie,
    set_session_cookie,
)
from shared.i18n import LazyText, lazy_gettext
from shared.snooze import SNOOZE_LABELS, snooze_until
from shared.topics import TOPIC_CHANNELS

router = APIRouter(route_class=PageRoute, include_in_schema=False)

INBOX_PAGE_SIZE = 50
LOGIN_FAILED = lazy_gettext("That sign-in did not work. Check both fields and try again.")


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def validation_messages(error: ValidationError) -> list[str]:
    """A model's validation errors as sentences for people."""
    messages = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]).replace("_", " ")
        message = item["msg"].removeprefix("Value error, ")
        messages.append(f"{field}: {message}" if field else message)
    return messages


# ---------------------------------------------------------------- signing in and out


@router.get("/login")
async def login_page(request: Request, visitor: VisitorDep, next: str = "/") -> Response:
    if visitor.caller is not None:
        return _see_other(local_path(next))
    return _login_form(request, local_path(next), "", None)


def _login_form(
    request: Request, target: str, login_name: str, error: str | LazyText | None
) -> Response:
    """The sign-in page: the company sign-in's link (with TRAYBELL_OIDC_ISSUER) and the
    password form (unless TRAYBELL_PASSWORD_SIGNIN is off)."""
    settings = request.app.state.service.settings
    context = {
        "next": target,
        "login": login_name,
        "error": error,
        "company": settings.oidc_name if settings.oidc_issuer else None,
        "company_url": "/login/oidc?" + urlencode({"next": target}),
        "passwords": settings.password_signin,
    }
    return render(request, "login.html", context)


@router.post("/login")
async def login(request: Request, form: PostedFormDep, accounts: AccountsDep) -> Response:
    target = local_path(form.get("next"))
    login_name = form.get("login", "")
    try:
        signed_in = await accounts.sign_in(
            login_name, form.get("password", ""), ip=request_ip(request)
        )
    except Throttled as exc:
        page = _login_form(
            request,
            target,
            login_name,
            lazy_gettext("Too many failed sign-ins. Wait a few minutes and try again."),
        )
        page.status_code = 429
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if signed_in is None:
        return _login_form(request, target, login_name, LOGIN_FAILED)
    response = _see_other(target)
    set_session_cookie(request, response, signed_in.session_id)
    return response


@router.post("/logout")
async def logout(request: Request, visitor: SignedInDep, accounts: AccountsDep) -> Response:
    if visitor.session_id:
        await accounts.sign_out(visitor.session_id, actor_of(request, visitor.user))
        end_session_streams(request, visitor.session_id)
    response = _see_other("/login")
    end_session_cookie(response)
    return response


@router.get("/invite/{token}")
async def invite_page(
    token: str, request: Request, visitor: VisitorDep, accounts: AccountsDep
) -> Response:
    user_id = await accounts.invited_user(token)
    return render(request, "invite.html", {"user_id": user_id, "error": None})


@router.post("/invite/{token}")
async def accept_invite(
    token: str, request: Request, form: PostedFormDep, accounts: AccountsDep
) -> Response:
    user_id = await accounts.invited_user(token)
    try:
        signed_in = await accounts.accept_invite(
            token,
            form.get("password", ""),
            form.get("password_confirm", ""),
            ip=request_ip(request),
        )
    except WeakPassword as exc:
        return render(request, "invite.html", {"user_id": user_id, "error": str(exc)}, 422)
    response = _see_other("/")
    set_session_cookie(request, response, signed_in.session_id)
    return response


# ---------------------------------------------------------------- the inbox and one notification


@router.get("/")
async def inbox(
    request: Request,
    visitor: SignedInDep,
    service: ServiceDep,
    unread: str | None = None,
    before: str | None = None,
) -> Response:
    unread_only = unread == "1"
    # The read-all cursor is taken before the list, so it covers nothing the page does not show.
    read_all_up_to = await service.read_all_cursor(visitor.user)
    try:
        notifications, next_before = await service.list_notifications(
            visitor.user,
            unread=unread_only,
            archived=False,
            limit=INBOX_PAGE_SIZE,
            before=before[:200] if before else None,
            snoozed=False,
        )
    except InvalidCursor:
        return _see_other("/?unread=1" if unread_only else "/")
    # Snoozed ones are shown apart, under "Snoozed", on the first page.
    snoozed: list = []
    if not before:
        snoozed, _ = await service.list_notifications(
            visitor.user,
            unread=False,
            archived=False,
            limit=INBOX_PAGE_SIZE,
            before=None,
            snoozed=True,
        )
    context = {
        "notifications": notifications,
        "snoozed": snoozed,
        "next_before": next_before,
        "unread_only": unread_only,
        "unread_count": await service.unread_count(visitor.user),
        "read_all_up_to": read_all_up_to,
        "notice": _INBOX_NOTICES.get(request.query_params.get("done", "")),
        "here": _here_without_notice(request),
    }
    return render(request, "inbox.html", context)


def _here_without_notice(request: Request) -> str:
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "done"])
    return request.url.path + (f"?{query}" if query else "")


@router.post("/read-all")
async def read_all(
    request: Request, visitor: SignedInDep, form: PostedFormDep, service: ServiceDep
) -> Response:
    with contextlib.suppress(InvalidCursor):  # a damaged form marks nothing
        await service.mark_all_read(visitor.user, form.get("up_to") or None)
    return _see_other(_back_after(form.get("back"), "read-all", "status"))


#: What the inbox says (role=status) after a change sent it back there.
_INBOX_NOTICES = {
    "read": lazy_gettext("Marked read."),
    "unread": lazy_gettext("Marked unread."),
    "archive": lazy_gettext("Archived."),
    "read-all": lazy_gettext("Everything shown is marked read."),
    "snooze": lazy_gettext("Snoozed. It comes back unread at its time."),
    "unsnooze": lazy_gettext("Back in your inbox, unread."),
}


def _back_after(back: str | None, done: str, focus: str) -> str:
    """The page the form came from (a path on this site), saying what was done, with the
    element that keeps the keyboard's place (so focus does not jump to the top)."""
    parts = urlsplit(local_path(back))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "done"] + [("done", done)]
    return urlunsplit(("", "", parts.path, urlencode(query), focus))


@router.get("/n/{notification_id}")
async def notification_page(
    notification_id: str, request: Request, visitor: SignedInDep, service: ServiceDep
) -> Response:
    # the live page follows from here: its own mark-read comes too, and anything later
    live_cursor = await service.read_all_cursor(visitor.user)
    notification = await service.get(visitor.user, notification_id)
    # Looking at a snoozed one leaves its snooze alone (it is read already).
    if not notification["snoozed_until"]:
        notification = await service.change_one(visitor.user, notification_id, "read")
    context = {"n": notification, "live_cursor": live_cursor}
    return render(request, "notification.html", context)


@router.post("/n/{notification_id}/snooze")
async def snooze_notification(
    notification_id: str,
    request: Request,
    visitor: SignedInDep,
    form: PostedFormDep,
    service: ServiceDep,
) -> Response:
    """`for` is one of SNOOZE_LABELS; tomorrow 09:00 is in the person's own time zone."""
    choice = form.get("for", "")
    if choice not in SNOOZE_LABELS:
        return Response(status_code=404)
    zone = (await service.preferences(visitor.user))["timezone"] or "UTC"
    until = snooze_until(choice, datetime.now(UTC), ZoneInfo(zone))
    await service.snooze(visitor.user, notification_id, until)
    return _see_other(_back_after("/", "snooze", "status"))


@router.post("/n/{notification_id}/{action}")
async def change_notification(
    notification_id: str,
    action: str,
    request: Request,
    visitor: SignedInDep,
    form: PostedFormDep,
    service: ServiceDep,
) -> Response:
    if action not in ("read", "unread", "archive", "unsnooze"):
        return Response(status_code=404)
    if action == "unsnooze":
        await service.unsnooze(visitor.user, notification_id)
    else:
        await service.change_one(visitor.user, notification_id, action)
    # Focus goes back to the item (an archived one has gone: to the status message instead).
    target = "status" if action == "archive" else f"n-{notification_id}"
    return _see_other(_back_after(form.get("back"), action, target))


# ---------------------------------------------------------------- settings


def _preferences_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The settings form as a full preferences change, in the API's shape."""
    digest = form.get("digest_seconds", "").strip()
    changes: dict[str, Any] = {
        "in_app_enabled": "in_app_enabled" in form,
        "email_enabled": "email_enabled" in form,
        "push_enabled": "push_enabled" in form,
        "digest_seconds": int(digest) if digest.isdigit() else digest,
        "email": form.get("email", "").strip() or None,
        "push_urls": [
            line.strip() for line in form.get("push_urls", "").splitlines() if line.strip()
        ],
        "quiet_hours": None,
        "timezone": form.get("timezone", "").strip() or None,
        "language": form.get("language", "").strip() or None,
    }
    if "quiet_enabled" in form:
        changes["quiet_hours"] = {
            "start": form.get("quiet_start", ""),
            "end": form.get("quiet_end", ""),
            # empty: the user's own time zone
            "timezone": form.get("quiet_timezone", "").strip() or None,
        }
    return changes


_SETTINGS_NOTICES = {
    "saved": lazy_gettext("Your settings are saved."),
    "password": lazy_gettext("Your password is changed. Every other browser was signed out."),
    "revoked": lazy_gettext("That device or token is signed out."),
    "topics": lazy_gettext("Your topic settings are saved."),
    "joined": lazy_gettext("You follow that topic now."),
    "left": lazy_gettext("You no longer follow that topic."),
}


#: The settings form's fields as people see them: a refusal names the label, never the API's
#: field, and marks the input (by its id) invalid. By the error's location, most specific first.
_SETTINGS_FIELDS: dict[tuple[str, ...], tuple[str, LazyText]] = {
    ("quiet_hours", "start"): ("quiet_start", lazy_gettext("Quiet hours: from")),
    ("quiet_hours", "end"): ("quiet_end", lazy_gettext("Quiet hours: until")),
    ("quiet_hours", "timezone"): ("quiet_timezone", lazy_gettext("Quiet hours: time zone")),
    ("quiet_hours",): ("quiet_start", lazy_gettext("Quiet hours")),
    ("timezone",): ("timezone", lazy_gettext("Your time zone")),
    ("language",): ("language", lazy_gettext("Language")),
    ("digest_seconds",): ("digest_seconds", lazy_gettext("Batch window in seconds")),
    ("email",): ("email", lazy_gettext("Email address")),
    ("push_urls",): ("push_urls", lazy_gettext("Push addresses")),
    ("topics",): ("topics", lazy_gettext("Topics")),
}


@dataclass(frozen=True)
class FieldError:
    field_id: str  # the input's id, which the message links to
    label: str | LazyText
    message: str | LazyText


def _settings_field(location: tuple[Any, ...]) -> tuple[str, LazyText]:
    names = tuple(str(part) for part in location)
    for prefix in sorted(_SETTINGS_FIELDS, key=len, reverse=True):
        if names[: len(prefix)] == prefix:
            return _SETTINGS_FIELDS[prefix]
    return "in_app_enabled", lazy_gettext("Settings")


def _settings_errors(error: ValidationError) -> list[FieldError]:
    found = []
    for item in error.errors():
        field_id, label = _settings_field(item["loc"])
        found.append(FieldError(field_id, label, item["msg"].removeprefix("Value error, ")))
    return found


async def _settings_page(
    request: Request,
    visitor: Visitor,
    service: Service,
    *,
    typed: dict[str, Any] | None = None,
    errors: list[FieldError] | None = None,
    password_errors: Sequence[str | LazyText] | None = None,
    status: int = 200,
) -> Response:
    """`typed`: the preferences as the refused form had them, shown again as typed."""
    preferences = await service.preferences(visitor.user)
    audiences: Audiences = request.app.state.audiences
    context = {
        "preferences": {**preferences, **(typed or {})},
        "topics": await audiences.preference_center(visitor.user.user_id, preferences["topics"]),
        "tokens": await service.own_tokens(visitor.user),
        "notice": _SETTINGS_NOTICES.get(request.query_params.get("done", "")),
        "errors": errors or [],
        "invalid": {error.field_id for error in errors or []},
        "password_errors": password_errors or [],
    }
    return render(request, "settings.html", context, status)


@router.get("/settings")
async def settings_page(request: Request, visitor: SignedInDep, service: ServiceDep) -> Response:
    return await _settings_page(request, visitor, service)


@router.post("/settings")
async def save_settings(
    request: Request, visitor: SignedInDep, form: PostedFormDep, service: ServiceDep
) -> Response:
    typed = _preferences_from_form(form)
    try:
        patch = PreferencesPatch.model_validate(typed)
    except ValidationError as exc:
        errors = _settings_errors(exc)
        return await _settings_page(
            request, visitor, service, typed=typed, errors=errors, status=422
        )
    try:
        await service.update_preferences(
            visitor.user, patch.model_dump(exclude_unset=True), actor_of(request, visitor.user)
        )
    except PushTargetRefused as exc:
        errors = [
            FieldError(
                "push_urls",
                lazy_gettext("Push addresses"),
                lazy_gettext("%(refusal)s: they may only reach public addresses", refusal=exc),
            )
        ]
        return await _settings_page(
            request, visitor, service, typed=typed, errors=errors, status=422
        )
    return _see_other("/settings?done=saved")


#: A topic's switch in the form: `<channel>@<topic>` with "on", "off" or "" (as the channel).
_SWITCH_VALUES = {"on": True, "off": False, "": None}


def _topic_overrides(form: dict[str, str]) -> dict[str, dict[str, bool | None]]:
    """The form's switches as the `topics` of a preferences patch."""
    topics: dict[str, dict[str, bool | None]] = {}
    for field, value in form.items():
        channel, at, topic = field.partition("@")
        if at and channel in TOPIC_CHANNELS and value in _SWITCH_VALUES:
            topics.setdefault(topic, {})[channel] = _SWITCH_VALUES[value]
    return topics


@router.post("/settings/topics")
async def save_topics(
    request: Request, visitor: SignedInDep, form: PostedFormDep, service: ServiceDep
) -> Response:
    try:
        patch = PreferencesPatch.model_validate({"topics": _topic_overrides(form)})
    except ValidationError as exc:
        errors = _settings_errors(exc)
        return await _settings_page(request, visitor, service, errors=errors, status=422)
    await service.update_preferences(
        visitor.user, patch.model_dump(exclude_unset=True), actor_of(request, visitor.user)
    )
    return _see_other("/settings?done=topics#topics")


@router.post("/settings/topics/{topic}/{action}")
async def join_or_leave(
    topic: str,
    action: str,
    request: Request,
    visitor: SignedInDep,
    _: PostedFormDep,
    service: ServiceDep,
    audiences: AudiencesDep,
) -> Response:
    if action not in ("join", "leave"):
        raise NotFound("no such page")
    try:
        await audiences.change_own_subscription(visitor.user.user_id, topic, action == "join")
    except (NotFound, ClosedTopic) as exc:
        errors = [FieldError("topics", lazy_gettext("Topics"), f"{str(exc).capitalize()}.")]
        return await _settings_page(request, visitor, service, errors=errors, status=409)
    return _see_other(f"/settings?done={'joined' if action == 'join' else 'left'}#topics")


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: str, request: Request, visitor: SignedInDep, service: ServiceDep
) -> Response:
    await service.revoke_own_token(visitor.user, token_id, actor_of(request, visitor.user))
    return _see_other("/settings?done=revoked#devices")


@router.post("/settings/password")
async def change_password(
    request: Request,
    visitor: SignedInDep,
    form: PostedFormDep,
    service: ServiceDep,
    accounts: AccountsDep,
) -> Response:
    try:
        session_id = await accounts.change_password(
            visitor.user,
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("new_password_confirm", ""),
            actor_of(request, visitor.user),
        )
    except WeakPassword as exc:
        return await _settings_page(
            request, visitor, service, password_errors=[str(exc)], status=422
        )
    except Throttled as exc:
        errors = [lazy_gettext("Too many wrong passwords. Wait a few minutes and try again.")]
        page = await _settings_page(request, visitor, service, password_errors=errors, status=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if session_id is None:
        errors = [lazy_gettext("The current password is not right.")]
        return await _settings_page(request, visitor, service, password_errors=errors, status=422)
    # This browser stays signed in with a new session; the page is loaded anew for its token.
    response = _see_other("/settings?done=password")
    set_session_cookie(request, response, session_id)
    return response


# ---------------------------------------------------------------- device sign-in


def _throttled_page(request: Request, template: str, context: dict[str, Any], exc: Throttled):
    response = render(request, template, context, 429)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/device")
async def device_page(
    request: Request, visitor: SignedInDep, accounts: AccountsDep, code: str | None = None
) -> Response:
    context: dict[str, Any] = {"pending": None, "typed": code or "", "error": None, "done": None}
    if not code:
        return render(request, "device.html", context)
    try:
        context["pending"] = await accounts.pending_device(visitor.session_id or "", code[:50])
    except Throttled as exc:
        context["error"] = lazy_gettext("Too many codes entered. Wait a minute and try again.")
        return _throttled_page(request, "device.html", context, exc)
    if context["pending"] is None:
        context["error"] = lazy_gettext(
            "No device is waiting for that code. Check it and try again."
        )
        return render(request, "device.html", context, 404)
    return render(request, "device.html", context)


@router.post("/device")
async def decide_device(
    request: Request, visitor: SignedInDep, form: PostedFormDep, accounts: AccountsDep
) -> Response:
    typed = form.get("user_code", "")[:50]
    approve = form.get("action") == "approve"
    context: dict[str, Any] = {"pending": None, "typed": typed, "error": None, "done": None}
    if form.get("action") not in ("approve", "deny"):
        context["error"] = lazy_gettext("Choose Approve or Deny.")
        return render(request, "device.html", context, 422)
    try:
        client_name = await accounts.decide_device(
            visitor.user,
            visitor.session_id or "",
            typed,
            approve=approve,
            actor=actor_of(request, visitor.user),
        )
    except Throttled as exc:
        context["error"] = lazy_gettext("Too many codes entered. Wait a minute and try again.")
        return _throttled_page(request, "device.html", context, exc)
    except AdminApprovalNeeded:
        context["error"] = lazy_gettext(
            "That device asks to act as an admin; only an admin can approve it."
        )
        return render(request, "device.html", context, 403)
    if client_name is None:
        context["error"] = lazy_gettext("No device is waiting for that code (it may have expired).")
        return render(request, "device.html", context, 404)
    context["done"] = {"client_name": client_name, "approved": approve}
    return render(request, "device.html", context)

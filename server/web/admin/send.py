"""Send a notification: the form, a review that shows who it reaches, then the send."""

import re
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from server.api.schemas import SendRequest
from server.dependencies import ServiceDep, actor_of
from server.errors import UnknownAddresses, UnknownUsers, Unprocessable
from server.service import Service
from server.web.admin.area import area_router
from server.web.pages import validation_messages
from server.web.rendering import page_language, render
from server.web.session import AdminVisitorDep, PostedFormDep
from shared.i18n import Shown, format_number, gettext, lazy_gettext, use_language
from shared.models import as_audience

router = area_router("/admin/send")

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
    # "Send at": empty sends now; a time is in UTC, or in each recipient's own time zone.
    if send_at := form.get("send_at", "").strip():
        if form.get("send_at_zone") == "local":
            fields["send_at_local"] = send_at
        else:
            fields["send_at"] = send_at + "Z"
    ids = _recipient_ids(form.get("recipients", ""))
    if form.get("audience") == "all":
        fields["all_users"] = True
    elif to := as_audience(ids):
        fields["to"] = to
    elif len(ids) == 1:
        fields["user_id"] = ids[0]
    elif ids:
        fields["user_ids"] = ids
    return SendRequest.model_validate({k: v for k, v in fields.items() if v is not None})


async def _send_page(
    request: Request,
    service: Service,
    *,
    notice: Shown | None = None,
    errors: Sequence[Shown] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "notice": notice,
        "errors": errors or [],
        "send_form": form or {},
        "everyone": (await service.count_recipients(None)).reached,
    }
    return render(request, "admin/send.html", context, status)


@router.get("")
async def send_page(request: Request, _: AdminVisitorDep, service: ServiceDep) -> Response:
    return await _send_page(request, service)


@router.post("")
async def send(
    request: Request, visitor: AdminVisitorDep, form: PostedFormDep, service: ServiceDep
) -> Response:
    """Two steps: `review` shows how many people the send reaches; `send` sends (`edit` goes
    back to the form as it was). The review gives the form an idempotency key, so a send
    posted twice (a reload) is stored once."""
    if form.get("step") == "edit":
        return await _send_page(request, service, form=form)
    try:
        send_request = _send_request(form)
    except ValidationError as exc:
        errors: Sequence[Shown] = validation_messages(exc)
        return await _send_page(request, service, errors=errors, form=form, status=422)
    if form.get("step") != "send":
        context = {
            "form": {**form, "idempotency_key": form.get("idempotency_key") or str(uuid.uuid4())},
            "count": await (
                service.count_audience(send_request.to)
                if send_request.to is not None
                else service.count_recipients(send_request.recipients())
            ),
            "send": send_request,
        }
        return render(request, "admin/review.html", context)
    try:
        actor = actor_of(request, visitor.user)
        when = send_request.send_time()
        scheduled = when and await service.schedule(send_request.outgoing(), when, actor)
        if scheduled:
            schedule, _ = scheduled
            notice = (
                lazy_gettext("Scheduled for %(when)s.", when=schedule["send_at"])
                if schedule.get("send_at")
                else lazy_gettext(
                    "Scheduled for %(when)s in each one's time zone.",
                    when=schedule["send_at_local"],
                )
            )
            return await _send_page(request, service, notice=notice)
        results = await service.send(send_request.outgoing(), actor)
    except Unprocessable as exc:
        return await _send_page(request, service, errors=[str(exc)], form=form, status=422)
    except UnknownUsers as exc:
        errors = [
            lazy_gettext(
                "No such user: %(users)s. Nothing was sent.", users=", ".join(exc.user_ids[:20])
            )
        ]
        return await _send_page(request, service, errors=errors, form=form, status=422)
    except UnknownAddresses as exc:
        errors = [
            lazy_gettext(
                "No such team, topic or user: %(addresses)s. Nothing was sent.",
                addresses=", ".join(exc.addresses[:20]),
            )
        ]
        return await _send_page(request, service, errors=errors, form=form, status=422)
    inserted = sum(r["inserted"] for r in results)
    suppressed = sum(1 for r in results if r.get("suppressed"))
    repeated = len(results) - inserted - suppressed
    # sentences in the page's language, joined here: each one says one count
    with use_language(page_language(request)):
        sentences = [
            gettext(
                "Sent to %(sent)s of %(total)s recipient(s).",
                sent=format_number(inserted),
                total=format_number(len(results)),
            )
        ]
        if repeated:
            sentences.append(
                gettext(
                    "%(count)s already had it (a repeated send).", count=format_number(repeated)
                )
            )
        if suppressed:
            sentences.append(
                gettext(
                    "%(count)s turned in-app notifications off or are disabled.",
                    count=format_number(suppressed),
                )
            )
    return await _send_page(request, service, notice=" ".join(sentences))

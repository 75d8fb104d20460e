"""Import people: the console's `traybell admin import-users` (server/onboarding.py). A CSV
file is uploaded (or pasted), a preview says line by line what would be created, joined,
left as it is or refused, and only Import changes anything."""

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from server.dependencies import AccountsDep, AudiencesDep, ServiceDep, actor_of
from server.onboarding import (
    HEADER,
    BadFile,
    ImportResult,
    email_invites,
    import_people,
    plan_people,
    read_people,
)
from server.web.admin.area import area_router
from server.web.rendering import render
from server.web.session import AdminVisitorDep, PostedFormDep
from shared.i18n import lazy_gettext

router = area_router("/admin/import")


def _page(request: Request, status: int = 200, **context: object) -> Response:
    defaults: dict[str, object] = {
        "header": ",".join(HEADER),
        "errors": [],
        "plans": None,
        "refused": [],
        "result": None,
        "not_emailed": [],
        "people": "",
    }
    return render(request, "admin/import.html", defaults | context, status)


async def _posted_csv(request: Request, form: dict[str, str]) -> str:
    """The uploaded file's text, else the pasted text."""
    upload = (await request.form()).get("file")  # the form as the CSRF check read it
    if isinstance(upload, UploadFile) and upload.filename:
        return (await upload.read()).decode("utf-8-sig", errors="replace")
    return form.get("people", "")


@router.get("")
async def import_page(request: Request, _: AdminVisitorDep) -> Response:
    return _page(request)


@router.post("/preview")
async def preview(
    request: Request,
    _: AdminVisitorDep,
    form: PostedFormDep,
    service: ServiceDep,
    audiences: AudiencesDep,
) -> Response:
    text = await _posted_csv(request, form)
    parsed = ImportResult()
    try:
        people = read_people(text, parsed)
    except BadFile as exc:
        return _page(
            request,
            422,
            errors=[lazy_gettext("The file cannot be imported: %(reason)s.", reason=exc)],
            people=text,
        )
    plans = await plan_people(people, service=service, audiences=audiences)
    return _page(request, plans=plans, refused=parsed.refused, people=text)


@router.post("")
async def apply(
    request: Request,
    visitor: AdminVisitorDep,
    form: PostedFormDep,
    service: ServiceDep,
    accounts: AccountsDep,
    audiences: AudiencesDep,
) -> Response:
    result = ImportResult()
    try:
        people = read_people(form.get("people", ""), result)
    except BadFile as exc:
        return _page(
            request,
            422,
            errors=[lazy_gettext("The file cannot be imported: %(reason)s.", reason=exc)],
        )
    await import_people(
        people,
        result,
        service=service,
        accounts=accounts,
        audiences=audiences,
        actor=actor_of(request, visitor.user),
    )
    not_emailed = await email_invites(result.invites, service.settings)
    return _page(request, result=result, not_emailed=not_emailed)

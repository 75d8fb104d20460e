"""Integrations: connect a source (Alertmanager, Grafana, anything that speaks Gotify or ntfy),
show its token once with the exact settings to paste into it, list them with their last use,
delete (the token stops at once)."""

from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from server.api.schemas import CreateIntegrationRequest
from server.dependencies import IntegrationsDep, actor_of
from server.errors import NotFound, UnknownAddresses
from server.integrations import Integrations
from server.web.admin.area import area_router
from server.web.pages import validation_messages
from server.web.rendering import render
from server.web.session import AdminVisitorDep, PostedFormDep
from shared.i18n import Shown, lazy_gettext

router = area_router("/admin/integrations")


def source_settings(public_url: str, kind: str, token: str) -> dict[str, str]:
    """What the source needs, by kind: the server's address, the token, and Apprise's URL."""
    address = urlsplit(public_url)
    secure = "s" if address.scheme == "https" else ""
    host = address.netloc + address.path
    if kind == "alertmanager":
        return {"url": f"{public_url}/hooks/alertmanager", "token": token}
    if kind == "gotify":
        return {"url": public_url, "token": token, "apprise": f"gotify{secure}://{host}/{token}"}
    return {
        "url": public_url,
        "token": token,
        "apprise": f"ntfy{secure}://traybell:{token}@{host}/",
    }


async def _integrations_page(
    request: Request,
    integrations: Integrations,
    *,
    created: dict | None = None,
    notice: Shown | None = None,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "notice": notice,
        "errors": errors or [],
        "created": created,
        "integrations": await integrations.list(),
    }
    return render(request, "admin/integrations.html", context, status)


@router.get("")
async def integrations_page(
    request: Request, _: AdminVisitorDep, integrations: IntegrationsDep
) -> Response:
    return await _integrations_page(request, integrations)


@router.post("")
async def create_integration(
    request: Request, visitor: AdminVisitorDep, form: PostedFormDep, integrations: IntegrationsDep
) -> Response:
    """Connects a source; the page shows its token this once, in the settings to paste."""
    try:
        wanted = CreateIntegrationRequest.model_validate(
            {
                "name": form.get("name", "").strip(),
                "kind": form.get("kind", ""),
                "to": form.get("to", "").replace(",", " ").split(),
                "topic": form.get("topic", "").strip() or None,
            }
        )
        integration, token = await integrations.create(
            wanted.name, wanted.kind, wanted.to, wanted.topic, actor_of(request, visitor.user)
        )
    except ValidationError as exc:
        errors: Sequence[Shown] = validation_messages(exc)
        return await _integrations_page(request, integrations, errors=errors, status=422)
    except UnknownAddresses as exc:
        errors = [
            lazy_gettext(
                "No such user, team or topic: %(addresses)s.", addresses=", ".join(exc.addresses)
            )
        ]
        return await _integrations_page(request, integrations, errors=errors, status=422)
    settings = request.app.state.service.settings
    created = {
        "integration": integration,
        "settings": source_settings(settings.public_url, integration["kind"], token),
    }
    return await _integrations_page(request, integrations, created=created, status=201)


@router.post("/{integration_id}/delete")
async def delete_integration(
    integration_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    _: PostedFormDep,
    integrations: IntegrationsDep,
) -> Response:
    try:
        await integrations.delete(integration_id, actor_of(request, visitor.user))
    except NotFound:
        errors = [lazy_gettext("That integration no longer exists.")]
        return await _integrations_page(request, integrations, errors=errors, status=404)
    return await _integrations_page(
        request,
        integrations,
        notice=lazy_gettext("The integration is deleted; its token no longer works."),
    )

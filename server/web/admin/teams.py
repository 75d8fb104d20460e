"""Teams: create, list, members added and removed (teams admins manage; the company sign-in
sets the others), delete."""

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from server.api.schemas import CreateTeamRequest
from server.audiences import Audiences
from server.dependencies import AudiencesDep, actor_of
from server.errors import Conflict, NotFound
from server.web.admin.area import area_router
from server.web.pages import validation_messages
from server.web.rendering import render
from server.web.session import AdminVisitorDep, PostedFormDep, Visitor
from shared.i18n import Shown, lazy_gettext

router = area_router("/admin/teams")


async def _teams_page(
    request: Request,
    audiences: Audiences,
    *,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    context = {"errors": errors or [], "teams": await audiences.teams()}
    return render(request, "admin/teams.html", context, status)


async def _team_page(
    request: Request,
    audiences: Audiences,
    team_id: str,
    *,
    notice: Shown | None = None,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    context = {"notice": notice, "errors": errors or [], "team": await audiences.team(team_id)}
    return render(request, "admin/team.html", context, status)


@router.get("")
async def teams_page(request: Request, _: AdminVisitorDep, audiences: AudiencesDep) -> Response:
    return await _teams_page(request, audiences)


@router.post("")
async def create_team(
    request: Request, visitor: AdminVisitorDep, form: PostedFormDep, audiences: AudiencesDep
) -> Response:
    try:
        team = CreateTeamRequest.model_validate(
            {
                "team_id": form.get("team_id", "").strip(),
                "display_name": form.get("display_name", "").strip() or None,
            }
        )
        await audiences.create_team(
            team.team_id, team.display_name, actor_of(request, visitor.user)
        )
    except ValidationError as exc:
        return await _teams_page(request, audiences, errors=validation_messages(exc), status=422)
    except Conflict:
        errors = [
            lazy_gettext(
                "A team %(team)s exists already.", team=repr(form.get("team_id", "").strip())
            )
        ]
        return await _teams_page(request, audiences, errors=errors, status=409)
    return RedirectResponse(f"/admin/teams/{team.team_id}", status_code=303)


@router.get("/{team_id}")
async def team_page(
    team_id: str, request: Request, _: AdminVisitorDep, audiences: AudiencesDep
) -> Response:
    return await _team_page(request, audiences, team_id)


@router.post("/{team_id}/members")
async def add_member(
    team_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    form: PostedFormDep,
    audiences: AudiencesDep,
) -> Response:
    user_id = form.get("user_id", "").strip()
    return await _change_member(request, visitor, audiences, team_id, user_id, add=True)


@router.post("/{team_id}/members/{user_id}/remove")
async def remove_member(
    team_id: str,
    user_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    _: PostedFormDep,
    audiences: AudiencesDep,
) -> Response:
    return await _change_member(request, visitor, audiences, team_id, user_id, add=False)


async def _change_member(
    request: Request,
    visitor: Visitor,
    audiences: Audiences,
    team_id: str,
    user_id: str,
    *,
    add: bool,
) -> Response:
    try:
        await audiences.change_member(team_id, user_id, add, actor_of(request, visitor.user))
    except NotFound as exc:
        await audiences.team(team_id)  # an unknown team is the 404 page
        errors = [f"{str(exc).capitalize()}."]
        return await _team_page(request, audiences, team_id, errors=errors, status=404)
    except Conflict as exc:
        errors = [f"{str(exc).capitalize()}."]
        return await _team_page(request, audiences, team_id, errors=errors, status=409)
    notice = (
        lazy_gettext("%(user)s is a member now.", user=user_id)
        if add
        else lazy_gettext("%(user)s is no longer a member.", user=user_id)
    )
    return await _team_page(request, audiences, team_id, notice=notice)


@router.post("/{team_id}/delete")
async def delete_team(
    team_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    _: PostedFormDep,
    audiences: AudiencesDep,
) -> Response:
    await audiences.delete_team(team_id, actor_of(request, visitor.user))
    return RedirectResponse("/admin/teams", status_code=303)

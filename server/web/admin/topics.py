"""Topics: declare (open for anyone to join, or closed), subscribe whole teams, delete."""

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError

from server.api.schemas import DeclareTopicRequest, TopicName
from server.audiences import Audiences
from server.dependencies import AudiencesDep, actor_of
from server.errors import NotFound
from server.web.admin.area import area_router
from server.web.pages import validation_messages
from server.web.rendering import render
from server.web.session import AdminVisitorDep, PostedFormDep, Visitor
from shared.i18n import Shown, lazy_gettext

router = area_router("/admin/topics")

_TOPIC_NAME = TypeAdapter(TopicName)


async def _topics_page(
    request: Request,
    audiences: Audiences,
    *,
    notice: Shown | None = None,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "notice": notice,
        "errors": errors or [],
        "topics": await audiences.admin_topics(),
        "teams": await audiences.teams(),
    }
    return render(request, "admin/topics.html", context, status)


@router.get("")
async def topics_page(request: Request, _: AdminVisitorDep, audiences: AudiencesDep) -> Response:
    return await _topics_page(request, audiences)


@router.post("")
async def declare_topic(
    request: Request, visitor: AdminVisitorDep, form: PostedFormDep, audiences: AudiencesDep
) -> Response:
    """Declares a topic, or changes one declared before (the same name)."""
    try:
        topic = _TOPIC_NAME.validate_python(form.get("topic", "").strip())
        declared = DeclareTopicRequest.model_validate(
            {"description": form.get("description", "").strip(), "open": "open" in form}
        )
    except ValidationError as exc:
        return await _topics_page(request, audiences, errors=validation_messages(exc), status=422)
    await audiences.declare_topic(
        topic, declared.description, declared.open, actor_of(request, visitor.user)
    )
    return await _topics_page(
        request, audiences, notice=lazy_gettext("Topic %(topic)s is declared.", topic=topic)
    )


@router.post("/{topic}/teams")
async def subscribe_team(
    topic: str,
    request: Request,
    visitor: AdminVisitorDep,
    form: PostedFormDep,
    audiences: AudiencesDep,
) -> Response:
    team_id = form.get("team_id", "")
    return await _change_team(request, visitor, audiences, topic, team_id, subscribe=True)


@router.post("/{topic}/teams/{team_id}/remove")
async def unsubscribe_team(
    topic: str,
    team_id: str,
    request: Request,
    visitor: AdminVisitorDep,
    _: PostedFormDep,
    audiences: AudiencesDep,
) -> Response:
    return await _change_team(request, visitor, audiences, topic, team_id, subscribe=False)


async def _change_team(
    request: Request,
    visitor: Visitor,
    audiences: Audiences,
    topic: str,
    team_id: str,
    *,
    subscribe: bool,
) -> Response:
    try:
        await audiences.change_team_subscription(
            topic, team_id, subscribe, actor_of(request, visitor.user)
        )
    except NotFound as exc:
        errors = [f"{str(exc).capitalize()}."]
        return await _topics_page(request, audiences, errors=errors, status=404)
    notice = (
        lazy_gettext("Team %(team)s follows %(topic)s.", team=team_id, topic=topic)
        if subscribe
        else lazy_gettext("Team %(team)s no longer follows %(topic)s.", team=team_id, topic=topic)
    )
    return await _topics_page(request, audiences, notice=notice)


@router.post("/{topic}/delete")
async def delete_topic(
    topic: str,
    request: Request,
    visitor: AdminVisitorDep,
    _: PostedFormDep,
    audiences: AudiencesDep,
) -> Response:
    await audiences.delete_topic(topic, actor_of(request, visitor.user))
    return RedirectResponse("/admin/topics", status_code=303)

"""Teams and topics: the admin calls that shape audiences, and each user's own topics."""

from fastapi import APIRouter, Response

from server.api.deps import AdminActorDep, CallerDep
from server.api.links import TOPIC_LINKS, replies_with, team_links
from server.api.schemas import (
    CreateTeamRequest,
    DeclareTopicRequest,
    TeamCreated,
    TeamList,
    TeamReply,
    Text,
    TopicList,
    TopicName,
    TopicReply,
)
from server.dependencies import AudiencesDep

router = APIRouter(tags=["audiences"])


@router.post(
    "/v1/admin/teams",
    response_model=TeamCreated,
    status_code=201,
    responses=replies_with(team_links("/team/team_id"), status=201),
)
async def create_team(
    request: CreateTeamRequest, audiences: AudiencesDep, actor: AdminActorDep
) -> dict:
    return {"team": await audiences.create_team(request.team_id, request.display_name, actor)}


@router.get(
    "/v1/admin/teams",
    response_model=TeamList,
    responses=replies_with(team_links("/teams/0/team_id")),
)
async def list_teams(audiences: AudiencesDep, _: AdminActorDep) -> dict:
    return {"teams": await audiences.teams()}


@router.get("/v1/admin/teams/{team_id}", response_model=TeamReply)
async def get_team(team_id: Text, audiences: AudiencesDep, _: AdminActorDep) -> dict:
    return {"team": await audiences.team(team_id)}


@router.put("/v1/admin/teams/{team_id}/members/{user_id}", status_code=204)
async def add_team_member(
    team_id: Text, user_id: Text, audiences: AudiencesDep, actor: AdminActorDep
) -> Response:
    await audiences.change_member(team_id, user_id, True, actor)
    return Response(status_code=204)


@router.delete("/v1/admin/teams/{team_id}/members/{user_id}", status_code=204)
async def remove_team_member(
    team_id: Text, user_id: Text, audiences: AudiencesDep, actor: AdminActorDep
) -> Response:
    await audiences.change_member(team_id, user_id, False, actor)
    return Response(status_code=204)


@router.delete("/v1/admin/teams/{team_id}", status_code=204)
async def delete_team(team_id: Text, audiences: AudiencesDep, actor: AdminActorDep) -> Response:
    await audiences.delete_team(team_id, actor)
    return Response(status_code=204)


@router.put(
    "/v1/admin/topics/{topic}", response_model=TopicReply, responses=replies_with(TOPIC_LINKS)
)
async def declare_topic(
    topic: TopicName, request: DeclareTopicRequest, audiences: AudiencesDep, actor: AdminActorDep
) -> dict:
    return {"topic": await audiences.declare_topic(topic, request.description, request.open, actor)}


@router.delete("/v1/admin/topics/{topic}", status_code=204)
async def delete_topic(topic: Text, audiences: AudiencesDep, actor: AdminActorDep) -> Response:
    await audiences.delete_topic(topic, actor)
    return Response(status_code=204)


@router.put("/v1/admin/topics/{topic}/teams/{team_id}", status_code=204)
async def subscribe_team(
    topic: Text, team_id: Text, audiences: AudiencesDep, actor: AdminActorDep
) -> Response:
    await audiences.change_team_subscription(topic, team_id, True, actor)
    return Response(status_code=204)


@router.delete("/v1/admin/topics/{topic}/teams/{team_id}", status_code=204)
async def unsubscribe_team(
    topic: Text, team_id: Text, audiences: AudiencesDep, actor: AdminActorDep
) -> Response:
    await audiences.change_team_subscription(topic, team_id, False, actor)
    return Response(status_code=204)


@router.get("/v1/topics", response_model=TopicList)
async def list_topics(audiences: AudiencesDep, caller: CallerDep) -> dict:
    return {"topics": await audiences.topics(caller.user_id)}


@router.put("/v1/me/subscriptions/{topic}", status_code=204)
async def join_topic(topic: Text, audiences: AudiencesDep, caller: CallerDep) -> Response:
    await audiences.change_own_subscription(caller.user_id, topic, True)
    return Response(status_code=204)


@router.delete("/v1/me/subscriptions/{topic}", status_code=204)
async def leave_topic(topic: Text, audiences: AudiencesDep, caller: CallerDep) -> Response:
    await audiences.change_own_subscription(caller.user_id, topic, False)
    return Response(status_code=204)

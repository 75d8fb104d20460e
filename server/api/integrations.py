"""/v1/admin/integrations: connect a source (its token is shown once), list, delete."""

from fastapi import APIRouter, Response

from server.api.deps import AdminActorDep
from server.api.schemas import CreateIntegrationRequest, IntegrationCreated, IntegrationList, Text
from server.dependencies import IntegrationsDep

router = APIRouter(prefix="/v1/admin/integrations", tags=["integrations"])


@router.post("", response_model=IntegrationCreated, status_code=201)
async def create_integration(
    request: CreateIntegrationRequest, integrations: IntegrationsDep, actor: AdminActorDep
) -> dict:
    integration, token = await integrations.create(
        request.name, request.kind, request.to, request.topic, actor
    )
    return {"integration": integration, "token": token}


@router.get("", response_model=IntegrationList)
async def list_integrations(integrations: IntegrationsDep, _: AdminActorDep) -> dict:
    return {"integrations": await integrations.list()}


@router.delete("/{integration_id}", status_code=204)
async def delete_integration(
    integration_id: Text, integrations: IntegrationsDep, actor: AdminActorDep
) -> Response:
    await integrations.delete(integration_id, actor)
    return Response(status_code=204)

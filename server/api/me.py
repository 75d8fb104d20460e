"""/v1/me: the caller, and the tokens (devices and API tokens) that act as them."""

from fastapi import APIRouter, Response

from server.api.deps import ActorDep, CallerDep
from server.api.schemas import MeReply, OwnTokenList
from server.dependencies import ServiceDep

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("", response_model=MeReply)
async def me(service: ServiceDep, caller: CallerDep) -> dict:
    return {"user": await service.user(caller.user_id), "token_id": caller.token_id}


@router.get("/tokens", response_model=OwnTokenList)
async def own_tokens(service: ServiceDep, caller: CallerDep) -> dict:
    return {"tokens": await service.own_tokens(caller)}


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_own_token(
    token_id: str, service: ServiceDep, caller: CallerDep, actor: ActorDep
) -> Response:
    await service.revoke_own_token(caller, token_id, actor)
    return Response(status_code=204)

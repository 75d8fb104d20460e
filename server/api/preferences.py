"""/v1/preferences: the caller's channels, digest window and quiet hours."""

from fastapi import APIRouter

from server.api.deps import ActorDep, CallerDep
from server.api.schemas import Preferences, PreferencesPatch
from server.dependencies import ServiceDep

router = APIRouter(prefix="/v1/preferences", tags=["preferences"])


@router.get("", response_model=Preferences)
async def get_preferences(service: ServiceDep, caller: CallerDep) -> dict:
    return await service.preferences(caller)


@router.patch("", response_model=Preferences)
async def patch_preferences(
    patch: PreferencesPatch, service: ServiceDep, caller: CallerDep, actor: ActorDep
) -> dict:
    return await service.update_preferences(
        caller, patch.model_dump(mode="json", exclude_unset=True), actor
    )

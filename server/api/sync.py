"""/v1/sync: the caller's changes since a cursor, in commit order."""

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import CallerDep
from server.api.links import SYNC_LINKS, replies_with
from server.api.schemas import RESYNC_REQUIRED, SyncCursorText
from server.dependencies import ServiceDep
from shared.models import SyncPage

router = APIRouter(tags=["sync"])

SYNC_LIMIT_MAX = 1000


@router.get(
    "/v1/sync",
    response_model=SyncPage,
    responses=replies_with(SYNC_LINKS) | {410: RESYNC_REQUIRED},
)
async def sync(
    service: ServiceDep,
    caller: CallerDep,
    cursor: Annotated[SyncCursorText | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = 500,
) -> SyncPage:
    return await service.sync(caller, cursor, min(limit, SYNC_LIMIT_MAX))

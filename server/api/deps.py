"""The API's caller: the user an `Authorization: Bearer` token stands for, and who the audit log
names for the request. What pages share with the API is in server/dependencies.py."""

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.api.errors import ApiError
from server.api.schemas import Key
from server.audit import Actor
from server.dependencies import actor_of, service_of
from server.identity import Caller

_bearer = HTTPBearer(
    auto_error=False, description="An API token from `traybell admin create-user`."
)


async def token_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Whoever the bearer token names, of any scope: each route says which scope it takes."""
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "Send 'Authorization: Bearer <token>'.")
    found = await service_of(request).authenticate(credentials.credentials)
    if found is None:
        raise ApiError(401, "unauthorized", "The token is not valid (revoked or mistyped).")
    return found


async def caller(caller_: Annotated[Caller, Depends(token_caller)]) -> Caller:
    """A `user` or `admin` token: an integration's `ingest` token acts as nobody here."""
    if caller_.scope == "ingest":
        raise ApiError(401, "unauthorized", "An ingest token is only good for sending events in.")
    return caller_


async def admin(caller_: Annotated[Caller, Depends(caller)]) -> Caller:
    if not caller_.is_admin:
        raise ApiError(403, "forbidden", "This call needs an admin token (of the admin scope).")
    return caller_


async def actor(request: Request, caller_: Annotated[Caller, Depends(caller)]) -> Actor:
    return actor_of(request, caller_)


async def admin_actor(request: Request, admin_: Annotated[Caller, Depends(admin)]) -> Actor:
    return actor_of(request, admin_)


CallerDep = Annotated[Caller, Depends(caller)]
ActorDep = Annotated[Actor, Depends(actor)]
AdminActorDep = Annotated[Actor, Depends(admin_actor)]

#: `Idempotency-Key`: the idempotency key of a send (or a source's message) whose body gives none.
IdempotencyKeyHeader = Annotated[Key | None, Header(alias="Idempotency-Key")]

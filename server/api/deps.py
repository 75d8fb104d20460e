"""What every handler needs: the service and the authenticated caller."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.accounts import Accounts
from server.api.client_address import client_address
from server.api.errors import ApiError
from server.audiences import Audiences
from server.audit import Actor
from server.service import Caller, Service

_bearer = HTTPBearer(
    auto_error=False, description="An API token from `traybell admin create-user`."
)


def _service(request: Request) -> Service:
    return request.app.state.service


async def service(request: Request) -> Service:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread hop
    # per request that cost a tenth of the send path's time under load.
    return _service(request)


async def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


async def audiences(request: Request) -> Audiences:
    return request.app.state.audiences


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "Send 'Authorization: Bearer <token>'.")
    found = await _service(request).authenticate(credentials.credentials)
    if found is None:
        raise ApiError(401, "unauthorized", "The token is not valid (revoked or mistyped).")
    return found


async def admin(caller_: Annotated[Caller, Depends(caller)]) -> Caller:
    if not caller_.is_admin:
        raise ApiError(403, "forbidden", "This call needs an admin token.")
    return caller_


def request_ip(request: Request) -> str | None:
    peer = request.client.host if request.client else None
    proxies = _service(request).settings.trusted_proxies
    return client_address(peer, request.headers.get("x-forwarded-for"), proxies)


def actor_of(request: Request, caller_: Caller) -> Actor:
    """Who the audit log names for this request."""
    return Actor.of(caller_, request_ip(request))


async def actor(request: Request, caller_: Annotated[Caller, Depends(caller)]) -> Actor:
    return actor_of(request, caller_)


async def admin_actor(request: Request, admin_: Annotated[Caller, Depends(admin)]) -> Actor:
    return actor_of(request, admin_)


async def anonymous_ip(request: Request) -> str | None:
    return request_ip(request)


ServiceDep = Annotated[Service, Depends(service)]
AccountsDep = Annotated[Accounts, Depends(accounts)]
AudiencesDep = Annotated[Audiences, Depends(audiences)]
CallerDep = Annotated[Caller, Depends(caller)]
AdminDep = Annotated[Caller, Depends(admin)]
ActorDep = Annotated[Actor, Depends(actor)]
AdminActorDep = Annotated[Actor, Depends(admin_actor)]
IpDep = Annotated[str | None, Depends(anonymous_ip)]

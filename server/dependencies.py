"""What both the API's handlers (server/api/) and the page handlers (server/web/) take from a
request: the service, the sign-in rules, and the client's address as the audit log names it.

How a caller proves who they are differs (a bearer token there, a session cookie here), so
that part stays in server/api/deps.py and server/web/session.py."""

from typing import Annotated

from fastapi import Depends, Request

from server.accounts import Accounts
from server.audiences import Audiences
from server.audit import Actor
from server.client_address import client_address
from server.identity import Caller
from server.integrations import Integrations
from server.service import Service


def service_of(request: Request) -> Service:
    return request.app.state.service


async def service(request: Request) -> Service:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread hop
    # per request that cost a tenth of the send path's time under load.
    return service_of(request)


async def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


async def audiences(request: Request) -> Audiences:
    return request.app.state.audiences


async def integrations(request: Request) -> Integrations:
    return request.app.state.integrations


def request_ip(request: Request) -> str | None:
    peer = request.client.host if request.client else None
    proxies = service_of(request).settings.trusted_proxies
    return client_address(peer, request.headers.get("x-forwarded-for"), proxies)


def actor_of(request: Request, caller: Caller) -> Actor:
    """Who the audit log names for this request."""
    return Actor.of(caller, request_ip(request))


async def anonymous_ip(request: Request) -> str | None:
    return request_ip(request)


ServiceDep = Annotated[Service, Depends(service)]
AccountsDep = Annotated[Accounts, Depends(accounts)]
AudiencesDep = Annotated[Audiences, Depends(audiences)]
IpDep = Annotated[str | None, Depends(anonymous_ip)]
IntegrationsDep = Annotated[Integrations, Depends(integrations)]

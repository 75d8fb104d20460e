"""One-click unsubscribe (RFC 8058) from the link and the List-Unsubscribe header of every email.

No session and no CSRF token: the link's token is the authority, and it can do nothing but turn
its user's email off. A GET never changes anything (mail scanners fetch links); the page's
button, or the mail client's one-click POST, does.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.dependencies import ServiceDep, request_ip
from server.web.rendering import render
from server.web.routing import PageRoute, csrf_exempt

router = APIRouter(prefix="/unsubscribe", route_class=PageRoute, include_in_schema=False)


@router.get("/{token}")
async def confirm(token: str, request: Request, service: ServiceDep) -> Response:
    user_id = await service.unsubscribe_user(token)
    return render(request, "unsubscribe.html", {"user_id": user_id, "done": False})


@router.post("/{token}")
@csrf_exempt
async def unsubscribe(token: str, request: Request, service: ServiceDep) -> Response:
    user_id = await service.unsubscribe(token, ip=request_ip(request))
    return render(request, "unsubscribe.html", {"user_id": user_id, "done": True})

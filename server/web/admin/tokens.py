"""API tokens: every token with its user, scope and last use (never the token), and a revoke
for each; what `traybell admin tokens list|revoke` does, for rotation (docs/DEPLOY.md)."""

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import Response

from server.dependencies import ServiceDep, actor_of
from server.errors import NotFound
from server.service import Service
from server.web.admin.area import area_router
from server.web.rendering import render
from server.web.session import AdminVisitorDep
from shared.i18n import Shown, lazy_gettext

router = area_router("/admin/tokens")

TOKENS_SHOWN = 200


async def _tokens_page(
    request: Request,
    service: Service,
    *,
    notice: Shown | None = None,
    errors: Sequence[Shown] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "notice": notice,
        "errors": errors or [],
        "tokens": await service.tokens(None, TOKENS_SHOWN),
    }
    return render(request, "admin/tokens.html", context, status)


@router.get("")
async def tokens_page(request: Request, _: AdminVisitorDep, service: ServiceDep) -> Response:
    return await _tokens_page(request, service)


@router.post("/{token_id}/revoke")
async def revoke_token(
    token_id: str, request: Request, visitor: AdminVisitorDep, service: ServiceDep
) -> Response:
    try:
        await service.revoke_token(token_id, actor_of(request, visitor.user))
    except NotFound:
        return await _tokens_page(
            request, service, errors=["That token no longer exists."], status=404
        )
    return await _tokens_page(request, service, notice=lazy_gettext("The token is revoked."))

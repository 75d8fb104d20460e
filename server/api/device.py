"""/v1/device: sign-in without a pasted token (RFC 8628). No token is needed for these calls:
the person approves on the /device page, and the client polls for its token."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from server.accounts import DeviceGrantRefused, Throttled
from server.api.errors import ApiError, error_response
from server.api.schemas import DeviceAuthorizeRequest, DeviceTokenRequest, ErrorReply
from server.dependencies import AccountsDep, IpDep
from shared.models import DeviceAuthorization, DeviceGrant

router = APIRouter(prefix="/v1/device", tags=["device sign-in"])


@router.post(
    "/authorize",
    response_model=DeviceAuthorization,
    responses={
        429: {"model": ErrorReply, "description": "Too many sign-ins started from this address"}
    },
)
async def authorize(
    request: DeviceAuthorizeRequest, accounts: AccountsDep, ip: IpDep
) -> DeviceAuthorization | JSONResponse:
    try:
        return await accounts.authorize_device(request.client_name, request.scope, ip=ip)
    except Throttled as exc:
        return error_response(
            429,
            "too_many_requests",
            f"Too many sign-ins started from this address; try again in {exc.retry_after} s.",
            headers={"Retry-After": str(exc.retry_after)},
        )


@router.post(
    "/token",
    response_model=DeviceGrant,
    responses={
        400: {
            "description": "No token (yet): `error.code` is authorization_pending, slow_down, "
            "access_denied, expired_token or invalid_grant"
        }
    },
)
async def token(request: DeviceTokenRequest, accounts: AccountsDep, ip: IpDep) -> DeviceGrant:
    try:
        grant = await accounts.poll_device(request.device_code, ip=ip)
    except DeviceGrantRefused as refused:
        raise ApiError(400, refused.code, refused.message) from None
    return grant

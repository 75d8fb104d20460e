"""/v1/device: sign-in without a pasted token (RFC 8628). No token is needed for these calls:
the person approves on the /device page, and the client polls for its token."""

import dataclasses

from fastapi import APIRouter

from server.accounts import DeviceGrantRefused
from server.api.errors import ApiError
from server.api.schemas import (
    DeviceAuthorization,
    DeviceAuthorizeRequest,
    DeviceTokenReply,
    DeviceTokenRequest,
)
from server.dependencies import AccountsDep, IpDep

router = APIRouter(prefix="/v1/device", tags=["device sign-in"])


@router.post("/authorize", response_model=DeviceAuthorization)
async def authorize(request: DeviceAuthorizeRequest, accounts: AccountsDep) -> dict:
    return dataclasses.asdict(await accounts.authorize_device(request.client_name))


@router.post(
    "/token",
    response_model=DeviceTokenReply,
    responses={
        400: {
            "description": "No token (yet): `error.code` is authorization_pending, slow_down, "
            "access_denied, expired_token or invalid_grant"
        }
    },
)
async def token(request: DeviceTokenRequest, accounts: AccountsDep, ip: IpDep) -> dict:
    try:
        grant = await accounts.poll_device(request.device_code, ip=ip)
    except DeviceGrantRefused as refused:
        raise ApiError(400, refused.code, refused.message) from None
    return dataclasses.asdict(grant)

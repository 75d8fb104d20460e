"""Request bodies over their limit are refused with 413 before they are read into memory.

Every endpoint takes 64 KiB, but a send (it may name 10,000 recipients, and ids of ordinary
length need more than that) and an Alertmanager payload (a group's alerts, all at once).
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.errors import ApiError, error_response

MAX_BODY_BYTES = 65_536
MAX_SEND_BODY_BYTES = 1_048_576

#: (method, path) -> its own limit; the rest have MAX_BODY_BYTES.
_LIMITS = {
    ("POST", "/v1/notifications"): MAX_SEND_BODY_BYTES,
    # one Alertmanager group: a storm of alerts in one payload
    ("POST", "/hooks/alertmanager"): MAX_SEND_BODY_BYTES,
}


def body_limit(scope: Scope) -> int:
    return _LIMITS.get((scope["method"], scope["path"]), MAX_BODY_BYTES)


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "body_too_large", f"The request body is over {limit} bytes.")


class BodySizeLimit:
    """Refuses a declared Content-Length over the limit at once, and stops reading a streamed
    body as soon as it passes the limit."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            too_large = BodyTooLarge(limit)
            await error_response(too_large.status, too_large.code, too_large.message)(
                scope, receive, send
            )
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)  # answered by the ApiError handler
            return message

        await self.app(scope, counting_receive, send)

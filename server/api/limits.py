"""Request bodies over 64 KiB are refused with 413 before they are read into memory."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.errors import ApiError, error_response

MAX_BODY_BYTES = 65_536


class BodyTooLarge(ApiError):
    def __init__(self) -> None:
        super().__init__(413, "body_too_large", f"The request body is over {MAX_BODY_BYTES} bytes.")


class BodySizeLimit:
    """Refuses a declared Content-Length over the limit at once, and stops reading a streamed
    body as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            too_large = BodyTooLarge()
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
                if seen > self.max_bytes:
                    raise BodyTooLarge  # answered by the ApiError handler
            return message

        await self.app(scope, counting_receive, send)

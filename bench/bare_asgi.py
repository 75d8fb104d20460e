"""The floor of an HTTP send: a bare ASGI endpoint that reads the same JSON body, parses it and
answers 201 with a small JSON reply, with no framework, validation or database behind it."""

import json
import uuid

from starlette.types import Receive, Scope, Send

_HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    status, reply = 200, {"status": "ok"}
    if scope["method"] == "POST":
        payload = json.loads(body)
        result = {"user_id": payload.get("user_id"), "id": str(uuid.uuid4()), "inserted": True}
        status, reply = 201, {"results": [result], "inserted": 1, "duplicates": 0}
    encoded = json.dumps(reply).encode()
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": encoded})

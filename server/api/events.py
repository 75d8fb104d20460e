"""/v1/events: the caller's changes as Server-Sent Events, the backlog first, then each change
as it commits (server/streams.py does the reading)."""

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from server.api.deps import CallerDep
from server.api.schemas import RESYNC_REQUIRED, SyncCursorText
from server.dependencies import ServiceDep
from server.streams import Hub, Stream

router = APIRouter(tags=["sync"])

_EVENT_STREAM = {
    "description": (
        "`text/event-stream`: events `sync` whose `id` is the cursor after them and whose data"
        " is a /v1/sync page (`changes`, `cursor`, `unread`), and a `: keepalive` comment at"
        " least every 20 s. It ends when the token is revoked, the user is disabled or the"
        " server stops; reconnect with `Last-Event-ID`."
    ),
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


class EventStreamResponse(Response):
    """Sends a hub stream's events until it ends or the client goes.

    Leaner than StreamingResponse, which holds a task group and two tasks per response for as
    long as it streams: here one task waits for the client to go, and the events are awaited
    where they are sent."""

    media_type = "text/event-stream"

    def __init__(self, hub: Hub, stream: Stream) -> None:
        # not Response.__init__, which would give it a body and a Content-Length
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.hub = hub
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.create_task(self._until_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            while (event := await self.stream.next_event()) is not None:
                await send(
                    {"type": "http.response.body", "body": event.encode(), "more_body": True}
                )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            self.hub.close(self.stream)

    async def _until_disconnect(self, receive: Receive) -> None:
        with contextlib.suppress(OSError):
            while (await receive())["type"] != "http.disconnect":
                pass
        self.stream.end()


async def _hub(request: Request) -> Hub:
    return request.app.state.streams


@router.get(
    "/v1/events",
    response_class=EventStreamResponse,
    status_code=200,  # (FastAPI would look for it in the response class's __init__)
    responses={200: _EVENT_STREAM, 410: RESYNC_REQUIRED},
)
async def events(
    hub: Annotated[Hub, Depends(_hub)],
    service: ServiceDep,
    caller: CallerDep,
    cursor: Annotated[SyncCursorText | None, Query()] = None,
    last_event_id: Annotated[
        SyncCursorText | None,
        Header(description="The id of the last event received; it wins over `cursor`."),
    ] = None,
) -> EventStreamResponse:
    """The caller's changes as they commit, for clients that want them at once; /v1/sync
    stays the truth."""
    start = last_event_id or cursor  # an empty Last-Event-ID: no event received yet
    stream = hub.open(caller, await service.sync_start(caller, start))
    return EventStreamResponse(hub, stream)

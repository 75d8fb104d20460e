"""/v1/events: the caller's changes as Server-Sent Events, the backlog first, then each change
as it commits (server/streams.py does the reading)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from server.api.deps import CallerDep
from server.api.schemas import SyncCursorText
from server.cursors import SyncCursor
from server.streams import Hub, Stream

router = APIRouter(tags=["sync"])

_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
_EVENT_STREAM = {
    "description": (
        "`text/event-stream`: events `sync` whose `id` is the cursor after them and whose data"
        " is a /v1/sync page (`changes`, `cursor`, `unread`), and a `: keepalive` comment at"
        " least every 20 s. It ends when the token is revoked, the user is disabled or the"
        " server stops; reconnect with `Last-Event-ID`."
    ),
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


async def _hub(request: Request) -> Hub:
    return request.app.state.streams


@router.get("/v1/events", response_class=StreamingResponse, responses={200: _EVENT_STREAM})
async def events(
    hub: Annotated[Hub, Depends(_hub)],
    caller: CallerDep,
    cursor: Annotated[SyncCursorText | None, Query()] = None,
    last_event_id: Annotated[
        SyncCursorText | None,
        Header(description="The id of the last event received; it wins over `cursor`."),
    ] = None,
) -> StreamingResponse:
    """The caller's changes as they commit, for clients that want them at once; /v1/sync
    stays the truth."""
    start = last_event_id or cursor  # an empty Last-Event-ID: no event received yet
    stream = hub.open(caller, SyncCursor.decode(start) if start is not None else SyncCursor())
    return StreamingResponse(_sent(hub, stream), media_type="text/event-stream", headers=_HEADERS)


async def _sent(hub: Hub, stream: Stream) -> AsyncIterator[str]:
    try:
        while (event := await stream.next_event(hub.keepalive_seconds)) is not None:
            yield event
    finally:
        hub.close(stream)

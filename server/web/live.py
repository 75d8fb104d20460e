"""The live web pages' stream: GET /events, the same events as /v1/events (server/streams.py
reads them), authenticated by the web session instead of a token.

It is capped per session (MAX_STREAMS_PER_SESSION) and ends when the session does: at sign-out
in this process at once (pages.logout), otherwise at the hub's next recheck (signed out
elsewhere, expired, user disabled). Without a session it answers 204, which tells a browser's
EventSource to stop reconnecting. The page's script (static/live.js) opens it from the cursor
the page was rendered at, so it misses nothing the page does not show."""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from server.api.events import EventStreamResponse
from server.dependencies import ServiceDep
from server.identity import hash_token
from server.streams import Hub
from server.web.session import session_caller_of

router = APIRouter(include_in_schema=False)

#: Streams one session may hold open in a server process (one per tab of the live pages), so
#: a runaway page cannot take the server's streams; past it a tab's page simply stays static.
MAX_STREAMS_PER_SESSION = 20


@router.get("/events")
async def page_events(
    request: Request,
    service: ServiceDep,
    cursor: str | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    found = await session_caller_of(request)
    if found is None:
        return Response(status_code=204)
    caller, session_id, _language = found
    hub: Hub = request.app.state.streams
    session_hash = hash_token(session_id)
    if hub.session_streams(caller.user_id, session_hash) >= MAX_STREAMS_PER_SESSION:
        return Response(status_code=429)  # an EventSource stops at any answer but 200
    position = await service.sync_start(caller, (last_event_id or cursor or "")[:200] or None)
    stream = hub.open(caller, position, session_hash=session_hash)
    return EventStreamResponse(hub, stream)


def end_session_streams(request: Request, session_id: str) -> None:
    """Sign-out: the session's pages stop following at once (in this process)."""
    hub: Hub = request.app.state.streams
    hub.end_session(hash_token(session_id))

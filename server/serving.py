"""uvicorn's server with one addition: the open event streams end when it begins to stop.

uvicorn waits for every open response before it stops, and an event stream never ends by
itself, so without this a SIGTERM would wait on every tray that is connected."""

from typing import Any

import uvicorn
from fastapi import FastAPI


class Server(uvicorn.Server):
    async def shutdown(self, sockets: Any = None) -> None:
        app = self.config.app
        if isinstance(app, FastAPI) and hasattr(app.state, "streams"):
            app.state.streams.end_all()
        await super().shutdown(sockets)


def serve(app: FastAPI, **config: Any) -> bool:
    """Serve `app` until SIGTERM or SIGINT, as `uvicorn.run`; False when it did not start."""
    server = Server(uvicorn.Config(app, **config))
    server.run()
    return server.started

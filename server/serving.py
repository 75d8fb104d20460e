"""uvicorn's server with one addition: the open event streams end when it begins to stop.

uvicorn waits for every open response before it stops, and an event stream never ends by
itself, so without this a SIGTERM would wait on every tray that is connected.

The listening socket is bound before anything else starts, so a port in use is one line and
its own exit status, not a "serving on" followed by uvicorn's failure."""

import errno
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

from server import exits


class Server(uvicorn.Server):
    async def shutdown(self, sockets: Any = None) -> None:
        app = self.config.app
        if isinstance(app, FastAPI) and hasattr(app.state, "streams"):
            app.state.streams.end_all()
        await super().shutdown(sockets)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (--host, --port); StartupFailure when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise exits.StartupFailure(f"--host {host}: cannot listen there ({exc})") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restarts at once
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise exits.StartupFailure(
                f"--port {port}: {host}:{port} is in use; stop what listens there or choose"
                " another --port",
                exits.PORT_IN_USE,
            ) from None
        raise exits.StartupFailure(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
        ) from None
    return sock


def serve(app: FastAPI, listening: socket.socket, **config: Any) -> bool:
    """Serve `app` on `listening` until SIGTERM or SIGINT, as `uvicorn.run`; False when it did
    not start."""
    server = Server(uvicorn.Config(app, **config))
    server.run(sockets=[listening])
    return server.started

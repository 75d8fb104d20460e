"""The stored sign-in: which server and token a client command uses, and keeping a new one.

Client commands (`traybell send`, `traybell tray --once`, `traybell login`) take the server
and the token from their flags, else `TRAYBELL_SERVER` / `TRAYBELL_TOKEN`, else the stored
sign-in: the server in the tray's own settings, its token in the keyring (or the user-only
file). `traybell login` and the tray's sign-in window store it the same way, so the command
line and the tray sign in once for both.
"""

import os
import socket
from dataclasses import dataclass

from desktop.platform import credentials
from desktop.settings import Settings

#: The server's limit for a client name.
CLIENT_NAME_MAX = 100


@dataclass(frozen=True)
class ClientSignIn:
    server_url: str
    #: None when neither a flag, the environment nor a stored sign-in gives one.
    token: str | None


def client_sign_in(
    server: str | None = None, token: str | None = None, settings: Settings | None = None
) -> ClientSignIn:
    """The server and token of a client command, in the order of the module's docstring."""
    server_url = client_server(server, settings)
    token = token or os.environ.get("TRAYBELL_TOKEN") or credentials.load_token(server_url)
    return ClientSignIn(server_url, token)


def client_server(server: str | None = None, settings: Settings | None = None) -> str:
    """The server half of `client_sign_in`: also where `traybell login` signs in."""
    settings = settings if settings is not None else Settings.load()
    server = server or os.environ.get("TRAYBELL_SERVER") or settings.effective("server_url")
    return server.rstrip("/")


def remember_server(settings: Settings, server_url: str) -> None:
    """A new sign-in's server becomes the tray's own choice (and is saved), so the tray and
    later commands use the server the token belongs to, whatever TRAYBELL_SERVER says then.
    Kept as a choice even when it equals IT's preset: a sign-in belongs to one server."""
    settings.server_url = server_url.rstrip("/")
    settings.save()


def default_client_name() -> str:
    """What the person approving sees, and later their list of devices shows."""
    return f"Traybell on {socket.gethostname() or 'this computer'}"[:CLIENT_NAME_MAX]

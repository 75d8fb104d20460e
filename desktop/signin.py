"""The stored sign-in: which server and token a client command uses, and keeping a new one.

Client commands (`traybell send`, `traybell tray --once`, `traybell login`) take the server
and the token from their flags, else `TRAYBELL_SERVER` / `TRAYBELL_TOKEN`, else the stored
sign-in: the server in the tray's own settings, its token in the keyring (or the user-only
file). A server IT locked in its preset file wins over `TRAYBELL_SERVER` and the settings
(locked means locked); only a `--server` flag, typed for one command, wins over it.
`traybell login` and the tray's sign-in window store it the same way, so the command line and
the tray sign in once for both.
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
    if server is None and not settings.locked("server_url"):
        server = os.environ.get("TRAYBELL_SERVER")
    return (server or settings.effective("server_url")).rstrip("/")


def remember_server(settings: Settings, server_url: str) -> None:
    """A new sign-in's server becomes the tray's server (and is saved), so the tray and later
    commands use the server the token belongs to, whatever TRAYBELL_SERVER says then. IT's
    preset server, as the user gets it anyway, is stored as no choice of theirs: when IT moves
    the preset to another server, the tray follows (and asks for a sign-in there)."""
    server_url = server_url.rstrip("/")
    preset = settings.presets.values.get("server_url")
    following_it = server_url == preset == settings.inherited("server_url")
    settings.server_url = None if following_it else server_url
    settings.save()


def default_client_name() -> str:
    """What the person approving sees, and later their list of devices shows."""
    return f"Traybell on {socket.gethostname() or 'this computer'}"[:CLIENT_NAME_MAX]

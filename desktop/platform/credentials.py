"""The sign-in token: in the OS keyring, else in a file only this user can read.

Plain settings files are copied into backups and support tickets; a token there is a leak
waiting to happen, so the keyring comes first and the settings dialog names the fallback.

A server's token is kept in one of the two places, never both, so reading looks in the file
first: where the sign-in went to the file (a system without a keyring), the tray starts
without loading keyring at all, whose backend discovery costs up to 20 MiB and 0.2 s (on
Linux it imports secretstorage and cryptography to find out there is no Secret Service).
"""

import contextlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared.i18n import gettext as _
from shared.paths import traybell_home

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger("traybell.desktop.credentials")

SERVICE = "traybell"


@dataclass(frozen=True)
class TokenStore:
    """Where tokens go on this machine; `description` is what the settings dialog shows."""

    uses_keyring: bool
    description: str


def _fallback_path() -> Path:
    return traybell_home() / "token"


def _keyring() -> "ModuleType":
    """keyring, imported on first use: it and its backends cost about 3 MiB, and a start-up
    with a token given (or no sign-in yet) never asks it anything."""
    import keyring
    import keyring.errors

    return keyring


def _keyring_usable() -> bool:
    from keyring.backends import fail, null

    backend = _keyring().get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    # The chainer with nothing behind it is the "no backend" case on a bare Linux box.
    backends = getattr(backend, "backends", None)
    return backends is None or bool(backends)


def token_store() -> TokenStore:
    if _keyring_usable():
        name = type(_keyring().get_keyring()).__module__.rsplit(".", 1)[-1]
        return TokenStore(True, _("the system keyring (%(name)s)", name=name))
    return TokenStore(
        False,
        _(
            "a file only you can read (%(path)s), because this system has no keyring",
            path=_fallback_path(),
        ),
    )


def load_token(server_url: str) -> str | None:
    server_url = _server_key(server_url)
    in_file = _read_file().get(server_url)
    if in_file is not None:
        return in_file
    if _keyring_usable():
        keyring = _keyring()
        try:
            return keyring.get_password(SERVICE, server_url)
        except keyring.errors.KeyringError as exc:
            log.warning("keyring unavailable: %s", exc)
    return None


def store_token(server_url: str, token: str) -> TokenStore:
    server_url = _server_key(server_url)
    if _keyring_usable():
        keyring = _keyring()
        try:
            keyring.set_password(SERVICE, server_url, token)
            _forget_in_file(server_url)  # one place only: a file copy would be read first
            return token_store()
        except keyring.errors.KeyringError as exc:
            log.warning("keyring refused the token, using the token file: %s", exc)
    tokens = _read_file() | {server_url: token}
    _write_file(tokens)
    return TokenStore(False, _("a file only you can read (%(path)s)", path=_fallback_path()))


def forget_token(server_url: str) -> None:
    server_url = _server_key(server_url)
    if _keyring_usable():
        keyring = _keyring()
        # Nothing stored there is the state we want.
        with contextlib.suppress(keyring.errors.KeyringError):
            keyring.delete_password(SERVICE, server_url)
    _forget_in_file(server_url)


def _forget_in_file(server_url: str) -> None:
    tokens = _read_file()
    if tokens.pop(server_url, None) is not None:
        _write_file(tokens)


def _server_key(server_url: str) -> str:
    """Tokens are kept per server; `http://host/` and `http://host` are the same one."""
    return server_url.rstrip("/")


def _read_file() -> dict[str, str]:
    path = _fallback_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    tokens = {}
    for line in lines:
        url, sep, token = line.rpartition(" ")
        if sep:
            tokens[url] = token
    return tokens


def _write_file(tokens: dict[str, str]) -> None:
    path = _fallback_path()
    tmp = path.with_suffix(".tmp")
    # Created 0600 from the start: no moment in which another user could open it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(f"{url} {token}\n" for url, token in tokens.items())
    os.replace(tmp, path)

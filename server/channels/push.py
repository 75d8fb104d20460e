"""Push through Apprise: each of the user's push URLs (ntfy, Gotify, Slack, json://, ...).

Before a send, every URL is checked against the push-target rule (channels/push_targets.py):
its plugin must reach a network host, and every address of its host must be allowed. Apprise
takes URLs, not addresses, so it resolves them again itself; a name that changed its answer in
between (DNS rebinding), a redirect, or an address a plugin finds elsewhere (say
`mailto://...?smtp=10.0.0.1`) would slip past that first check. So while Apprise sends, every
connection it opens through Python's sockets is checked again, at the moment of connecting,
with the address actually dialled (an audit hook on `socket.connect`/`sendto`); a socket handed
a host name instead of an address is refused, since it would resolve the name after the check.
What this does not cover: traffic that bypasses Python's socket layer (a plugin's own C
library; the plugins known to act on this machine are refused outright), and, behind an HTTP
proxy, the proxy's own lookup of the target (the proxy must then be listed in
TRAYBELL_PUSH_ALLOWED_HOSTS, and the target is checked only before the send).
"""

import contextvars
import logging
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import apprise

from server.channels import push_targets
from server.channels.message import Envelope, PermanentError, TransientError
from server.channels.push_targets import Address, AllowedHosts, PushTargetRefused

log = logging.getLogger("traybell.worker.push")

NOTIFY_TYPES = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "critical": apprise.NotifyType.FAILURE,
}


def _scheme(url: str) -> str:
    # Push URLs embed tokens and passwords: only the scheme ever reaches a log or last_error.
    return urlsplit(url).scheme or "?"


@dataclass
class _ConnectionCheck:
    """The rule for every connection opened while one push is sent; what it refused."""

    allowed: AllowedHosts
    refused: list[str] = field(default_factory=list)
    _listed: set[Address] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, address: Any) -> None:
        if not (isinstance(address, tuple) and address and isinstance(address[0], str)):
            self._refuse(f"a local socket ({type(address).__name__} address)")
        candidate = push_targets.literal_address(address[0])
        if candidate is None:
            # The C library would resolve the name as it connects, after any check made here.
            self._refuse("a host name the socket would resolve itself")
        elif not (self.allowed.allows_address(candidate) or candidate in self._listed_now()):
            self._refuse(f"{candidate}, which is not a public address")

    def _listed_now(self) -> set[Address]:
        """The addresses of the hosts allowed by name (looked up once per send, when needed)."""
        with self._lock:
            if self._listed is None:
                self._listed = {a for name in self.allowed.names for a in self._resolve(name)}
            return self._listed

    @staticmethod
    def _resolve(host: str) -> list[Address]:
        name = push_targets.dns_name(host)
        try:
            return push_targets.addresses_from(socket.getaddrinfo(name, None)) if name else []
        except OSError:
            return []

    def _refuse(self, what: str) -> None:
        reason = f"refused to connect to {what}"
        self.refused.append(reason)
        # An OSError, so that HTTP clients treat it as a failed connection (and try the name's
        # next address, if it has one).
        raise PermissionError(reason)


_current_check: contextvars.ContextVar[_ConnectionCheck | None] = contextvars.ContextVar(
    "traybell_push_connection_check", default=None
)
_CONNECTING = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _CONNECTING:
        return
    check = _current_check.get()
    # args: (socket, address); sendmsg on a connected socket has no address (checked at connect)
    if check is not None and args[1] is not None:
        check.check(args[1])


# Process-wide, but it acts only inside a push send: Apprise runs each plugin in a thread or
# task with a copy of the caller's context, so the check follows the send and nothing else.
sys.addaudithook(_audit)


class PushTransport:
    def __init__(self, allowed_hosts: AllowedHosts):
        self.allowed_hosts = allowed_hosts

    async def send(self, envelope: Envelope) -> None:
        try:
            await push_targets.check_urls(envelope.recipients, self.allowed_hosts)
        except PushTargetRefused as exc:
            raise PermanentError(f"push URL not allowed: {exc}") from None
        targets = apprise.Apprise()
        rejected = [url for url in envelope.recipients if not targets.add(url)]
        if rejected:
            log.warning(
                "delivery %s: Apprise does not understand %d push URL(s) (%s)",
                envelope.delivery_id,
                len(rejected),
                ", ".join(_scheme(url) + "://" for url in rejected),
            )
        if len(targets) == 0:
            raise PermanentError("none of the user's push URLs is understood by Apprise")
        message = envelope.message
        check = _ConnectionCheck(self.allowed_hosts)
        token = _current_check.set(check)
        try:
            ok = await targets.async_notify(
                title=message.subject,
                body=message.text,
                body_format=apprise.NotifyFormat.TEXT,
                notify_type=NOTIFY_TYPES.get(message.severity, apprise.NotifyType.INFO),
            )
        finally:
            _current_check.reset(token)
        if not ok and check.refused:
            raise PermanentError(f"push URL not allowed: {check.refused[0]}")
        # Apprise says only "not every target took it"; the retry sends to all of them again,
        # so a target that took it may see it twice, which beats one that never does.
        if not ok:
            raise TransientError("Apprise could not deliver to every push URL")

    async def close(self) -> None:
        """Nothing to let go: each push opens its own connections."""

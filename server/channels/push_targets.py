"""Where a push URL may lead: the contract's rule for push targets, in one place.

A push may only go through an Apprise plugin that reaches a network host (not one that acts on
the server's own machine: syslog, D-Bus, desktop toasts, USB lights), and only to a host whose
every address is globally routable, unless its name, or the address's network, is listed in
TRAYBELL_PUSH_ALLOWED_HOSTS (an internal ntfy or Gotify). The API applies the rule when
preferences are saved; the worker applies it again when it sends (channels/push.py), because a
name may resolve differently by then.
"""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Prefixes whose addresses embed an IPv4 address in their last 32 bits and lead where that one
#: does: NAT64's well-known prefix (RFC 6052), its local-use prefix (RFC 8215, at the /96
#: length a translator uses it with) and SIIT's IPv4-translated form (RFC 2765).
_EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
#: Apprise schemes whose plugins act on the machine that sends (the worker's), not on a
#: network host: the system log, D-Bus and desktop notifications, a USB light. `rsyslog`
#: reaches a host, but resolves its name itself when it sends, after the check, so the
#: address it sends to would be unchecked.
ON_THIS_MACHINE = frozenset(
    {"syslog", "rsyslog", "dbus", "kde", "qt", "glib", "gio", "gnome", "windows", "macosx"}
    | {"blink1"}
)
_HOST_NAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?", re.I)
#: How long a check waits for a name to resolve before taking it as one that does not yet.
RESOLVE_TIMEOUT_SECONDS = 5.0


class PushTargetRefused(ValueError):
    """A push URL leads where the rule forbids. The message names the host and the address,
    never the URL: push URLs carry tokens and passwords."""


def _normal_name(host: str) -> str:
    return host.rstrip(".").lower()


def _unwrapped(address: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, SIIT, 6to4), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if any(address in prefix for prefix in _EMBEDDING_IPV4):
            return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def is_public(address: Address) -> bool:
    """Globally routable: not loopback, private, link-local, unique-local, unspecified,
    shared (CGNAT), reserved or multicast."""
    address = _unwrapped(address)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class AllowedHosts:
    """TRAYBELL_PUSH_ALLOWED_HOSTS: names, addresses and networks a push may reach although
    they are not public."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "AllowedHosts":
        """From a comma-separated list; ValueError names an entry that is none of the three."""
        names: set[str] = set()
        networks: list[Network] = []
        for entry in filter(None, (part.strip() for part in text.split(","))):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not _HOST_NAME.fullmatch(entry):
                    raise ValueError(
                        f"{entry!r} is not a host name, an address or a network (CIDR)"
                    ) from None
                names.add(_normal_name(entry))
        return cls(frozenset(names), tuple(networks))

    def __str__(self) -> str:
        return ",".join([*sorted(self.names), *(str(network) for network in self.networks)])

    def allows_name(self, host: str) -> bool:
        return _normal_name(host) in self.names

    def allows_address(self, address: Address) -> bool:
        address = _unwrapped(address)
        return is_public(address) or any(address in network for network in self.networks)


def refusal(host: str, addresses: Iterable[Address], allowed: AllowedHosts) -> str | None:
    """Why `host`, resolving to `addresses`, may not be reached; None when it may."""
    if allowed.allows_name(host):
        return None
    for address in addresses:
        if not allowed.allows_address(address):
            where = f"{host} resolves to {address}" if host != str(address) else host
            return f"{where}, which is not a public address"
    return None


def url_host(url: str) -> str | None:
    """The host a push URL names, if it names one."""
    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def addresses_from(infos: Iterable[tuple]) -> list[Address]:
    """The addresses of a getaddrinfo answer, without duplicates, in order."""
    found: dict[Address, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        if address := literal_address(str(sockaddr[0])):
            found[address] = None
    return list(found)


def dns_name(host: str) -> str | None:
    """`host` as DNS would be asked for it (IDNA), or None when it is no host name at all."""
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return name if _HOST_NAME.fullmatch(name) else None


async def resolve(host: str) -> list[Address]:
    """Every address `host` resolves to now; none when it does not resolve (yet)."""
    if address := literal_address(host):
        return [address]
    name = dns_name(host)
    if name is None:
        return []
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        # Unknown (or not answering) now: a name may be registered later, and whoever sends
        # checks it again then.
        return []
    return addresses_from(infos)


def url_scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


async def check_urls(urls: Sequence[str], allowed: AllowedHosts) -> None:
    """Raise PushTargetRefused for the first URL of a plugin that acts on this machine, or
    whose host resolves where it may not lead."""
    for index, url in enumerate(urls):
        if url_scheme(url) in ON_THIS_MACHINE:
            raise PushTargetRefused(
                f"push_urls[{index}]: {url_scheme(url)}:// acts on the server's own machine, "
                "not on a network host"
            )
    hosts = [url_host(url) for url in urls]
    resolved = await asyncio.gather(*(resolve(host) for host in hosts if host))
    by_host = dict(zip([host for host in hosts if host], resolved, strict=True))
    for index, host in enumerate(hosts):
        reason = host and refusal(host, by_host[host], allowed)
        if reason:
            raise PushTargetRefused(f"push_urls[{index}]: {reason}")

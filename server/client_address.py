"""The client's address as the audit log records it."""

import ipaddress
from collections.abc import Sequence

from server.config import IPNetwork


def _trusted(address: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or any(ip in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: Sequence[IPNetwork]
) -> str | None:
    """The peer's address, or, when the peer is a trusted proxy (loopback or in `proxies`), the
    nearest address in X-Forwarded-For that is not one: entries further left are the client's
    own claims and could be anything."""
    if peer is None or not forwarded_for or not _trusted(peer, proxies):
        return _valid(peer)
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not _trusted(hop, proxies):
            return _valid(hop)
    return _valid(peer)


def _valid(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None

"""The client's address in the audit log: X-Forwarded-For is believed only from loopback or a
configured proxy, and then only its nearest hop that is not a proxy."""

import ipaddress

from server.client_address import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def test_forwarded_for_from_a_stranger_is_ignored():
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_forwarded_for_from_loopback_or_a_configured_proxy_gives_the_nearest_client():
    assert client_address("127.0.0.1", "198.51.100.1", ()) == "198.51.100.1"
    assert client_address("10.1.2.3", "6.6.6.6, 198.51.100.1, 10.4.4.4", PROXIES) == (
        "198.51.100.1"
    )
    assert client_address("::1", "2001:db8::5", ()) == "2001:db8::5"


def test_an_unreadable_hop_is_no_address():
    assert client_address("127.0.0.1", "not-an-address", ()) is None
    assert client_address("127.0.0.1", "", ()) == "127.0.0.1"

"""Push targets: push URLs may only reach public addresses, unless the operator lists the host
or its network in TRAYBELL_PUSH_ALLOWED_HOSTS; refused when preferences are saved."""

import ipaddress

import pytest

from server.channels.push_targets import AllowedHosts, refusal
from server.config import ConfigError, Settings
from tests.support.live import LiveServer
from tests.support.live import test_settings as server_settings

NOT_PUBLIC = [
    "169.254.169.254",  # link-local: the cloud metadata service
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.1",
    "fc00::1",  # unique-local
    "fe80::1",
    "0.0.0.0",
    "::",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "224.0.0.1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
]


@pytest.fixture
def strict_server(database_url):
    """A server with the contract's default: no host allowed beyond the public ones."""
    server = LiveServer(database_url, server_settings(push_allowed_hosts=AllowedHosts()))
    yield server
    server.stop()


def _url(host: str) -> str:
    return f"json://[{host}]:9/hook" if ":" in host else f"json://{host}:9/hook"


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_that_are_not_public_are_refused(address):
    """Loopback, private, link-local, unique-local, unspecified (and what embeds them) are not
    push targets unless listed."""
    assert refusal(address, [ipaddress.ip_address(address)], AllowedHosts()) is not None


def test_public_addresses_are_allowed_and_a_name_is_judged_by_every_address():
    """A host may be reached when each address it resolves to is public; one private address
    among them is enough to refuse it."""
    public = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("2606:2800:220:1::1")]
    assert refusal("push.example.com", public, AllowedHosts()) is None
    mixed = [*public, ipaddress.ip_address("10.0.0.7")]
    reason = refusal("push.example.com", mixed, AllowedHosts())
    assert reason == "push.example.com resolves to 10.0.0.7, which is not a public address"


def test_allowed_hosts_by_name_address_and_network():
    """TRAYBELL_PUSH_ALLOWED_HOSTS lists names (any address they resolve to), addresses and
    networks (CIDR); anything else that is not public stays refused."""
    allowed = AllowedHosts.parse(" ntfy.corp.example. , 10.0.0.0/8,fd00::5,,192.168.7.7")
    intranet = [ipaddress.ip_address("172.20.0.4")]
    assert refusal("NTFY.corp.example", intranet, allowed) is None
    assert refusal("gotify.corp.example", intranet, allowed) is not None
    for inside in ("10.200.0.1", "fd00::5", "192.168.7.7", "::ffff:10.0.0.1"):
        assert refusal(inside, [ipaddress.ip_address(inside)], allowed) is None, inside
    for outside in ("172.16.0.1", "192.168.7.8", "fd00::6", "127.0.0.1"):
        assert refusal(outside, [ipaddress.ip_address(outside)], allowed) is not None, outside


def test_an_allowed_hosts_entry_that_is_no_host_stops_the_server_from_starting(monkeypatch):
    """A malformed entry is a configuration error naming it, read once at start."""
    monkeypatch.setenv("TRAYBELL_PUSH_ALLOWED_HOSTS", "ntfy.corp, http://10.0.0.1/")
    with pytest.raises(ConfigError, match=r"TRAYBELL_PUSH_ALLOWED_HOSTS: 'http://10.0.0.1/'"):
        Settings.from_env()
    monkeypatch.setenv("TRAYBELL_PUSH_ALLOWED_HOSTS", "ntfy.corp, 10.0.0.0/8")
    assert str(Settings.from_env().push_allowed_hosts) == "ntfy.corp,10.0.0.0/8"


@pytest.mark.parametrize("host", ["169.254.169.254", "127.0.0.1", "::1", "10.0.0.1", "fc00::1"])
def test_saving_a_push_url_that_is_not_public_is_422(strict_server, host):
    """Preferences refuse such a push URL with push_url_not_allowed and change nothing."""
    _, token = strict_server.create_user()
    with strict_server.client(token) as client:
        before = client.get("/v1/preferences").json()
        reply = client.patch("/v1/preferences", json={"push_urls": [_url(host)]})
        assert reply.status_code == 422, reply.text
        error = reply.json()["error"]
        assert error["code"] == "push_url_not_allowed"
        assert host in error["message"] and "hook" not in error["message"]
        assert client.get("/v1/preferences").json() == before


@pytest.mark.parametrize(
    "url", ["json://0.0.0.0:9/x", "ntfys://localhost/topic", "json://2130706433/x"]
)
def test_saving_a_name_that_resolves_to_loopback_is_422(strict_server, url):
    """A name is judged by what it resolves to: `localhost`, `0.0.0.0` and the decimal form
    of 127.0.0.1 all lead to this very machine."""
    _, token = strict_server.create_user()
    with strict_server.client(token) as client:
        reply = client.patch("/v1/preferences", json={"push_urls": ["ntfy://topic", url]})
        assert reply.status_code == 422, reply.text
        assert reply.json()["error"]["code"] == "push_url_not_allowed"
        assert reply.json()["error"]["message"].startswith("push_urls[1]: ")


def test_a_name_that_does_not_resolve_yet_is_accepted(strict_server):
    """A host not registered yet (here a name under .invalid, which never resolves), the tokens
    Slack-style URLs carry where a host would be, and what is no host name at all are
    accepted; the worker checks again when it sends."""
    _, token = strict_server.create_user()
    urls = [
        "ntfys://push.not-registered-yet.invalid/alerts",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIia",
        "json://a..b/no-host-name-at-all",
    ]
    with strict_server.client(token) as client:
        reply = client.patch("/v1/preferences", json={"push_urls": urls, "push_enabled": True})
        assert reply.status_code == 200, reply.text
        assert reply.json()["push_urls"] == urls


def test_listed_hosts_may_be_saved(database_url):
    """An internal push server listed by name or network may be saved; its neighbours not."""
    allowed = AllowedHosts.parse("localhost,10.0.0.0/8")
    server = LiveServer(database_url, server_settings(push_allowed_hosts=allowed))
    try:
        _, token = server.create_user()
        with server.client(token) as client:
            urls = ["json://localhost:9/hook", "gotify://10.20.30.40/token"]
            reply = client.patch("/v1/preferences", json={"push_urls": urls})
            assert reply.status_code == 200, reply.text
            for refused in ("json://127.0.0.1:9/hook", "json://192.168.0.1/hook"):
                reply = client.patch("/v1/preferences", json={"push_urls": [refused]})
                assert reply.json()["error"]["code"] == "push_url_not_allowed", refused
    finally:
        server.stop()

"""The Qt-free sign-in layer against a real server: device sign-in's polling, a pasted token's
check, signing out, and which server and token a client command uses."""

import threading
from collections.abc import Callable

import pytest

from desktop.platform import credentials
from desktop.settings import Settings
from desktop.signin import client_sign_in
from desktop.sync import (
    DeviceSignIn,
    SignInCancelled,
    SignInDenied,
    SignInError,
    SyncEngine,
    check_token,
)
from tests.support.live import LiveServer
from tests.support.login import decide, person
from tests.support.pg import free_port


class FastForward(threading.Event):
    """A cancel Event whose waits return at once (time moves on without sleeping). It records
    each wait's length, and runs an action as the n-th wait ends, so the poll right after it
    sees what the action did (a person approving in the browser, a cancel in flight)."""

    def __init__(self, at_wait: dict[int, Callable[["FastForward"], None]] | None = None):
        super().__init__()
        self.waits: list[float] = []
        self._at_wait = at_wait or {}

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0)
        cancelled = self.is_set()
        action = self._at_wait.get(len(self.waits))
        if action is not None:
            action(self)
        return cancelled


@pytest.fixture
def sign_in(live_server: LiveServer):
    flows: list[DeviceSignIn] = []

    def start(name: str = "Traybell on test-box") -> DeviceSignIn:
        flows.append(DeviceSignIn(live_server.url, name))
        flows[-1].start()
        return flows[-1]

    yield start
    for flow in flows:
        flow.close()


def test_polling_honours_the_interval_and_slow_down_adds_five_seconds(live_server, sign_in):
    """Rule: the client waits the server's interval before each poll; a slow_down answer adds
    5 s to every later wait; the approved sign-in gives the token, its id and the user."""
    user = person(live_server)
    flow = sign_in()
    assert flow.code is not None and flow.code.interval == 5
    # Waits that return at once make the second poll come too soon for the server.
    clock = FastForward({3: lambda _: decide(live_server, user, flow.code.user_code)})
    signed_in = flow.wait(clock)
    assert clock.waits == [5, 5, 10]  # pending, then slow_down, then the token
    assert signed_in.user_id == user and signed_in.server_url == live_server.url
    assert check_token(live_server.url, signed_in.token).token_id == signed_in.token_id


def test_denied_raises_and_cancel_ends_the_wait(live_server, sign_in):
    """Rule: access_denied ends the wait with SignInDenied; a set Event ends it at once."""
    user = person(live_server)
    denied = sign_in()

    def deny(_: FastForward) -> None:
        decide(live_server, user, denied.code.user_code, "deny")

    with pytest.raises(SignInDenied):
        denied.wait(FastForward({1: deny}))
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(SignInCancelled):
        sign_in().wait(cancelled)


def test_a_token_issued_while_cancelling_is_revoked(live_server, sign_in):
    """Rule: when the poll that brings the token was in flight as the wait was cancelled,
    nobody keeps that token, so it is revoked at once, not left working on the server."""
    user = person(live_server)
    flow = sign_in()

    def approve_then_cancel(clock: FastForward) -> None:
        decide(live_server, user, flow.code.user_code)
        clock.set()  # while the next poll is on its way

    with pytest.raises(SignInCancelled):
        flow.wait(FastForward({1: approve_then_cancel}))
    assert _device_tokens(live_server, user) == []


def _device_tokens(live_server: LiveServer, user_id: str) -> list[dict]:
    """The user's device tokens, as their settings page lists them (asked with a new API
    token of theirs)."""
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.post(f"/v1/admin/users/{user_id}/tokens")
        reply.raise_for_status()
    with live_server.client(reply.json()["token"]) as own:
        tokens = own.get("/v1/me/tokens").json()["tokens"]
    return [t for t in tokens if t["kind"] == "device"]


def test_a_pasted_token_is_checked_with_the_server(live_server):
    """Rule: a pasted token is taken only when the server accepts it; a wrong one and an
    unreachable server are SignInErrors with a message for people."""
    user, token = live_server.create_user()
    assert check_token(live_server.url + "/", token).user_id == user
    with pytest.raises(SignInError, match="does not accept"):
        check_token(live_server.url, "tb_wrong")
    with pytest.raises(SignInError, match="Cannot reach"):
        check_token(f"http://127.0.0.1:{free_port()}", token)


def test_sign_out_revokes_the_own_token_and_empties_the_cache(live_server, tmp_path):
    """Rule: signing out revokes the engine's own token on the server (found with GET /v1/me)
    and empties the cache; with the server away it still empties the cache and says the
    token was not revoked."""
    user, token = live_server.create_user()
    live_server.send(user, title="Seen by the last person")
    engine = SyncEngine(live_server.url, token, tmp_path / "cache.sqlite3")
    assert engine.sync().unread == 1
    assert engine.sign_out() is True
    assert engine.notifications() == [] and engine.unread_count() == 0
    with live_server.client(token) as revoked:
        assert revoked.get("/v1/me").status_code == 401
    engine.close()

    _, other_token = live_server.create_user()
    engine = SyncEngine(live_server.url, other_token, tmp_path / "cache.sqlite3")
    assert engine.sync().online
    live_server.stop()
    assert engine.sign_out() is False
    assert engine.notifications() == []
    engine.close()


def test_client_commands_take_flags_then_the_environment_then_the_stored_sign_in(
    live_server, monkeypatch
):
    """Rule: the server and token of a client command come from the flags, else
    TRAYBELL_SERVER / TRAYBELL_TOKEN, else the stored sign-in (the tray's server, its token
    in the keyring or the user-only file)."""
    settings = Settings.load()
    settings.server_url = "http://stored.example"
    settings.save()
    credentials.store_token("http://stored.example", "tb_stored")
    credentials.store_token("http://env.example/", "tb_env_server_stored")
    assert client_sign_in() == client_sign_in(settings=Settings.load())
    assert client_sign_in().server_url == "http://stored.example"
    assert client_sign_in().token == "tb_stored"
    monkeypatch.setenv("TRAYBELL_SERVER", "http://env.example/")
    assert client_sign_in().server_url == "http://env.example"
    assert client_sign_in().token == "tb_env_server_stored"
    monkeypatch.setenv("TRAYBELL_TOKEN", "tb_env")
    assert client_sign_in().token == "tb_env"
    flagged = client_sign_in("http://flag.example", "tb_flag")
    assert (flagged.server_url, flagged.token) == ("http://flag.example", "tb_flag")
    monkeypatch.delenv("TRAYBELL_TOKEN")
    assert client_sign_in("http://unknown.example").token is None

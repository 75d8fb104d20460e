"""Fixtures of the web page tests: browsers (cookie jars) and people with passwords."""

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.live import LiveServer
from tests.support.web import WebClient, set_password_directly

PASSWORD = "correct horse battery"


@pytest.fixture
def browser(live_server: LiveServer) -> Iterator[Callable[[], WebClient]]:
    """Opens a new browser (its own cookies) against the live server."""
    opened: list[WebClient] = []

    def open_browser() -> WebClient:
        opened.append(WebClient(live_server))
        return opened[-1]

    yield open_browser
    for client in opened:
        client.close()


@pytest.fixture
def person(live_server: LiveServer, database_url: str) -> Callable[..., tuple[str, str]]:
    """Creates a user with the password PASSWORD; returns (user_id, API token)."""

    def make(admin: bool = False, **preferences) -> tuple[str, str]:
        user_id, token = live_server.create_user(
            "person-" + uuid.uuid4().hex[:8], admin=admin, **preferences
        )
        set_password_directly(database_url, user_id, PASSWORD)
        return user_id, token

    return make

"""Fixtures of the web page tests: browsers (cookie jars) and people with passwords."""

from collections.abc import Callable, Iterator

import pytest

from tests.support.live import LiveServer
from tests.support.web import WebClient, create_person


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
def person(live_server: LiveServer) -> Callable[..., tuple[str, str]]:
    """Creates a user with the password PASSWORD; returns (user_id, API token)."""

    def make(admin: bool = False, **preferences) -> tuple[str, str]:
        return create_person(live_server, admin=admin, **preferences)

    return make

"""One table of domain errors (DOMAIN_ERRORS in server/api/errors.py), answered with a page
when a page route raised it and with the API's JSON body when an API route did."""

import asyncio

import asyncpg
import httpx
import pytest
from fastapi import APIRouter

from server.accounts import PasswordSignInOff, UserDisabled
from server.api.errors import DOMAIN_ERRORS
from server.app import create_app
from server.channels.push_targets import PushTargetRefused
from server.cursors import InvalidCursor, ResyncRequired
from server.db import UNAVAILABLE_ERRORS
from server.errors import (
    ClosedTopic,
    Conflict,
    NotFound,
    UnknownAddresses,
    UnknownUsers,
    Unprocessable,
)
from server.oidc import ProviderUnavailable, SignInRejected
from server.sending import SendsClosed
from server.web.routing import NOT_FOUND_MESSAGE, PageRoute
from tests.support.live import test_settings as settings_for_tests

#: One error of each class the table lists (a new entry needs one here).
EXAMPLES: dict[type[BaseException], BaseException] = {
    InvalidCursor: InvalidCursor("it is damaged"),
    ResyncRequired: ResyncRequired(),
    NotFound: NotFound("no such notification"),
    Conflict: Conflict("the delivery is not failed"),
    UnknownUsers: UnknownUsers(["ghost-1", "ghost-2"]),
    UnknownAddresses: UnknownAddresses(["team:ghosts", "topic:nowhere"]),
    ClosedTopic: ClosedTopic("only admins subscribe people to deploys"),
    Unprocessable: Unprocessable("the time is more than a year ahead"),
    PushTargetRefused: PushTargetRefused("localhost leads to 127.0.0.1"),
    SendsClosed: SendsClosed(),
    ProviderUnavailable: ProviderUnavailable("http://127.0.0.1:9/.well-known: refused"),
    SignInRejected: SignInRejected("the ID token: invalid nonce"),
    UserDisabled: UserDisabled(),
    PasswordSignInOff: PasswordSignInOff(),
    asyncpg.DataError: asyncpg.DataError("invalid input value"),
    **{kind: kind("the database went away") for kind in UNAVAILABLE_ERRORS},
    asyncpg.PostgresConnectionError: asyncpg.PostgresConnectionError("connection lost"),
    Exception: RuntimeError("a bug"),
}
NAMES = [kind.__name__ for kind in EXAMPLES]


def _app_that_raises():
    """The real app (its error handlers, its page routes' class), with one page route and one
    API route that raise the example named in the path."""
    app = create_app("postgresql://unused", settings_for_tests())
    pages = APIRouter(route_class=PageRoute)
    api = APIRouter()

    @pages.get("/raise/{name}")
    async def page_that_raises(name: str) -> None:
        raise EXAMPLES[next(kind for kind in EXAMPLES if kind.__name__ == name)]

    @api.get("/v1/raise/{name}")
    async def api_that_raises(name: str) -> None:
        raise EXAMPLES[next(kind for kind in EXAMPLES if kind.__name__ == name)]

    app.include_router(pages)
    app.include_router(api)
    return app


def _get_both(name: str) -> tuple[httpx.Response, httpx.Response]:
    async def get() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=_app_that_raises(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(f"/raise/{name}"), await client.get(f"/v1/raise/{name}")

    return asyncio.run(get())


def test_every_entry_of_the_table_has_an_example():
    """The test below covers the whole table: a new domain error comes with an example."""
    assert set(EXAMPLES) == set(DOMAIN_ERRORS)


@pytest.mark.parametrize("name", NAMES)
def test_each_domain_error_is_a_page_for_a_page_route_and_json_for_the_api(name):
    """The same error, raised by a page route and by an API route: the page is HTML with the
    same status and the API's message for people (a 404 says only that there is nothing here
    for you); the API keeps its JSON body. Only a bug is a 500."""
    page, api = _get_both(name)
    error = api.json()["error"]
    assert page.status_code == api.status_code
    assert (api.status_code == 500) == (name == "Exception")
    assert page.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in page.text and '"error"' not in page.text
    expected = str(NOT_FOUND_MESSAGE) if api.status_code == 404 else error["message"]
    assert _escaped(expected) in page.text
    assert page.headers["content-security-policy"]


def _escaped(message: str) -> str:
    """The message as the autoescaping template writes it."""
    return message.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;")


def test_an_unknown_users_page_names_them():
    """UnknownUsers on a page names the ids, like the API's `unknown_user_ids`."""
    page, api = _get_both("UnknownUsers")
    assert api.json()["error"]["unknown_user_ids"] == ["ghost-1", "ghost-2"]
    assert "ghost-1, ghost-2" in page.text

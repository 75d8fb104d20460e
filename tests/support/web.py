"""A browser's side of the web pages without a browser: cookies, forms and their CSRF tokens."""

import asyncio
import html
import re
import uuid
from typing import Any

import httpx

from server.accounts import Accounts
from server.audit import CLI
from server.db import create_pool
from tests.support.live import LiveServer, test_settings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: The password of every person the tests create.
PASSWORD = "correct horse battery"


def set_password_directly(database_url: str, user_id: str, password: str) -> None:
    """As `traybell admin set-password` does."""

    async def set_it() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            await Accounts(pool, test_settings()).set_password(user_id, password, CLI)
        finally:
            await pool.close()

    asyncio.run(set_it())


def create_person(
    server: LiveServer, *, admin: bool = False, **preferences: Any
) -> tuple[str, str]:
    """A user with the password PASSWORD, for the web pages; returns (user_id, API token)."""
    user_id, token = server.create_user(
        "person-" + uuid.uuid4().hex[:8], admin=admin, **preferences
    )
    set_password_directly(server.database_url, user_id, PASSWORD)
    return user_id, token


class WebClient:
    """One browser: it keeps its cookies and never follows redirects by itself."""

    def __init__(self, server: LiveServer):
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf_token(self, page_path: str) -> str:
        page = self.get(page_path)
        found = _CSRF.search(page.text)
        assert found, f"no csrf_token in {page_path} ({page.status_code})"
        return html.unescape(found.group(1))

    def post(
        self, path: str, data: dict[str, Any], *, page: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Posts a form the way a browser does from `page` (default: the same path), with the
        token that page carries."""
        token = self.csrf_token(page or path)
        return self.http.post(path, data={"csrf_token": token, **data}, **kwargs)

    def sign_in(self, login: str, password: str, next_path: str = "/") -> httpx.Response:
        return self.post(
            "/login", {"login": login, "password": password, "next": next_path}, page="/login"
        )

"""A real Traybell API server on loopback, in a thread of the test process."""

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import uvicorn

from server.app import create_app
from server.audit import CLI
from server.channels.push_targets import AllowedHosts
from server.config import Settings
from server.db import create_pool
from server.identity import Caller
from server.service import Service
from server.serving import Server
from tests.support.pg import free_port


def test_settings(**overrides: Any) -> Settings:
    """The contract's defaults, independent of the environment the tests run in; push may
    reach 127.0.0.1, where the tests' receivers listen."""
    values = dict(
        database_url=None,
        smtp_url=None,
        smtp_from="traybell@localhost",
        public_url="http://127.0.0.1:8000",
        lock_timeout_seconds=300,
        retry_base_seconds=60,
        max_attempts=5,
        email_per_minute=5,
        push_per_minute=20,
        push_allowed_hosts=AllowedHosts.parse("127.0.0.1"),
    )
    values.update(overrides)
    return Settings(**values)


def create_users_directly(
    database_url: str,
    user_ids: Sequence[str],
    *,
    admin: bool = False,
    preferences_of: Callable[[str], dict[str, Any]] | None = None,
) -> list[str]:
    """Create users without the API (as `traybell admin create-user` does), each with the
    preferences `preferences_of(user_id)` gives; returns their first tokens."""

    async def create() -> list[str]:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        service = Service(pool, test_settings())
        tokens = []
        try:
            for user_id in user_ids:
                _, token, _ = await service.create_user(
                    user_id,
                    email=None,
                    display_name=None,
                    is_admin=admin,
                    actor=CLI,
                    token_scope="admin" if admin else "user",
                )
                tokens.append(token)
                if preferences_of is not None:
                    await service.update_preferences(
                        Caller(user_id, admin), preferences_of(user_id), CLI
                    )
            return tokens
        finally:
            await pool.close()

    return asyncio.run(create())


class LiveServer:
    """uvicorn serving Traybell on 127.0.0.1; `stop()` and `start()` keep the port."""

    def __init__(
        self, database_url: str, settings: Settings | None = None, *, links_home: bool = False
    ):
        """`links_home`: the links it hands out (TRAYBELL_PUBLIC_URL) name this server itself,
        for tests that follow them, as a browser does a device sign-in's address."""
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings or test_settings()
        if links_home:
            self.settings = dataclasses.replace(self.settings, public_url=self.url)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._token_ids: dict[str, str] = {}
        self.start()
        [self.admin_token] = create_users_directly(
            database_url, ["admin-" + uuid.uuid4().hex[:8]], admin=True
        )

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.database_url, self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,  # as `traybell serve`: the app reads X-Forwarded-For
        )
        self._server = Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = 200
        while not self._server.started and deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the test server failed to start")
            self._thread.join(0.05)
            deadline -= 1
        if not self._server.started:
            raise RuntimeError("the test server did not start within 10 s")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None

    # ---------------------------------------------------------------- conveniences for tests

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def create_user(
        self, user_id: str | None = None, *, admin: bool = False, **preferences: Any
    ) -> tuple[str, str]:
        """Create a user through the admin API, set its preferences; returns (user_id, token).
        An admin's token is made with the admin scope (a new user's first token has `user`)."""
        user_id = user_id or "user-" + uuid.uuid4().hex[:10]
        with self.client(self.admin_token) as admin_client:
            reply = admin_client.post("/v1/admin/users", json={"user_id": user_id, "admin": admin})
            reply.raise_for_status()
            if admin:
                reply = admin_client.post(
                    f"/v1/admin/users/{user_id}/tokens", json={"scope": "admin"}
                )
                reply.raise_for_status()
        token = reply.json()["token"]
        self._token_ids[token] = reply.json()["token_id"]
        if preferences:
            with self.client(token) as user_client:
                user_client.patch("/v1/preferences", json=preferences).raise_for_status()
        return user_id, token

    def send(self, user_ids: list[str] | str, **fields: Any) -> dict:
        """Send as admin; `fields` are the request's (title defaults to 'Test notification')."""
        payload: dict[str, Any] = {
            "event_name": "test.event",
            "title": "Test notification",
            **fields,
        }
        if isinstance(user_ids, str):
            payload["user_id"] = user_ids
        else:
            payload["user_ids"] = list(user_ids)
        with self.client(self.admin_token) as admin_client:
            reply = admin_client.post("/v1/notifications", json=payload)
            reply.raise_for_status()
            return reply.json()

    def revoke(self, token: str) -> None:
        with self.client(self.admin_token) as admin_client:
            admin_client.delete(f"/v1/admin/tokens/{self._token_ids[token]}").raise_for_status()

"""A real SMTP server and a real push receiver on loopback, and workers to run against them."""

import asyncio
import email
import email.policy
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosql
import asyncpg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from server.config import Settings
from server.db import fetch_all
from server.worker import Worker
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
inspect = aiosql.from_path(
    Path(__file__).with_name("inspect.sql"), "asyncpg", mandatory_parameters=False
)


async def _on_connection(database_url: str, work: Callable[[asyncpg.Connection], Any]) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await work(conn)
    finally:
        await conn.close()


def rows(database_url: str, name: str, **params: Any) -> list[dict[str, Any]]:
    """The rows of a many-row query of inspect.sql, on a connection of its own."""

    async def work(conn: asyncpg.Connection) -> list[dict[str, Any]]:
        return [dict(row) for row in await fetch_all(getattr(inspect, name), conn, **params)]

    return asyncio.run(_on_connection(database_url, work))


def scalar(database_url: str, name: str, **params: Any) -> Any:
    """The value of a one-value query of inspect.sql, on a connection of its own."""
    return asyncio.run(_on_connection(database_url, lambda c: getattr(inspect, name)(c, **params)))


def script(database_url: str, name: str) -> None:
    """Run a script of inspect.sql (statements without parameters), on a connection of its own."""
    asyncio.run(_on_connection(database_url, getattr(inspect, name)))


def deliveries(database_url: str, *user_ids: str) -> list[dict[str, Any]]:
    return rows(database_url, "deliveries", user_ids=list(user_ids))


# ---------------------------------------------------------------- SMTP


class Mailbox:
    """An aiosmtpd handler: keeps accepted messages; answers can be scripted per attempt."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        #: Each accepted message as it came over the wire, beside its parsed form in `messages`.
        self.raw: list[bytes] = []
        #: Answers to give to the next DATA commands, in order; then `default` is given.
        self.answers: list[str] = []
        self.default = "250 Message accepted"
        #: Addresses refused at RCPT with this answer.
        self.refused: dict[str, str] = {}
        #: While cleared, DATA waits (a slow server); `arrived` counts DATA commands seen.
        self.open = threading.Event()
        self.open.set()
        self.arrived: list[str] = []
        #: The client end (host, port) of each connection that said EHLO, in order; of each
        #: that said QUIT; and of the connection each DATA came on, by Message-ID.
        self.sessions: list[tuple[str, int]] = []
        self.quits: list[tuple[str, int]] = []
        self.carried_by: dict[str, tuple[str, int]] = {}
        #: Answers to give to the next MAIL commands, in order; then MAIL is accepted.
        self.mail_answers: list[str] = []
        #: The client end of each connection that logged in.
        self.logins: list[tuple[str, int]] = []
        #: The live server side of each connection, for `SmtpServer.drop_connections`.
        self.servers: list[Any] = []
        self._lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self._lock:
            self.sessions.append(session.peer)
            self.servers.append(server)
        return responses

    async def handle_QUIT(self, server, session, envelope):
        with self._lock:
            self.quits.append(session.peer)
        return "221 Bye"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self._lock:
            answer = self.mail_answers.pop(0) if self.mail_answers else None
        if answer is not None:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.arrived.append(parsed["Message-ID"])
            self.carried_by[parsed["Message-ID"]] = session.peer
        while not self.open.is_set():
            await asyncio.sleep(0.02)
        with self._lock:
            answer = self.answers.pop(0) if self.answers else self.default
            if answer.startswith("250"):
                self.messages.append(parsed)
                self.raw.append(envelope.content)
        return answer

    def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        wait_until(lambda: len(self.messages) >= count, timeout, f"{count} email(s)")
        return list(self.messages)


class SmtpServer:
    """aiosmtpd on loopback; with `tls` (certificate and key files) it speaks TLS from the
    first byte (smtps), and with `login` (user, password) it takes mail only after AUTH."""

    def __init__(
        self,
        port: int,
        *,
        tls: tuple[Path, Path] | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self._tls = tls
        self._login = login
        credentials = ":".join(quote(part, safe="") for part in login) + "@" if login else ""
        self.url = f"{'smtps' if tls else 'smtp'}://{credentials}127.0.0.1:{port}"
        self._controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self._tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self._tls)
            options["ssl_context"] = context
        if self._login:
            # aiosmtpd sees only STARTTLS as TLS; this TLS starts with the connection.
            options.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        given = (
            (auth_data.login.decode(), auth_data.password.decode())
            if isinstance(auth_data, LoginPassword)
            else None
        )
        if given == self._login:
            self.mailbox.logins.append(session.peer)
        return AuthResult(success=given == self._login)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def drop_connections(self) -> None:
        """Close every open connection from the server's side (as a restarting server does),
        and wait until they are closed."""
        assert self._controller is not None
        servers = list(self.mailbox.servers)

        def close() -> None:
            for server in servers:
                if server.transport is not None:
                    server.transport.close()

        self._controller.loop.call_soon_threadsafe(close)
        wait_until(lambda: all(server.transport is None for server in servers), what="the drop")


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


# ---------------------------------------------------------------- push


class PushReceiver:
    """A threaded HTTP server on loopback keeping every JSON body POSTed to it (or, with
    `redirect_to` set, answering every POST with a 307 redirect there)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.redirect_to: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                elif receiver.status == 200:
                    receiver.posts.append({"path": self.path, **body})
                    self.send_response(200)
                else:
                    self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "hook") -> str:
        return f"json://{self.host}:{self.port}/{path}"

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.posts) >= count, timeout, f"{count} push(es)")
        return list(self.posts)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------- workers


class ThreadWorker:
    """A worker in a thread of the test process, with its own event loop."""

    def __init__(self, database_url: str, settings: Settings, **options: Any) -> None:
        self.worker = Worker(database_url, settings, **options)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.worker.run())
        except BaseException as exc:
            self.error = exc

    def start(self) -> "ThreadWorker":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.join()

    def join(self, timeout: float = 30) -> None:
        """Wait for the worker to end (after a stop it asked for itself or was asked earlier)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the worker did not stop"
        if self.error is not None:
            raise self.error


def worker_env(database_url: str, settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRAYBELL_SMTP_FROM": settings.smtp_from,
        "TRAYBELL_PUBLIC_URL": settings.public_url,
        "TRAYBELL_LOCK_TIMEOUT_SECONDS": str(settings.lock_timeout_seconds),
        "TRAYBELL_RETRY_BASE_SECONDS": str(settings.retry_base_seconds),
        "TRAYBELL_MAX_ATTEMPTS": str(settings.max_attempts),
        "TRAYBELL_EMAIL_PER_MINUTE": str(settings.email_per_minute),
        "TRAYBELL_PUSH_PER_MINUTE": str(settings.push_per_minute),
        "TRAYBELL_PUSH_ALLOWED_HOSTS": str(settings.push_allowed_hosts),
    }
    env.pop("TRAYBELL_SMTP_URL", None)
    if settings.smtp_url:
        env["TRAYBELL_SMTP_URL"] = settings.smtp_url
    return env


class ProcessWorker:
    """`python -m traybell worker` as a child process, its log kept in a file."""

    def __init__(
        self,
        database_url: str,
        settings: Settings,
        log_path: Path,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "traybell", "worker", *args],
            cwd=ROOT,
            env={**worker_env(database_url, settings), **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, timeout: float = 30) -> None:
        wait_until(lambda: "started: channels" in self.log(), timeout, "the worker to start")

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log.close()

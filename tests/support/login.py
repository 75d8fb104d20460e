"""`traybell login` as a subprocess, and a person who approves device sign-ins on the web pages."""

import contextlib
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tests.support.live import LiveServer
from tests.support.web import PASSWORD, WebClient, create_person

_INSTRUCTIONS = re.compile(r"Open (\S+) in a browser and enter the code (\S+)")
_COMPLETE = re.compile(r"or open (\S+?),?\s")


def client_env(home: Path) -> dict[str, str]:
    """A client command's environment of its own: TRAYBELL_HOME, no keyring (so the token goes
    to the user-only file and never to this machine's keyring), no preset file, and none of
    the TRAYBELL_SERVER / TRAYBELL_TOKEN the tests might have been run with."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRAYBELL_SERVER", "TRAYBELL_TOKEN")}
    env.update(
        TRAYBELL_HOME=str(home),
        TRAYBELL_PRESET_FILE=str(home / "no-preset.json"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        XDG_CONFIG_HOME=str(home / "config"),
    )
    return env


def traybell(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """A client command in `client_env(home)`, plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "traybell", *args],
        capture_output=True,
        text=True,
        env=client_env(home) | (env or {}),
        timeout=timeout,
    )


class LoginProcess:
    """`traybell login` running; the constructor returns once it shows the code.

    With `terminal`, its standard output is a pseudo-terminal, as in a person's shell.
    """

    def __init__(self, home: Path, *args: str, terminal: bool = False) -> None:
        command = [sys.executable, "-m", "traybell", "login", *args]
        self._pty_fd: int | None = None
        if terminal:
            self._pty_fd, child_side = pty.openpty()
            stdout: int | IO[str] = child_side
        else:
            stdout = subprocess.PIPE
        self.process = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=client_env(home),
        )
        if terminal:
            os.close(child_side)
            self._out: IO[str] = os.fdopen(self._pty_fd, encoding="utf-8", errors="replace")
        else:
            assert self.process.stdout is not None
            self._out = self.process.stdout
        self.shown = ""
        while "Waiting for approval" not in self.shown:
            line = self._out.readline()
            if not line:
                raise AssertionError(f"login ended early: {self.shown}{self._stderr()}")
            self.shown += line
        found = _INSTRUCTIONS.search(self.shown)
        assert found, self.shown
        self.verification_uri, self.user_code = found.groups()
        complete = _COMPLETE.search(self.shown)
        assert complete, self.shown
        self.verification_uri_complete = complete.group(1)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for it to end: (exit status, the rest of its output, its standard error)."""
        returncode = self.process.wait(timeout)
        try:
            rest = self._out.read()
        except OSError:  # a pseudo-terminal whose other side closed reads as EIO at its end
            rest = ""
        self._out.close()
        return returncode, rest, self._stderr()

    def _stderr(self) -> str:
        assert self.process.stderr is not None
        if self.process.poll() is None:
            return ""
        return self.process.stderr.read()


def person(server: LiveServer, *, admin: bool = False) -> str:
    """A user who can sign in on the web pages (with PASSWORD)."""
    return create_person(server, admin=admin)[0]


def decide(server: LiveServer, user_id: str, user_code: str, action: str = "approve") -> None:
    """`user_id` signs in on the web pages and approves (or denies) the device showing the code."""
    page = f"/device?code={user_code}"
    with _signed_in(server, user_id) as web:
        reply = web.post("/device", {"user_code": user_code, "action": action}, page=page)
    assert reply.status_code == 200, reply.text


def revoke_on_the_web(server: LiveServer, user_id: str, token_id: str) -> None:
    """`user_id` presses Revoke beside that device on their settings page."""
    with _signed_in(server, user_id) as web:
        reply = web.post(f"/settings/tokens/{token_id}/revoke", {}, page="/settings")
    assert reply.status_code == 303, reply.text


@contextlib.contextmanager
def _signed_in(server: LiveServer, user_id: str) -> Iterator[WebClient]:
    web = WebClient(server)
    try:
        assert web.sign_in(user_id, PASSWORD).status_code == 303
        yield web
    finally:
        web.close()

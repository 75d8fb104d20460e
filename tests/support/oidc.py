"""A real OpenID Provider on loopback for the company sign-in tests: the npm package
oidc-provider (pinned in tests/oidc/package-lock.json, installed from the lock file at first
use) run by tests/oidc/provider.mjs, and a person who signs in through its pages with httpx."""

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import httpx

from tests.support.pg import free_port
from tests.support.waiting import wait_until

HERE = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "traybell"
CLIENT_SECRET = "traybell-test-client-secret"


def install_provider() -> None:
    """oidc-provider from the lock file, once (npm ci: exactly the locked versions)."""
    if not (HERE / "node_modules" / "oidc-provider").exists():
        npm = shutil.which("npm")
        assert npm, "oidc-provider comes from npm (the machine's own, with Node.js)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)


class TestProvider:
    """oidc-provider on 127.0.0.1: its issuer is known at once (for the server's settings),
    it runs from `start(redirect_uri)` until `stop()`; each start signs with a new key."""

    __test__ = False  # not a test class for pytest

    def __init__(self, folder: Path, accounts: dict[str, dict[str, Any]]):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.config_path = folder / "oidc-provider.json"
        self.accounts = accounts
        self.redirect_uri = ""
        self._process: subprocess.Popen | None = None

    def _write_config(self) -> None:
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": self.redirect_uri,
            "accounts": self.accounts,
        }
        self.config_path.write_text(json.dumps(config))

    def set_groups(self, login: str, groups: list[str]) -> None:
        """The provider reads its accounts at every sign-in: the next one has these groups."""
        self.accounts[login]["groups"] = groups
        self._write_config()

    def start(self, redirect_uri: str) -> None:
        install_provider()
        self.redirect_uri = redirect_uri
        self._write_config()
        node = shutil.which("node")
        assert node, "oidc-provider runs on Node.js"
        self._process = subprocess.Popen(
            [node, str(HERE / "provider.mjs"), str(self.config_path)],
            cwd=HERE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until(self._answers, what="oidc-provider's discovery document")

    def _answers(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"oidc-provider exited: {self._process.stderr.read().decode()}")
        try:
            url = f"{self.issuer}/.well-known/openid-configuration"
            return httpx.get(url, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(30)
            self._process.stderr.close()
            self._process = None


_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def provider_form_action(page: httpx.Response) -> str:
    match = _FORM_ACTION.search(page.text)
    assert match, f"no form on the provider's page: {page.text[:500]}"
    return str(page.url.join(unescape(match.group(1))))


def through_provider_pages(http: httpx.Client, start: httpx.Response, login: str) -> str:
    """From Traybell's redirect to the provider (`start`), as a person does in a browser: the
    provider's login page and consent page when it shows them (a provider session of this
    browser skips them); returns the address the provider sends the browser back to
    (Traybell's callback, not yet opened)."""
    reply = start
    for _ in range(20):
        if reply.is_redirect:
            location = str(reply.url.join(reply.headers["location"]))
            if "/login/oidc/callback" in location:
                return location
            reply = http.get(location)
        elif 'name="prompt" value="login"' in reply.text:
            fields = {"prompt": "login", "login": login, "password": "any password"}
            reply = http.post(provider_form_action(reply), data=fields)
        elif 'name="prompt" value="consent"' in reply.text:
            reply = http.post(provider_form_action(reply), data={"prompt": "consent"})
        else:
            raise AssertionError(f"unexpected page at the provider: {reply.text[:500]}")
    raise AssertionError("the provider never sent the browser back")

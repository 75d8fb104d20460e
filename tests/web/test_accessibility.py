"""Every page, checked in Chromium by axe-core (WCAG 2.0 and 2.1, A and AA; from npm, pinned
in package-lock.json beside this file) at a laptop's and a phone's width: no violation at all,
and nothing scrolls sideways at 320 px. Screenshots go to test-artifacts/a11y/."""

import asyncio
import functools
import secrets
import shutil
import subprocess
from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from server.db import create_pool, queries
from server.identity import hash_token
from server.web.admin import AREAS
from tests.support.web import PASSWORD
from tests.web.test_browser import ARTIFACTS, chromium

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {"laptop": (1280, 800), "phone": (320, 640)}


@functools.cache
def axe_source() -> str:
    """axe-core, installed from the lock file at first use."""
    if not AXE.exists():
        npm = shutil.which("npm")
        assert npm, "axe-core comes from npm (the machine's own, with Node.js)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return AXE.read_text()


def audit(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now (needs a context with bypass_csp: axe
    is injected, and the pages allow no script but their own)."""
    page.add_script_tag(content=axe_source())
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
            }));
        }""",
        WCAG_AA,
    )


def scrolls_sideways(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def _unsubscribe_token(database_url: str, user_id: str) -> str:
    """As the worker makes one for an email (server/worker/queue.py)."""

    async def make() -> str:
        token = secrets.token_urlsafe(32)
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            await queries.create_unsubscribe_token(
                pool, token_hash=hash_token(token), user_id=user_id
            )
        finally:
            await pool.close()
        return token

    return asyncio.run(make())


class Checker:
    """Opens each page at every width and collects what fails."""

    def __init__(self, contexts: dict[str, BrowserContext]):
        self.pages = {width: context.new_page() for width, context in contexts.items()}
        self.failures: list[str] = []
        (ARTIFACTS / "a11y").mkdir(parents=True, exist_ok=True)

    def check(self, name: str, prepare) -> None:
        """`prepare(page)` brings the page into the state to check (a goto, a form sent)."""
        for width, page in self.pages.items():
            prepare(page)
            for violation in audit(page):
                self.failures.append(f"{name} at {width} width: {violation}")
            if width == "phone" and scrolls_sideways(page):
                self.failures.append(f"{name} scrolls sideways at 320 px")
            page.screenshot(path=str(ARTIFACTS / "a11y" / f"{name}-{width}.png"), full_page=True)


def _contexts(browser, base: str, login: str | None) -> dict[str, BrowserContext]:
    contexts = {}
    for width, (w, h) in WIDTHS.items():
        context = browser.new_context(viewport={"width": w, "height": h}, bypass_csp=True)
        if login:
            page = context.new_page()
            page.goto(f"{base}/login")
            page.fill("#login", login)
            page.fill("#password", PASSWORD)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(f"{base}/")
            page.close()
        contexts[width] = context
    return contexts


def test_every_page_passes_axe_at_laptop_and_phone_width(live_server, person, database_url):
    """Sign-in (also refused), an invite, the inbox (full, unread-only and empty), one
    notification, settings (also refusing a value), device sign-in (asking, unknown code),
    the unsubscribe page, a 404 for a signed-in person, and every page of the admin console
    (with a send review): no axe-core violation at 1280 or 320 px, no sideways scroll at 320."""
    admin, _ = person(admin=True)
    user, _ = person()
    newcomer, _ = person()
    for title, severity in (("Backup finished", "success"), ("Disk 91% full", "warning")):
        live_server.send(user, title=title, severity=severity, summary=f"{title}: details")
    critical = live_server.send(
        user,
        title="Database db-1 is down",
        summary="Failover to db-2 in progress",
        body="Primary stopped answering at 03:12.",
        severity="critical",
        target_url="https://status.example/incidents/42",
    )["results"][0]["id"]
    with live_server.client(live_server.admin_token) as client:
        invite = client.post(f"/v1/admin/users/{newcomer}/invite").json()["invite_url"]
    invite_path = "/invite/" + invite.rsplit("/", 1)[1]
    unsubscribe_path = "/unsubscribe/" + _unsubscribe_token(database_url, user)
    base = live_server.url

    def goto(path: str):
        return lambda page: page.goto(base + path)

    def refused_sign_in(page: Page) -> None:
        page.goto(base + "/login")
        page.fill("#login", "nobody")
        page.fill("#password", "wrong password")
        page.click("button:has-text('Sign in')")
        page.wait_for_selector(".errors")

    def refused_settings(page: Page) -> None:
        page.goto(base + "/settings")
        page.fill("#digest_seconds", "999999")
        page.click("button:has-text('Save settings')")
        page.wait_for_selector(".errors")

    def unknown_device_code(page: Page) -> None:
        page.goto(base + "/device?code=WXYZ-2345")

    def send_review(page: Page) -> None:
        page.goto(base + "/admin/send")
        page.fill("#recipients", f"{user} nobody-here")
        page.fill("#title", "Office closed on Friday")
        page.click("button:has-text('Review')")
        page.wait_for_selector("#review-title")

    failures: list[str] = []
    with chromium() as browser:
        anonymous = Checker(_contexts(browser, base, None))
        anonymous.check("login", goto("/login"))
        anonymous.check("login-refused", refused_sign_in)
        anonymous.check("invite", goto(invite_path))
        anonymous.check("unsubscribe", goto(unsubscribe_path))
        failures += anonymous.failures

        reader = Checker(_contexts(browser, base, user))
        reader.check("inbox", goto("/"))
        reader.check("notification", goto(f"/n/{critical}"))
        reader.check("inbox-unread-only", goto("/?unread=1"))
        reader.check("settings", goto("/settings"))
        reader.check("settings-refused", refused_settings)
        reader.check("device", goto("/device"))
        reader.check("device-unknown-code", unknown_device_code)
        reader.check("not-found", goto("/no-such-page"))
        failures += reader.failures

        console = Checker(_contexts(browser, base, admin))
        console.check("inbox-empty", goto("/"))
        for area in AREAS:  # every area of the console, as its navigation lists them
            console.check("admin-" + area.path.rsplit("/", 1)[1], goto(area.path))
        console.check("admin-review", send_review)
        failures += console.failures
    assert not failures, "\n".join(failures)

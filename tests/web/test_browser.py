"""The web pages in a real browser (Debian's Chromium, driven by Playwright): from an emailed
link to a read inbox that the tray's sync engine agrees with, the admin console, and approving
`traybell login`. Screenshots go to test-artifacts/."""

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from desktop.sync import SyncEngine
from server.web.admin import AREAS
from tests.support.live import LiveServer
from tests.support.live import test_settings as settings_with
from tests.support.login import LoginProcess, traybell
from tests.support.login import person as login_person
from tests.support.pg import free_port
from tests.support.waiting import wait_until
from tests.support.web import PASSWORD
from tests.worker.support import ProcessWorker, SmtpServer, text_of

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Chromium's background services try the network, which is closed here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Open it after the test's setup: Playwright's sync API keeps an event loop running in
    this thread, where asyncio.run (used by the setup helpers) then refuses to run."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_from_an_emailed_link_to_a_read_inbox_the_tray_agrees_with(
    live_server, person, database_url, smtp, tmp_path
):
    """The link in a delivered email asks for sign-in, then shows the body; mark all read in
    the inbox, and the sync engine reports 0 unread on its next sync."""
    user, token = person(email_enabled=True, email="reader@example.com")
    worker = ProcessWorker(
        database_url,
        settings_with(smtp_url=smtp.url, public_url=live_server.url),
        tmp_path / "worker.log",
    )
    try:
        for title, severity in (
            ("Backup finished", "success"),
            ("New comment on your design doc", "info"),
            ("Certificate expires in 7 days", "warning"),
        ):
            live_server.send(user, title=title, severity=severity, summary=f"{title} · details")
        live_server.send(
            user,
            title="Database db-1 is down",
            summary="Failover to db-2 in progress",
            body="Primary stopped answering at 03:12.\nReplica db-2 is being promoted.",
            severity="critical",
            target_url="https://status.example/incidents/42",
        )
        # the warning's and the critical's emails, in whichever order the worker sent them
        [mail] = [m for m in smtp.mailbox.wait_for(2) if "db-1" in m["Subject"]]
    finally:
        worker.terminate()
    link = re.search(rf"{re.escape(live_server.url)}/n/[0-9a-f-]{{36}}", text_of(mail)).group(0)

    engine = SyncEngine(live_server.url, token, tmp_path / "tray.sqlite3")
    try:
        assert engine.sync().unread == 4
        with chromium() as browser:
            _read_everything_in_the_browser(browser, link, user, live_server.url)
        assert engine.sync().unread == 0
        assert engine.unread_count() == 0
    finally:
        engine.close()


def _read_everything_in_the_browser(browser: Browser, link: str, user: str, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(link)
    assert "/login?next=/n/" in page.url
    _shot(page, "web-sign-in.png")
    page.fill("#login", user)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(link)
    assert "Replica db-2 is being promoted." in page.inner_text(".body")
    _shot(page, "web-notification.png")

    page.click("text=← Inbox")
    page.wait_for_url(f"{base}/")
    assert "3 unread" in page.inner_text("h1")
    _shot(page, "web-inbox.png")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.add_cookies(page.context.cookies())
    phone_page = phone.new_page()
    phone_page.goto(f"{base}/")
    _shot(phone_page, "web-inbox-phone.png")
    phone.close()

    page.click("button:has-text('Mark all read')")
    wait_until(lambda: "0 unread" in page.inner_text("h1"), what="the inbox to show 0 unread")


def test_admin_console_in_a_browser(live_server, person):
    """An admin reviews a send (the recipient count shows first) and sends it; every area of
    the console is one page under /admin/ reached through the sub-navigation, which marks the
    current one, at a laptop's and a phone's width without sideways scrolling."""
    admin, _ = person(admin=True)
    recipients = [person()[0] for _ in range(2)]
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/admin")
        page.fill("#login", admin)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{live_server.url}/admin/send")
        page.fill("#recipients", " ".join(recipients))
        page.fill("#title", "Office closed on Friday")
        page.fill("#summary", "Building maintenance; work from home")
        page.select_option("select[name=severity]", "warning")
        _shot(page, "web-admin.png")
        page.click("button:has-text('Review')")
        assert "Send to 2 people?" in page.inner_text("#review-title")
        _shot(page, "web-admin-review.png")
        page.click("button:has-text('Send now')")
        assert "Sent to 2 of 2 recipient(s)." in page.inner_text(".notice")

        areas = page.locator("nav[aria-label='Admin console'] a")
        titles = areas.all_inner_texts()
        assert titles == [area.title for area in AREAS]  # each area once, in AREAS' order
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.add_cookies(page.context.cookies())
        phone_page = phone.new_page()
        for title in titles:
            page.click(f"nav[aria-label='Admin console'] a:has-text('{title}')")
            page.locator(
                f"nav[aria-label='Admin console'] a[aria-current='page']:has-text('{title}')"
            ).wait_for()
            name = page.url.rsplit("/", 1)[1]
            _shot(page, f"web-admin-{name}.png")
            phone_page.goto(page.url)
            assert phone_page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth"
            ), f"{page.url} scrolls sideways on a phone"
            _shot(phone_page, f"web-admin-{name}-phone.png")
        phone.close()


def test_preference_center_in_a_browser(live_server, person):
    """A person sees their topics on the settings page, joins an open one, turns a topic's
    email on and mutes another; the inbox says which team a notification was sent to."""
    user, token = person()
    with live_server.client(live_server.admin_token) as admin:
        admin.post(
            "/v1/admin/teams", json={"team_id": "payments", "display_name": "Payments"}
        ).raise_for_status()
        admin.put(f"/v1/admin/teams/payments/members/{user}").raise_for_status()
        for topic, body in (
            ("billing", {"description": "Card and invoice failures", "open": False}),
            ("deploys", {"description": "Production deploys", "open": True}),
            ("incidents", {"description": "Declared incidents", "open": True}),
        ):
            admin.put(f"/v1/admin/topics/{topic}", json=body).raise_for_status()
        admin.put("/v1/admin/topics/billing/teams/payments").raise_for_status()
        admin.post(
            "/v1/notifications",
            json={
                "to": ["topic:billing"],
                "event_name": "card.failed",
                "title": "Card payments failing in EU",
                "severity": "warning",
            },
        ).raise_for_status()
    live_server.send(user, title="Nightly build green", topic="builds")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/settings")
        page.fill("#login", user)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{live_server.url}/settings")
        page.click("#topics tr:has-text('deploys') button:has-text('Join')")
        page.wait_for_url(re.compile(r".*done=joined.*"))
        assert page.locator("#topics tr:has-text('deploys') button:has-text('Leave')").count()
        page.select_option("select[name='email@billing']", "on")
        page.select_option("select[name='in_app@builds']", "off")
        page.locator("#topics").scroll_into_view_if_needed()
        _shot(page, "web-settings-topics.png")
        page.click("button:has-text('Save topic settings')")
        page.wait_for_url(re.compile(r".*done=topics.*"))
        page.goto(f"{live_server.url}/")
        assert "to billing" in page.inner_text(".inbox")
        _shot(page, "web-inbox-audience.png")
    with live_server.client(token) as client:
        assert client.get("/v1/preferences").json()["topics"] == {
            "billing": {"in_app": None, "email": True, "push": None},
            "builds": {"in_app": False, "email": None, "push": None},
        }


def test_teams_and_topics_console_in_a_browser(live_server, person):
    """An admin creates a team, adds a member, declares a topic, subscribes the team to it and
    sends to the topic: the review counts the people it reaches before anything is sent."""
    admin, _ = person(admin=True)
    member, _ = person()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/admin/teams")
        page.fill("#login", admin)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{live_server.url}/admin/teams")
        page.fill("input[name=team_id]", "payments")
        page.fill("input[name=display_name]", "Payments")
        page.click("button:has-text('Create team')")
        page.wait_for_url(f"{live_server.url}/admin/teams/payments")
        page.fill("input[name=user_id]", member)
        page.click("button:has-text('Add member')")
        assert f"{member} is a member now." in page.inner_text(".notice")
        _shot(page, "web-admin-team.png")
        page.goto(f"{live_server.url}/admin/topics")
        page.fill("input[name=topic]", "billing")
        page.fill("input[name=description]", "Card and invoice failures")
        page.uncheck("input[name=open]")
        page.click("button:has-text('Declare topic')")
        page.click("#topics tr:has-text('billing') button:has-text('Subscribe team')")
        assert "Team payments follows billing." in page.inner_text(".notice")
        _shot(page, "web-admin-topics.png")
        page.goto(f"{live_server.url}/admin/send")
        page.fill("#recipients", "topic:billing")
        page.fill("#title", "Card payments failing in EU")
        page.click("button:has-text('Review')")
        assert "Send to 1 person?" in page.inner_text("#review-title")
        page.click("button:has-text('Send now')")
        assert "Sent to 1 of 1 recipient(s)." in page.inner_text(".notice")


def test_traybell_login_approved_in_chromium(database_url, tmp_path):
    """While `traybell login` waits, the address it printed opens in Chromium, asks for
    sign-in, shows the device's name and code, and Approve ends the command with
    `signed in as USER_ID`; the tray's stored sign-in then works."""
    server = LiveServer(database_url, links_home=True)
    try:
        user = login_person(server)
        login = LoginProcess(tmp_path, "--server", server.url, "--name", "Traybell on kiosk-3")
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(login.verification_uri_complete)
            assert "/login?next=/device" in page.url
            page.fill("#login", user)
            page.fill("#password", PASSWORD)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(login.verification_uri_complete)
            assert "Traybell on kiosk-3" in page.inner_text(".client-name")
            assert login.user_code in page.inner_text(".user-code")
            _shot(page, "web-device-approve.png")
            page.click("button:has-text('Approve')")
            assert "Signed in" in page.inner_text("h1")
        returncode, rest, stderr = login.finish()
        assert returncode == 0, stderr
        assert rest.strip().endswith(f"signed in as {user}")
        once = traybell("tray", "--once", home=tmp_path)
        assert once.returncode == 0, once.stderr
    finally:
        server.stop()


def test_snooze_from_the_notification_page_in_a_browser(live_server, person):
    """/n/<id> offers "Snooze 1 hour" and "Snooze until tomorrow 09:00"; a snooze sends the
    person to the inbox, which shows the notification under "Snoozed", apart; tomorrow 09:00
    is in the person's own time zone; "End snooze" brings it back unread."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    user, token = person(timezone="Asia/Kolkata")
    nid = live_server.send(user, title="Review the lab results", summary="Due this week")[
        "results"
    ][0]["id"]
    live_server.send(user, title="Backup finished")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{live_server.url}/n/{nid}")
        page.fill("#login", user)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{live_server.url}/n/{nid}")
        assert page.locator("button:has-text('Snooze 1 hour')").count() == 1
        _shot(page, "web-notification-snooze.png")
        page.click("button:has-text('Snooze until tomorrow 09:00')")
        page.wait_for_url(re.compile(r".*done=snooze.*"))
        snoozed = page.locator("section.snoozed")
        assert "Review the lab results" in snoozed.inner_text()
        assert "Review the lab results" not in page.locator("ul.inbox").last.inner_text()
        _shot(page, "web-inbox-snoozed.png")
        with live_server.client(token) as client:
            until = client.get(f"/v1/notifications/{nid}").json()["snoozed_until"]
        local = datetime.fromisoformat(until).astimezone(ZoneInfo("Asia/Kolkata"))
        tomorrow = datetime.now(ZoneInfo("Asia/Kolkata")).date() + timedelta(days=1)
        assert (local.date(), local.hour, local.minute) == (tomorrow, 9, 0)
        assert datetime.fromisoformat(until) > datetime.now(UTC)
        snoozed.locator("button:has-text('End snooze')").click()
        page.wait_for_url(re.compile(r".*done=unsnooze.*"))
        assert page.locator("section.snoozed").count() == 0
    with live_server.client(token) as client:
        back = client.get(f"/v1/notifications/{nid}").json()
    assert back["read_at"] is None and back["snoozed_until"] is None


def test_the_inbox_and_settings_in_hindi_in_a_browser(live_server, person):
    """A Hindi-speaking browser signs in on a Hindi page; the inbox and the settings speak Hindi
    (Devanagari drawn by the system's font) around the senders' own English titles."""
    user, _token = person(language="hi")
    live_server.send(user, title="Disk almost full on db-2", severity="warning")
    live_server.send(user, title="Nightly build green", summary="All 1,204 tests passed")
    with chromium() as browser:
        context = browser.new_context(locale="hi-IN", viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{live_server.url}/settings")
        assert page.locator("html").get_attribute("lang") == "hi"
        page.fill("#login", user)
        page.fill("#password", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(f"{live_server.url}/settings")
        assert "सेटिंग्स सहेजें" in page.inner_text("main")
        _shot(page, "web-settings-hindi.png")
        page.goto(f"{live_server.url}/")
        # the live script has taken over the page: what it writes is Hindi too
        wait_until(
            lambda: page.locator(".live").get_attribute("data-live-state") == "open",
            what="the inbox's event stream to open",
        )
        live_server.send(user, title="Third one arrives live", severity="critical")
        wait_until(lambda: "3 अपठित" in page.inner_text("h1"), what="the count to follow")
        newest = page.locator(".inbox li").first
        assert "Third one arrives live" in newest.inner_text() and "गंभीर" in newest.inner_text()
        assert "संग्रह में रखें" in newest.inner_text() and "Archive" not in newest.inner_text()
        _shot(page, "web-inbox-hindi.png")
        context.close()

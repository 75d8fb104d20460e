"""The live web inbox in Chromium: tabs follow sends and marks without a reload, through the
session's stream (GET /events) and the one same-origin script under the page's CSP; desktop
alerts only after a click, with title and summary only, one per burst; sign-out stops the
other tabs. Screenshots go to test-artifacts/."""

import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from server.web import live
from tests.support.waiting import wait_until
from tests.support.web import PASSWORD
from tests.web.test_browser import _shot, chromium

#: A stand-in for the browser's Notification that records what it is given and how often
#: permission is asked; `window.__hidden` plays a background tab.
FAKE_NOTIFICATION = """
window.__alerts = []; window.__asked = 0; window.__hidden = false; window.__answer = "granted";
class FakeNotification {
  constructor(title, options) { window.__alerts.push({title, options, shown: this}); }
  close() {}
  static async requestPermission() {
    window.__asked += 1; FakeNotification.permission = window.__answer; return window.__answer;
  }
}
FakeNotification.permission = "default";
window.Notification = FakeNotification;
Object.defineProperty(document, "hidden", { get: () => window.__hidden, configurable: true });
"""


def _signed_in_context(browser, base: str, user: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#login", user)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/")
    page.close()
    return context


def _open_live(context: BrowserContext, url: str, problems: list[str]) -> Page:
    """A tab whose stream is open; what the console says is wrong (a CSP refusal, a script
    error) goes to `problems`."""
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    page.wait_for_selector("[data-live-state=open]", state="attached")
    return page


def _wait_for(page: Page, condition: str) -> None:
    """`condition` true in the page; evaluated from outside the page, which its CSP allows
    (Playwright's in-page polling would need 'unsafe-eval')."""
    wait_until(lambda: page.evaluate(condition), what=condition)


def _row(page: Page, title: str):
    return page.locator("ul.inbox > li", has_text=title)


def test_two_tabs_follow_a_send_and_a_mark_read_without_reload(live_server, person):
    """A send shows in both open inbox tabs at once (row, count, title); Mark read in one tab
    makes the other show it read; /n/<id> in a third tab follows an unread mark made through
    the API (another device). No CSP refusal or script error on the way."""
    user, token = person()
    base = live_server.url
    problems: list[str] = []
    with chromium() as browser:
        context = _signed_in_context(browser, base, user)
        first = _open_live(context, f"{base}/", problems)
        second = _open_live(context, f"{base}/", problems)
        assert first.inner_text("[data-unread-count]") == "0 unread"

        sent = live_server.send(
            user, title="Disk 91% full", summary="db-2, /var", severity="warning"
        )
        notification_id = sent["results"][0]["id"]
        for tab in (first, second):
            _row(tab, "Disk 91% full").wait_for()
            expect(tab).to_have_title("(1) Inbox · Traybell")
            assert tab.inner_text("[data-unread-count]") == "1 unread"
            assert "unread" in _row(tab, "Disk 91% full").get_attribute("class")
        _shot(second, "web-inbox-live.png")

        _row(first, "Disk 91% full").locator("button:has-text('Mark read')").click()
        expect(second).to_have_title("Inbox · Traybell")
        assert second.inner_text("[data-unread-count]") == "0 unread"
        assert "unread" not in _row(second, "Disk 91% full").get_attribute("class")
        assert _row(second, "Disk 91% full").locator("button:has-text('Mark read')").count() == 0

        third = _open_live(context, f"{base}/n/{notification_id}", problems)
        assert third.inner_text("[data-read-state]") == "Read"
        with live_server.client(token) as client:
            client.post(f"/v1/notifications/{notification_id}/unread").raise_for_status()
        expect(third.locator("[data-read-state]")).to_have_text("Unread")
        expect(second).to_have_title("(1) Inbox · Traybell")
    assert not problems, problems


def test_desktop_alerts_after_the_click_only_title_and_summary_one_per_burst(live_server, person):
    """No permission is asked before "Enable desktop alerts" is clicked; then a new unread
    notification while the tab is in the background gives one browser alert with its title
    and summary and never its body, several at once give one alert, and clicking the alert
    opens the notification. A visible tab gets no alert; a refusal, and a page that is not a
    secure context, are explained on the page."""
    user, _ = person()
    base = live_server.url
    problems: list[str] = []
    with chromium() as browser:
        context = _signed_in_context(browser, base, user)
        context.add_init_script(FAKE_NOTIFICATION)
        page = _open_live(context, f"{base}/", problems)
        button = page.locator("button:has-text('Enable desktop alerts')")
        button.wait_for()
        live_server.send(user, title="Seen in the open tab")
        expect(page.locator("#live-announcer")).to_have_text(
            "New notification: Seen in the open tab"
        )
        assert page.evaluate("window.__asked") == 0
        assert page.evaluate("window.__alerts.length") == 0  # the tab is in view

        button.click()
        _wait_for(page, "window.__asked === 1")
        page.get_by_text("Desktop alerts are on").wait_for()
        assert button.is_hidden()
        _shot(page, "web-inbox-alerts-on.png")

        page.evaluate("window.__hidden = true")
        sent = live_server.send(
            user,
            title="Database db-1 is down",
            summary="Failover to db-2 in progress",
            body="SECRET-BODY: the root password is in the runbook",
            severity="critical",
        )
        _wait_for(page, "window.__alerts.length === 1")
        alert = page.evaluate("({title: __alerts[0].title, options: __alerts[0].options})")
        assert alert["title"] == "Database db-1 is down"
        assert alert["options"]["body"] == "Failover to db-2 in progress"
        assert "SECRET-BODY" not in json.dumps(alert)

        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda i: live_server.send(user, title=f"Burst {i}"), range(3)))
        _wait_for(page, "window.__alerts.length === 2")
        burst = page.evaluate("({title: __alerts[1].title, options: __alerts[1].options})")
        assert burst["title"] == "3 new notifications"
        assert page.evaluate("document.getElementById('live-announcer').textContent") == (
            "3 new notifications"
        )

        page.evaluate("__alerts[0].shown.onclick()")
        page.wait_for_url(f"{base}/n/{sent['results'][0]['id']}")

        refusing = context.new_page()
        refusing.add_init_script("window.__answer = 'denied'; localStorage.clear()")
        refusing.goto(f"{base}/")
        refusing.locator("button:has-text('Enable desktop alerts')").click()
        refusing.get_by_text("The browser refused").wait_for()

        insecure = context.new_page()  # as over plain http to another host than this one
        insecure.add_init_script("Object.defineProperty(window, 'isSecureContext', {value: false})")
        insecure.goto(f"{base}/")
        insecure.locator("button:has-text('Enable desktop alerts')").click()
        insecure.get_by_text("only for a secure (https) address").wait_for()
        assert insecure.evaluate("window.__asked") == 0
    assert not problems, problems


def test_signing_out_in_one_tab_stops_the_others_updates(live_server, person):
    """Sign-out in one tab ends the session's streams: the other tab's stream closes (the
    browser does not reconnect: /events answers 204 without a session), and a later send
    does not reach it."""
    user, _ = person()
    base = live_server.url
    problems: list[str] = []
    with chromium() as browser:
        context = _signed_in_context(browser, base, user)
        leaving = _open_live(context, f"{base}/", problems)
        staying = _open_live(context, f"{base}/", problems)
        leaving.click("button:has-text('Sign out')")
        leaving.wait_for_url(f"{base}/login")
        staying.wait_for_selector("[data-live-state=closed]", state="attached")
        live_server.send(user, title="After sign-out")
        assert staying.inner_text("[data-unread-count]") == "0 unread"
        assert _row(staying, "After sign-out").count() == 0
    # the stream's end is reported by the browser as an error event, not a script error
    assert not [p for p in problems if "EventSource" not in p and "events" not in p], problems


def test_a_session_holds_a_capped_number_of_streams_and_none_without_a_session(
    live_server, person, browser, monkeypatch
):
    """GET /events: past the session's cap 429 (an EventSource then stops), a closed stream
    frees its place; without a session 204 (the browser does not reconnect)."""
    monkeypatch.setattr(live, "MAX_STREAMS_PER_SESSION", 2)
    user, _ = person()
    web = browser()
    assert web.sign_in(user, PASSWORD).status_code == 303
    with contextlib.ExitStack() as open_streams:
        first = open_streams.enter_context(web.http.stream("GET", "/events"))
        second = open_streams.enter_context(web.http.stream("GET", "/events"))
        assert (first.status_code, second.status_code) == (200, 200)
        assert first.headers["content-type"].startswith("text/event-stream")
        with web.http.stream("GET", "/events") as third:
            assert third.status_code == 429
        first.close()
        wait_until(lambda: _stream_status(web) == 200, what="the closed stream's place")
    assert browser().get("/events").status_code == 204


def _stream_status(web) -> int:
    with web.http.stream("GET", "/events") as reply:
        return reply.status_code


def test_a_session_stream_ends_when_its_user_is_disabled(live_server, person, browser):
    """A page's stream lives as long as its session: disabling the user (which ends every
    session) ends the open stream at the hub's recheck, as a revoked token ends a tray's."""
    user, _ = person()
    web = browser()
    assert web.sign_in(user, PASSWORD).status_code == 303
    opened, ended = threading.Event(), threading.Event()
    statuses: list[int] = []

    def follow() -> None:
        with web.http.stream("GET", "/events", timeout=httpx.Timeout(60, read=None)) as reply:
            statuses.append(reply.status_code)
            opened.set()
            for _ in reply.iter_lines():
                pass
        ended.set()

    threading.Thread(target=follow, daemon=True).start()
    wait_until(opened.is_set, what="the stream to open")
    assert statuses == [200]
    with live_server.client(live_server.admin_token) as admin:
        admin.post(f"/v1/admin/users/{user}/disable").raise_for_status()
    wait_until(ended.is_set, what="the disabled user's page stream to end")

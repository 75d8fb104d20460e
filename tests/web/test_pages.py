"""The pages behind a sign-in: inbox, one notification, settings, the admin console."""

import re

from tests.support.web import PASSWORD

NOT_FOUND = "There is nothing here, or it is not yours to see."


def _signed_in(browser, user):
    web = browser()
    assert web.sign_in(user, PASSWORD).status_code == 303
    return web


def _unread(live_server, token) -> int:
    with live_server.client(token) as client:
        return client.get("/v1/notifications/unread-count").json()["unread"]


def test_every_page_sends_the_security_headers(live_server, person, browser):
    """CSP with script from this site only (no inline script, no eval) and frame-ancestors
    'none', nosniff, no-referrer; the one script is same-origin under a content-hashed URL,
    cached for ever."""
    user, _ = person()
    notification_id = live_server.send(user, title="Scripted")["results"][0]["id"]
    web = _signed_in(browser, user)
    scripts = set()
    for path in ("/login", "/", "/settings", f"/n/{notification_id}", "/n/unknown"):
        page = web.get(path)
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "script-src 'self';" in csp and "unsafe" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        tags = re.findall(r"<script[^>]*>", page.text)
        assert all(re.fullmatch(r'<script src="/static/[\w.]+\?v=\w+" defer>', t) for t in tags)
        scripts.update(tags)
    [tag] = scripts  # the inbox and a notification load it, and nothing else does
    script = web.get(re.search(r'src="([^"]+)"', tag).group(1))
    assert script.headers["content-type"].startswith("text/javascript")
    assert "immutable" in script.headers["cache-control"]


def test_the_notification_page_shows_it_marks_it_read_and_is_not_cached(
    live_server, person, browser
):
    """/n/<id>: title, summary, body, severity, time, the link with rel=noopener noreferrer and
    'Open in Traybell'; marked read on display; Cache-Control: no-store."""
    user, token = person()
    sent = live_server.send(
        user,
        title="Deploy finished",
        summary="api v2.3 is live",
        body="All 12 pods healthy.",
        severity="success",
        target_url="https://ci.example/run/7",
    )
    notification_id = sent["results"][0]["id"]
    page = _signed_in(browser, user).get(f"/n/{notification_id}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    for text in ("Deploy finished", "api v2.3 is live", "All 12 pods healthy.", "Success"):
        assert text in page.text
    assert re.search(
        r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"', page.text
    )
    assert (
        '<a class="button primary" href="https://ci.example/run/7" rel="noopener noreferrer">'
        in page.text
    )
    assert f'href="traybell://n/{notification_id}"' in page.text
    assert _unread(live_server, token) == 0


def test_another_users_notification_and_an_unknown_id_get_the_same_404(
    live_server, person, browser
):
    """Existence is never revealed: someone else's id and a made-up one answer alike."""
    owner, _ = person()
    intruder, _ = person()
    theirs = live_server.send(owner, title="Private")["results"][0]["id"]
    web = _signed_in(browser, intruder)
    others = web.get(f"/n/{theirs}")
    unknown = web.get("/n/00000000-0000-0000-0000-000000000000")
    garbage = web.get("/n/not-an-id")
    assert others.status_code == unknown.status_code == garbage.status_code == 404
    assert NOT_FOUND in others.text and "Private" not in others.text
    assert others.text == unknown.text == garbage.text
    marked = web.post(f"/n/{theirs}/read", {"back": "/"}, page="/")
    assert marked.status_code == 404


def test_script_in_a_title_or_body_is_shown_as_text(live_server, person, browser):
    """Every page escapes what users wrote."""
    user, _ = person()
    attack = "<script>alert(1)</script>"
    sent = live_server.send(user, title=attack, summary=attack, body=attack + '"><img src=x>')
    web = _signed_in(browser, user)
    for path in ("/", f"/n/{sent['results'][0]['id']}"):
        page = web.get(path).text
        assert "<script>" not in page and "<img src=x>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_inbox_is_newest_first_marks_unread_and_filters(live_server, person, browser):
    """The inbox lists newest first, marks unread (not by colour alone), counts unread, and
    ?unread=1 shows only unread."""
    user, token = person()
    first = live_server.send(user, title="First one")["results"][0]["id"]
    live_server.send(user, title="Second one")
    with live_server.client(token) as client:
        client.post(f"/v1/notifications/{first}/read").raise_for_status()
    web = _signed_in(browser, user)
    page = web.get("/").text
    assert page.index("Second one") < page.index("First one")
    assert "1 unread" in page
    # the text marker beside the dot, for screen readers (live.js's words hold it once more)
    assert page.count('<span class="visually-hidden">Unread:</span>') == 1
    only_unread = web.get("/?unread=1").text
    assert "Second one" in only_unread and "First one" not in only_unread


def test_mark_read_archive_and_mark_all_read_from_the_inbox(live_server, person, browser):
    """The inbox forms change state for the caller, and read-all leaves later arrivals unread."""
    user, token = person()
    ids = [live_server.send(user, title=f"Numbered item {i}")["results"][0]["id"] for i in range(3)]
    web = _signed_in(browser, user)
    marked = web.post(f"/n/{ids[0]}/read", {"back": "/"}, page="/")
    # back where it was, the keyboard's place kept on the item, and a status message saying so
    assert marked.status_code == 303 and marked.headers["location"] == f"/?done=read#n-{ids[0]}"
    shown = web.get(marked.headers["location"]).text
    assert f'id="n-{ids[0]}" tabindex="-1"' in shown
    assert re.search(r'role="status" id="status" tabindex="-1">Marked read\.<', shown)
    assert _unread(live_server, token) == 2
    archived = web.post(f"/n/{ids[1]}/archive", {"back": "/?unread=1&done=read"}, page="/")
    assert archived.headers["location"] == "/?unread=1&done=archive#status"
    assert "Archived." in web.get(archived.headers["location"]).text
    assert "Numbered item 1" not in web.get("/").text

    # The page's read-all covers what it showed; something that arrives after does not count.
    page = web.get("/").text
    token_field = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    up_to = re.search(r'name="up_to" value="([^"]+)"', page).group(1)
    live_server.send(user, title="Arrived meanwhile")
    reply = web.http.post(
        "/read-all", data={"csrf_token": token_field, "up_to": up_to, "back": "/?unread=1"}
    )
    assert reply.headers["location"] == "/?unread=1&done=read-all#status"
    assert _unread(live_server, token) == 1
    assert "Arrived meanwhile" in web.get("/?unread=1").text


def test_forms_without_the_right_token_are_refused_and_change_nothing(live_server, person, browser):
    """A POST with no token, another session's token or a foreign Origin is 403 and changes
    nothing."""
    user, token = person()
    notification_id = live_server.send(user, title="Keep me unread")["results"][0]["id"]
    web = _signed_in(browser, user)
    other = _signed_in(browser, user)  # the same user's other session has another token
    foreign_token = other.csrf_token("/")
    own_token = web.csrf_token("/")
    attempts = [
        ({}, {}),
        ({"csrf_token": foreign_token}, {}),
        ({"csrf_token": own_token}, {"Origin": "https://evil.example"}),
        ({"csrf_token": own_token}, {"Sec-Fetch-Site": "cross-site"}),
    ]
    for data, headers in attempts:
        for path in (f"/n/{notification_id}/read", "/read-all", "/settings", "/logout"):
            reply = web.http.post(path, data=data, headers=headers)
            assert reply.status_code == 403, (path, data, headers)
    assert _unread(live_server, token) == 1
    assert web.get("/").status_code == 200  # still signed in: /logout was refused too


def test_settings_save_the_same_preferences_as_the_api(live_server, person, browser):
    """The settings page edits the API's preferences and checks them with the same rules."""
    user, token = person()
    web = _signed_in(browser, user)
    saved = web.post(
        "/settings",
        {
            "in_app_enabled": "on",
            "email_enabled": "on",
            "email": "me@acme.example",
            "push_urls": "ntfys://ntfy.example/topic\n",
            "digest_seconds": "120",
            "quiet_enabled": "on",
            "quiet_start": "22:30",
            "quiet_end": "06:45",
            "quiet_timezone": "Europe/Berlin",
            "timezone": "Asia/Kolkata",
        },
    )
    assert saved.status_code == 303
    assert "Your settings are saved." in web.get(saved.headers["location"]).text
    with live_server.client(token) as client:
        prefs = client.get("/v1/preferences").json()
    assert prefs == {
        "in_app_enabled": True,
        "email_enabled": True,
        "push_enabled": False,
        "digest_seconds": 120,
        "email": "me@acme.example",
        "push_urls": ["ntfys://ntfy.example/topic"],
        "quiet_hours": {"start": "22:30", "end": "06:45", "timezone": "Europe/Berlin"},
        "topics": {},
        "timezone": "Asia/Kolkata",
        "language": None,
    }
    typed = {"digest_seconds": "999999", "email": "typed@acme.example", "push_urls": "ntfys://x/y"}
    refused = web.post("/settings", typed)
    # named by its label, linked to and marked invalid; what was typed is still there
    assert refused.status_code == 422 and "Nothing was saved" in refused.text
    assert '<a href="#digest_seconds">Batch window in seconds</a>' in refused.text
    assert "digest seconds" not in refused.text and "digest_seconds:" not in refused.text
    assert re.search(r'id="digest_seconds"[^>]*value="999999" aria-invalid="true"', refused.text)
    assert ">ntfys://x/y</textarea>" in refused.text
    # the email field shows what was typed, and is not marked: only the refused field is
    email_field = re.search(r'<input id="email" [^>]*>', refused.text).group(0)
    assert 'value="typed@acme.example"' in email_field and "aria-invalid" not in email_field
    with live_server.client(token) as client:
        assert client.get("/v1/preferences").json() == prefs


def test_settings_refuse_a_push_url_that_leads_inside_on_the_page(live_server, person, browser):
    """The push-target rule holds on the settings page too: the page says why, and nothing is
    saved."""
    user, token = person()
    web = _signed_in(browser, user)
    with live_server.client(token) as client:
        before = client.get("/v1/preferences").json()
    form = {"in_app_enabled": "on", "digest_seconds": "300"}
    refused = web.post("/settings", form | {"push_urls": "json://169.254.169.254/latest/meta"})
    assert refused.status_code == 422
    assert "169.254.169.254, which is not a public address" in refused.text
    with live_server.client(token) as client:
        assert client.get("/v1/preferences").json() == before


def test_admin_console_is_403_for_users(person, browser):
    """/admin and its forms are for admins only."""
    user, _ = person()
    web = _signed_in(browser, user)
    assert web.get("/admin").status_code == 403
    token = web.csrf_token("/")
    reply = web.http.post("/admin/users", data={"csrf_token": token, "user_id": "sneaky"})
    assert reply.status_code == 403
    assert "Admin" not in web.get("/").text.split("<main")[0]  # no admin link in the menu


def test_admin_reviews_the_recipient_count_then_sends_once(live_server, person, browser):
    """The console shows how many people a send reaches before it sends; a repeated post of
    the same reviewed form is stored once."""
    admin, _ = person(admin=True)
    first, first_token = person()
    second, _ = person()
    web = _signed_in(browser, admin)
    form = {
        "audience": "some",
        "recipients": f"{first}, {second}",
        "title": "Office closed Friday",
        "summary": "Building maintenance",
        "severity": "warning",
    }
    review = web.post("/admin/send", {**form, "step": "review"}, page="/admin/send")
    assert review.status_code == 200 and "Send to 2 people?" in review.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', review.text).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', review.text).group(1)
    confirm = {**form, "step": "send", "idempotency_key": key, "csrf_token": token}
    sent = web.http.post("/admin/send", data=confirm)
    assert sent.status_code == 200 and "Sent to 2 of 2 recipient(s)." in sent.text
    again = web.http.post("/admin/send", data=confirm)
    assert "Sent to 0 of 2" in again.text and "2 already had it" in again.text
    assert _unread(live_server, first_token) == 1

    everyone = web.post(
        "/admin/send", {**form, "audience": "all", "step": "review"}, page="/admin/send"
    )
    users_page = web.get("/admin/users").text
    users = len(re.findall(r"<tr>", users_page)) - 1
    assert f"Send to {users} people?" in everyone.text


def test_the_send_review_names_unknown_user_ids_and_offers_no_send(person, browser):
    """A review naming user ids that do not exist says which ones, offers no "Send now" (the
    send would be refused as a whole), and "Change" brings the form back as it was typed."""
    admin, _ = person(admin=True)
    known, _ = person()
    web = _signed_in(browser, admin)
    form = {
        "audience": "some",
        "recipients": f"{known} nobody-at-all, {known}\nghost-2",
        "title": "Office closed Friday",
        "step": "review",
    }
    review = web.post("/admin/send", form, page="/admin/send")
    assert review.status_code == 200
    named = re.search(r'class="unknown-ids">([^<]*)<', review.text).group(1)
    assert named == "ghost-2, nobody-at-all"
    assert "2 of the user ids do not exist" in review.text
    assert "Send now" not in review.text and 'value="send"' not in review.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', review.text).group(1)
    back = web.http.post("/admin/send", data={**form, "step": "edit", "csrf_token": token})
    assert back.status_code == 200
    assert "nobody-at-all, " in back.text and "Office closed Friday" in back.text


def test_admin_creates_a_user_with_an_invite_and_makes_an_admin(live_server, person, browser):
    """Create shows a one-time sign-up link; make admin gives the admin scope."""
    admin, _ = person(admin=True)
    web = _signed_in(browser, admin)
    created = web.post(
        "/admin/users", {"user_id": "new-hire", "email": "n@acme.example"}, page="/admin/users"
    )
    assert created.status_code == 200
    link = re.search(r'id="invite-url" value="([^"]+)"', created.text).group(1)
    assert link.startswith("http://127.0.0.1:8000/invite/")
    assert "new-hire" in created.text and "Not yet" in created.text
    promoted = web.post("/admin/users/new-hire/admin", {"admin": "1"}, page="/admin/users")
    assert "new-hire is now an admin." in promoted.text
    newcomer = browser()
    path = link.removeprefix("http://127.0.0.1:8000")
    newcomer.post(path, {"password": PASSWORD, "password_confirm": PASSWORD})
    opened = newcomer.get("/admin")
    assert opened.status_code == 303 and opened.headers["location"] == "/admin/send"
    assert newcomer.get("/admin/users").status_code == 200
    taken = web.post("/admin/users", {"user_id": "new-hire"}, page="/admin/users")
    assert taken.status_code == 409 and "exists already" in taken.text
    self_demotion = web.post(f"/admin/users/{admin}/admin", {"admin": "0"}, page="/admin/users")
    assert self_demotion.status_code == 409
    assert "You cannot remove your own admin rights; ask another admin." in self_demotion.text


def test_an_unknown_page_is_an_html_404_and_an_unknown_api_path_stays_json(browser):
    """People get a page for a mistyped address; the API keeps its JSON error body."""
    web = browser()
    page = web.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    api = web.get("/v1/no-such-call")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_the_console_schedules_a_send_lists_it_and_cancels_it(live_server, person, browser):
    """The send form's "Send at" schedules (in each recipient's own time zone, or UTC) through
    the same service as the API; the Scheduled area lists it with a cancel button, and a
    cancelled schedule is never sent."""
    admin, _ = person(admin=True)
    user, token = person()
    web = _signed_in(browser, admin)
    form = {
        "audience": "some",
        "recipients": user,
        "title": "Team breakfast",
        "severity": "info",
        "event_name": "admin.message",
        "send_at": "2027-01-04T09:00",
        "send_at_zone": "local",
        "idempotency_key": "breakfast-1",
    }
    review = web.post("/admin/send", {**form, "step": "review"}, page="/admin/send")
    assert review.status_code == 200 and "in each recipient's own time zone" in review.text
    sent = web.post("/admin/send", {**form, "step": "send"}, page="/admin/send")
    assert sent.status_code == 200
    assert "Scheduled for 2027-01-04T09:00 in each one&#39;s time zone." in sent.text
    listed = web.get("/admin/scheduled")
    assert "Team breakfast" in listed.text and "scheduled" in listed.text
    with live_server.client(live_server.admin_token) as client:
        [schedule] = client.get("/v1/admin/scheduled").json()["schedules"]
    assert schedule["send_at_local"] == "2027-01-04T09:00" and schedule["user_ids"] == [user]
    cancelled = web.post(
        f"/admin/scheduled/{schedule['schedule_id']}/cancel", {}, page="/admin/scheduled"
    )
    assert cancelled.status_code == 200 and "Cancelled: it will not be sent." in cancelled.text
    with live_server.client(live_server.admin_token) as client:
        [schedule] = client.get("/v1/admin/scheduled").json()["schedules"]
    assert schedule["status"] == "cancelled"
    assert _unread(live_server, token) == 0

"""The console's answer to "why did Bob get no email?": a user's page with their preferences
(read-only) and last deliveries with the reason each went out or did not; and dismissing a
failed delivery from the deliveries page."""

import uuid

from tests.support.db import db_fetch
from tests.support.web import PASSWORD

NOT_FOUND = "There is nothing here, or it is not yours to see."


def _admin_browser(person, browser):
    admin, _ = person(admin=True)
    web = browser()
    assert web.sign_in(admin, PASSWORD).status_code == 303
    return web


def test_a_users_page_shows_preferences_and_why_each_delivery_went_or_not(
    live_server, person, browser
):
    """Console, user page: the user's switches and address as they set them (no form to change
    them), and per notification and channel the outcome with its reason."""
    bob, _ = person(email="bob@example.com", push_enabled=True, push_urls=["json://127.0.0.1:9/x"])
    live_server.send(bob, title="Disk almost full", severity="warning")
    live_server.send(bob, title="Nightly backup done", severity="success")
    web = _admin_browser(person, browser)

    users = web.get("/admin/users").text
    assert f'href="/admin/users/{bob}"' in users
    page = web.get(f"/admin/users/{bob}")
    assert page.status_code == 200
    text = page.text
    assert "bob@example.com" in text and "1 URL" in text
    assert "<form" not in text.split('id="preferences-title"')[1].split("</section>")[0]
    disk = text.split("Disk almost full")[1].split("Nightly backup done")[0]
    assert "channel switched off" in disk  # email: Bob never turned it on
    assert "queued" in disk  # push: on, with a URL
    backup = text.split("Nightly backup done")[1]
    assert backup.count("below warning") == 1 and "channel switched off" in backup


def test_a_users_page_is_for_admins_and_only_for_users_that_exist(live_server, person, browser):
    """Console, user page: 404 for no such user; 403 for someone who is not an admin."""
    web = _admin_browser(person, browser)
    missing = web.get("/admin/users/nobody-here")
    assert missing.status_code == 404 and NOT_FOUND in missing.text
    user, _ = person()
    plain = browser()
    assert plain.sign_in(user, PASSWORD).status_code == 303
    assert plain.get(f"/admin/users/{user}").status_code == 403


def test_a_failed_delivery_is_dismissed_from_the_deliveries_page(
    live_server, person, browser, database_url
):
    """Console, deliveries: Dismiss takes a failed delivery off the list (it stays stored)."""
    user, _ = person(email_enabled=True, email="gone@example.com")
    live_server.send(user, title="Bounced", severity="warning")
    db_fetch(
        database_url,
        "UPDATE deliveries SET status = 'failed', last_error = '550 no such user'"
        " WHERE user_id = $1",
        user,
    )
    [job] = db_fetch(database_url, "SELECT id FROM deliveries WHERE user_id = $1", user)
    web = _admin_browser(person, browser)
    assert "550 no such user" in web.get("/admin/deliveries").text
    dismissed = web.post(f"/admin/deliveries/{job['id']}/dismiss", {}, page="/admin/deliveries")
    assert dismissed.status_code == 200 and "dismissed" in dismissed.text
    assert "550 no such user" not in dismissed.text
    again = web.post(f"/admin/deliveries/{uuid.uuid4()}/dismiss", {}, page="/admin/deliveries")
    assert again.status_code == 404

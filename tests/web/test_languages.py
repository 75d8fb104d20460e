"""Which language a page speaks: the person's preference, else the browser's, else the
server's default; `<html lang>` says which."""

import re

from tests.support.web import PASSWORD


def _lang(page) -> str:
    return re.search(r'<html lang="(\w+)">', page.text).group(1)


def test_a_page_speaks_the_browsers_language_until_the_person_chooses_one(
    live_server, person, browser
):
    """Rule: preference > Accept-Language > TRAYBELL_DEFAULT_LANGUAGE (en)."""
    user, token = person()
    web = browser()
    assert _lang(web.get("/login")) == "en"
    hindi_browser = {"Accept-Language": "hi-IN,hi;q=0.9,en;q=0.5"}
    assert _lang(web.get("/login", headers=hindi_browser)) == "hi"
    assert web.sign_in(user, PASSWORD).status_code == 303
    inbox = web.get("/", headers=hindi_browser)
    assert _lang(inbox) == "hi" and "सेटिंग्स" in inbox.text and ">Settings<" not in inbox.text
    with live_server.client(token) as client:
        assert client.patch("/v1/preferences", json={"language": "en"}).json()["language"] == "en"
        assert client.patch("/v1/preferences", json={"language": "de"}).status_code == 422
    inbox = web.get("/", headers=hindi_browser)
    assert _lang(inbox) == "en" and ">Settings<" in inbox.text


def test_the_inbox_settings_and_a_notification_page_speak_hindi_around_the_senders_words(
    live_server, person, browser
):
    """Rule: a page in Hindi shows the catalog's Hindi for every fixed word (headings, buttons,
    counts in Indian grouping, notices, refusals), and what the sender wrote as they wrote it."""
    user, _token = person(language="hi")
    sent = live_server.send(user, title="Deploy finished", summary="api v2.3 is live")
    notification_id = sent["results"][0]["id"]
    live_server.send(user, title="Disk almost full", severity="warning")
    web = browser()
    assert web.sign_in(user, PASSWORD).status_code == 303

    inbox = web.get("/")
    assert _lang(inbox) == "hi"
    for hindi in ("इनबॉक्स", "2 अपठित", "सभी को पढ़ी गई चिह्नित करें", "संग्रह में रखें", "चेतावनी"):
        assert hindi in inbox.text
    assert "Deploy finished" in inbox.text and "Disk almost full" in inbox.text
    assert "Mark all read" not in inbox.text and "Archive<" not in inbox.text

    page = web.get(f"/n/{notification_id}")
    assert _lang(page) == "hi"
    for hindi in ("अपठित चिह्नित करें", "1 घंटे बाद याद दिलाएँ", "पढ़ी गई", "जानकारी"):
        assert hindi in page.text
    assert "api v2.3 is live" in page.text and "Mark unread" not in page.text

    settings = web.get("/settings")
    for hindi in ("सेटिंग्स सहेजें", "शांत समय", "ईमेल पता", "पासवर्ड बदलें"):
        assert hindi in settings.text
    saved = web.get("/settings?done=saved")
    assert "आपकी सेटिंग्स सहेज ली गई हैं।" in saved.text
    refused = web.post("/settings", {"in_app_enabled": "on", "digest_seconds": "-1"})
    assert refused.status_code == 422
    assert "कुछ भी सहेजा नहीं गया" in refused.text and "सारांश की अवधि (सेकंड में)" in refused.text

    missing = web.get("/n/not-a-notification")
    assert missing.status_code == 404 and "नहीं मिला" in missing.text
    assert "यहाँ कुछ नहीं है, या इसे देखना आपके लिए नहीं है।" in missing.text

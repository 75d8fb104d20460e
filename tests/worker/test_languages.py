"""Emails and pushes speak their recipient's language (else TRAYBELL_DEFAULT_LANGUAGE): the
fixed words only; what the sender wrote reaches them as written."""

import asyncio
import re
from datetime import UTC, datetime

from server.channels import render
from server.onboarding import Invite, email_invites
from shared.i18n import use_language
from shared.privacy import ExternalText
from tests.support import live
from tests.worker.support import html_of, text_of

TITLE = "Critical: disk full on db-1"


def _headers(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers are ASCII, or this raises


def test_an_email_and_a_push_to_a_hindi_reader_have_hindi_fixed_words(
    live_server, smtp, push, start_worker
):
    """Recipient's language: a user whose language is hi gets the subject's severity word, the
    body's fixed lines and the footer in Hindi, the title as the sender wrote it (English
    words included), the same headers as in English, and a one-line Subject sent as RFC 2047
    encoded words."""
    user, _ = live_server.create_user(
        email_enabled=True,
        email="hi@example.com",
        push_enabled=True,
        push_urls=[push.url()],
        language="hi",
    )
    start_worker(smtp_url=smtp.url)
    live_server.send(user, title=TITLE, summary="Only 2 % left", severity="critical")

    [message] = smtp.mailbox.wait_for(1)
    assert message["Subject"] == f"[गंभीर] {TITLE}"
    text = text_of(message)
    assert text.startswith(f"{TITLE}\nOnly 2 % left\n\nगंभीरता: गंभीर\nखोलें: http")
    assert "आपको Traybell से चेतावनी और गंभीर सूचनाएँ मिलती हैं।" in text
    assert "क्या मिले, यह बदलें: http://127.0.0.1:8000/settings" in text
    unsubscribe = re.search(r"ये ईमेल बंद करें: (\S+)", text)
    assert unsubscribe, text
    assert message["List-Unsubscribe"] == f"<{unsubscribe[1]}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    html = html_of(message)
    assert ">Traybell में खोलें</a>" in html and ">ये ईमेल बंद करें</a>" in html
    headers = _headers(smtp.mailbox.raw[0])
    [subject] = re.findall(r"^Subject:(.*(?:\r\n[ \t].*)*)", headers, re.MULTILINE)
    assert "=?utf-8?" in subject.lower()
    assert "\n" not in message["Subject"]

    [pushed] = push.wait_for(1)
    assert pushed["title"] == f"[गंभीर] {TITLE}"
    assert "गंभीरता: गंभीर" in pushed["message"]


def test_a_user_without_a_language_gets_the_servers_default(live_server, smtp, start_worker):
    """Default language: with TRAYBELL_DEFAULT_LANGUAGE=hi, a user who chose none gets Hindi;
    one who chose English gets English, word for word as before."""
    nobody, _ = live_server.create_user(email_enabled=True, email="none@example.com")
    english, _ = live_server.create_user(email_enabled=True, email="en@example.com", language="en")
    start_worker(smtp_url=smtp.url, default_language="hi")
    live_server.send(nobody, title="Backup late", severity="critical")
    live_server.send(english, title="Backup late", severity="critical")

    by_recipient = {m["To"]: m for m in smtp.mailbox.wait_for(2)}
    assert by_recipient["none@example.com"]["Subject"] == "[गंभीर] Backup late"
    assert "ये ईमेल बंद करें: " in text_of(by_recipient["none@example.com"])
    assert by_recipient["en@example.com"]["Subject"] == "[Critical] Backup late"
    assert "Stop these emails: " in text_of(by_recipient["en@example.com"])


def test_a_hindi_digest_counts_in_hindi(live_server, smtp, start_worker):
    """Digest in the recipient's language: "3 नई सूचनाएँ: ..." (the plural form, the count as
    Hindi writes it), the titles as written, the highest severity in Hindi."""
    user, _ = live_server.create_user(
        email_enabled=True, email="digest@example.com", digest_seconds=2, language="hi"
    )
    start_worker(smtp_url=smtp.url)
    titles = ["Build 1 failed", "Build 2 failed", "Build 3 failed"]
    for title in titles:
        live_server.send(user, title=title, severity="warning", batch_key="ci")

    [digest] = smtp.mailbox.wait_for(1)
    headline = "3 नई सूचनाएँ: Build 1 failed, Build 2 failed, Build 3 failed"
    assert digest["Subject"].strip() == headline
    assert text_of(digest).startswith(headline + "\n")
    assert "सबसे ऊँची गंभीरता: चेतावनी" in text_of(digest)
    assert "<strong>3 नई सूचनाएँ</strong>" in html_of(digest)


def _item(n: int) -> ExternalText:
    return ExternalText(
        title=f"Title {n}", summary=None, severity="info", link=f"http://127.0.0.1:8000/n/{n}"
    )


def test_what_quiet_hours_held_is_counted_in_the_language_in_use():
    """Quiet hours' digest: its heading in Hindi with the plural form; English unchanged."""
    items = [_item(n) for n in range(3)]
    with use_language("hi"):
        assert render(items, held_by_quiet_hours=True).subject == "शांत समय के दौरान: 3 सूचनाएँ"
    assert render(items, held_by_quiet_hours=True).subject == (
        "While quiet hours were on: 3 notifications"
    )


def test_an_invite_is_emailed_in_the_servers_default_language(smtp):
    """Invite: a new account has no language yet, so its email speaks the server's default."""
    invite = Invite(
        "new-person",
        "new@example.com",
        "http://127.0.0.1:8000/invite/x",
        datetime(2026, 12, 9, 12, 0, tzinfo=UTC),
    )
    settings = live.test_settings(smtp_url=smtp.url, default_language="hi")
    assert asyncio.run(email_invites([invite], settings)) == []
    [message] = smtp.mailbox.wait_for(1)
    assert message["Subject"] == "आपका Traybell खाता: पासवर्ड चुनें"
    assert "2026-12-09 12:00 UTC से पहले यहाँ अपना पासवर्ड चुनें:" in text_of(message)
    assert "2026-12-09 12:00 UTC से पहले <a href=" in html_of(message)
    assert ">अपना पासवर्ड चुनें</a>।" in html_of(message)

"""The catalog stays whole: every message the code and the templates ask for has its Hindi,
with the same placeholders, and the pages speak the language they are asked for."""

import re
from pathlib import Path

import jinja2
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from shared.i18n import LOCALE_DIR, negotiate, ngettext, use_language
from shared.timefmt import relative_time

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "server" / "web" / "templates"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}


def _extracted() -> dict[str, str | None]:
    """msgid -> msgid_plural (or None) for every message the product's code asks for."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, str | None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, tuple):
            found[message[0]] = message[1]
        else:
            found[message] = None
    return found


def _hindi():
    with (LOCALE_DIR / "hi" / "LC_MESSAGES" / "traybell.po").open("rb") as po:
        return read_po(po, locale="hi")


def test_every_message_has_its_hindi_with_the_same_placeholders():
    """Rule: no English left in a Hindi page, and no translation that drops or invents a value."""
    catalog = _hindi()
    extracted = _extracted()
    assert extracted, "extraction found nothing: babel.cfg no longer matches the code"
    missing, wrong = [], []
    for msgid, plural in extracted.items():
        entry = catalog.get(msgid)
        translations = (
            ([entry.string] if isinstance(entry.string, str) else list(entry.string))
            if entry
            else []
        )
        if not entry or entry.fuzzy or not all(translations):
            missing.append(msgid)
            continue
        wanted = set(PLACEHOLDER.findall(msgid)) | set(PLACEHOLDER.findall(plural or ""))
        if any(set(PLACEHOLDER.findall(text)) != wanted for text in translations):
            wrong.append(msgid)
    assert not missing, f"messages without Hindi: {missing}"
    assert not wrong, f"Hindi whose placeholders differ from the English: {wrong}"


def test_the_catalog_holds_no_message_the_code_no_longer_asks_for():
    """Rule: the catalog is the code's, not a history (stale entries hide missing ones)."""
    extracted = _extracted()
    stale = [message.id for message in _hindi() if message.id and _key(message.id) not in extracted]
    assert not stale, f"translations nothing asks for: {stale}"


def _key(msgid: str | tuple[str, ...]) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def _text_outside_translation(source: str) -> list[str]:
    """English words a template shows without passing them through the catalog: text between
    tags and the attributes people read (alt, title, aria-label, placeholder), outside
    {% trans %} blocks; every expression stands as one neutral mark."""
    environment = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    shown, in_trans = [], False
    for _line, kind, value in environment.lex(source):
        if kind == "name" and value in ("trans", "pluralize"):
            in_trans = True
        elif kind == "name" and value == "endtrans":
            in_trans = False
        shown.append(value if kind == "data" and not in_trans else "\x00")
    # code shown to be copied (a configuration, a command) is for machines, never translated
    page = re.sub(r"<(pre|code)\b.*?</\1>", " ", "".join(shown), flags=re.S)
    readable = re.findall(r'(?:alt|title|aria-label|placeholder)="([^"]*)"', page)
    text = " ".join([re.sub(r"<[^>]*>", " ", page), *readable])
    text = re.sub(r"<!--.*?-->|&\w+;", " ", text)
    return re.findall(r"[A-Za-z][A-Za-z']+", text)


#: Every template: a new English literal in any of them fails.
TRANSLATED_TEMPLATES = sorted(
    str(path.relative_to(TEMPLATES)) for path in TEMPLATES.glob("**/*.html")
)
#: Words no language translates: product names (ours and the sources an integration connects),
#: and each language named in itself (the settings page's choice, so a person who reads only
#: that language finds it).
UNTRANSLATED_WORDS = {"Traybell", "Gotify", "ntfy", "English"}


@pytest.mark.parametrize("name", TRANSLATED_TEMPLATES)
def test_a_translated_template_shows_no_english_of_its_own(name):
    """Rule: a word on a page goes through the catalog, or a Hindi page shows English."""
    words = [
        w
        for w in _text_outside_translation((TEMPLATES / name).read_text())
        if w not in UNTRANSLATED_WORDS
    ]
    assert not words, f"{name} shows untranslated words: {words}"


def test_hindi_counts_group_digits_as_india_does_and_ages_read_in_hindi():
    """Rule: numbers and relative times follow CLDR for the language."""
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    with use_language("hi"):
        assert ngettext("%(num)s day ago", "%(num)s days ago", 1234567) == "12,34,567 दिन पहले"
        assert relative_time(now - timedelta(minutes=5), now) == "5 मिनट पहले"
    with use_language("en"):
        assert relative_time(now - timedelta(minutes=5), now) == "5 min ago"
        assert ngettext("%(num)s day ago", "%(num)s days ago", 1234567) == "1,234,567 days ago"


def test_the_browser_language_is_chosen_by_its_weights():
    """Rule: pages fall back to Accept-Language (by q-value) before the server's default."""
    assert negotiate("de, hi-IN;q=0.8, en;q=0.5") == "hi"
    assert negotiate("en-GB, hi;q=0.9") == "en"
    assert negotiate("fr, de") is None
    assert negotiate("hi;q=0, en;q=0.1") == "en"


def test_no_message_is_in_the_catalog_twice():
    """Rule: one translation per message. Babel keeps the last of two silently (msgfmt refuses
    them), so a word two parts of the product need (a severity, say) is in one section only."""
    text = (LOCALE_DIR / "hi" / "LC_MESSAGES" / "traybell.po").read_text(encoding="utf-8")
    ids = [
        "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', entry))
        for entry in re.findall(r'^msgid ("(?:[^"\\]|\\.)*"(?:\n"(?:[^"\\]|\\.)*")*)', text, re.M)
    ]
    twice = sorted({msgid for msgid in ids if msgid and ids.count(msgid) > 1})
    assert not twice, f"messages in the catalog more than once (keep one): {twice}"

"""The product's words in English and Hindi: one gettext catalog for the pages, the emails and
the tray, and CLDR's formats for numbers, dates and relative times.

- Source strings are English, so English needs no catalog. Hindi's is
  `shared/locale/hi/LC_MESSAGES/traybell.po`, extracted by `pybabel extract -F babel.cfg`
  (see the README) and read by Babel when a process first needs it: there is no compiled `.mo`
  to commit, to forget to build, or to fall behind its `.po`.
- The language of the work at hand is a context variable (`use_language`), set per page request
  by the server, per message by the worker and once by the tray; `gettext` and `ngettext` read
  it, so a template or a widget never passes a language around.
- What a sender wrote (title, summary, body) never goes through here.
"""

import contextlib
import contextvars
import functools
import gettext as _gettext
import io
from collections.abc import Iterator
from pathlib import Path

LANGUAGES = ("en", "hi")
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "traybell"

_language: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "traybell_language", default=None
)
#: What `set_language` chose: a thread starts with an empty context, so the tray's worker and
#: sign-in threads read the process's language from here, not from the context variable.
_process_language = DEFAULT_LANGUAGE


def supported(language: str | None) -> str | None:
    """The language if Traybell speaks it ("hi-IN" counts as "hi"), else None."""
    if not language:
        return None
    base = language.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def negotiate(accept_language: str | None) -> str | None:
    """The first language of an `Accept-Language` header that Traybell speaks, by its q-values."""
    if not accept_language:
        return None
    ranked = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0 and (language := supported(tag)):
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    """The catalog of a language, compiled from its `.po` once per process."""
    if language == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    # Babel only where a catalog is read: the tray's start pays for it only in Hindi.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def current_language() -> str:
    return _language.get() or _process_language


@contextlib.contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Speaks `language` (or the default, when it is none Traybell speaks) inside the block."""
    chosen = supported(language) or DEFAULT_LANGUAGE
    token = _language.set(chosen)
    try:
        yield chosen
    finally:
        _language.reset(token)


def set_language(language: str | None) -> str:
    """For a process that speaks one language for its life (the tray)."""
    global _process_language
    _process_language = supported(language) or DEFAULT_LANGUAGE
    return _process_language


def translate(message: str) -> str:
    """The message in the current language, its placeholders left as they are."""
    return translations(current_language()).gettext(message)


def translate_plural(singular: str, plural: str, n: int) -> str:
    return translations(current_language()).ngettext(singular, plural, n)


def gettext(message: str, **values: object) -> str:
    """The message in the current language, with `%(name)s` placeholders filled from `values`."""
    text = translate(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    """`num` is always a placeholder of a plural message (the count, grouped as the language
    groups digits)."""
    return translate_plural(singular, plural, n) % {"num": format_number(n), **values}


def babel_locale() -> str:
    """The CLDR locale of the current language (Hindi as written in India)."""
    return "hi_IN" if current_language() == "hi" else "en"


def format_number(number: int) -> str:
    """CLDR's grouping for the language: Hindi groups as India does (12,34,567)."""
    if current_language() == "en":
        return f"{number:,}"  # no CLDR data needed for English
    from babel.numbers import format_decimal

    return format_decimal(number, locale=babel_locale())


class LazyText:
    """A message translated when it is shown, not when it is made: a module's table of notices
    is built at import and a page handler runs before its page's language is chosen, so both
    keep the English and the page turns it into its language as it renders (`str()`)."""

    __slots__ = ("message", "values")

    def __init__(self, message: str, values: dict[str, object]):
        self.message, self.values = message, values

    def __str__(self) -> str:
        return gettext(self.message, **self.values)


#: A text a page shows: plain, or translated as the page renders.
Shown = str | LazyText


def lazy_gettext(message: str, **values: object) -> LazyText:
    """`gettext`, put off until the text is shown (in the language of the page at hand)."""
    return LazyText(message, values)

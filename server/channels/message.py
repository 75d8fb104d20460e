"""One external message, rendered from the privacy-safe face of its notifications alone.

Its fixed words (subject words, digest headings, the footer) are in the language in use
(shared/i18n.py: the worker sets the recipient's); what the sender wrote is never translated.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Protocol

from shared.i18n import gettext, ngettext
from shared.privacy import ExternalText, shorten

SEVERITY_ORDER = ("info", "success", "warning", "critical")
#: Subject lines beyond this are cut: mail clients show about this much anyway.
SUBJECT_LIMIT = 150


class TransientError(Exception):
    """The send may work later: a 4xx answer, a refused or dropped connection, a timeout."""


class PermanentError(Exception):
    """The send will not work as it stands: a 5xx answer, an address the provider rejects."""


class RenderError(PermanentError):
    """The message cannot be rendered or built for its channel: sending it again renders it
    again, and fails again."""


@dataclass(frozen=True)
class Footer:
    """Where the reader changes what they get: the settings page and, for email, a one-click
    unsubscribe link (RFC 8058)."""

    settings_url: str
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    severity: str
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Envelope:
    """A rendered message and where it goes (an email address, or the user's push URLs)."""

    delivery_id: str
    recipients: tuple[str, ...]
    message: Message


class Transport(Protocol):
    async def send(self, envelope: Envelope) -> None: ...

    async def close(self) -> None:
        """Let go of what is kept between sends (open connections); once, at the worker's stop."""
        ...


def render(
    items: Sequence[ExternalText],
    footer: Footer | None = None,
    *,
    held_by_quiet_hours: bool = False,
) -> Message:
    """One message for a job: plain for one notification, a list of titles for a digest (one
    that says so for what the user's quiet hours held), each with the footer's links after it.

    Raises `RenderError` whatever goes wrong (the texts are one line each already: see
    shared.privacy).
    """
    if not items:
        raise RenderError("a message needs at least one notification")
    try:
        if len(items) == 1:
            message = _single(items[0])
        elif held_by_quiet_hours:
            heading = ngettext(
                "While quiet hours were on: %(num)s notification",
                "While quiet hours were on: %(num)s notifications",
                len(items),
            )
            message = _digest(items, headline=heading, heading=heading)
        else:
            message = _digest(
                items,
                headline=ngettext(
                    "%(num)s new: %(titles)s",
                    "%(num)s new: %(titles)s",
                    len(items),
                    titles=", ".join(item.title for item in items),
                ),
                heading=ngettext(
                    "%(num)s new notification", "%(num)s new notifications", len(items)
                ),
            )
        return _with_footer(message, footer) if footer else message
    except Exception as exc:
        raise RenderError(f"the message cannot be rendered: {type(exc).__name__}: {exc}") from exc


def _with_footer(message: Message, footer: Footer) -> Message:
    why = gettext("You receive warnings and critical alerts from Traybell.")
    text = ["", "--", why, gettext("Change what you get: %(url)s", url=footer.settings_url)]
    # (Each word outside the f-strings: the extraction does not look inside them.)
    change = gettext("Change what you get")
    html = [f'<p>{escape(why)} <a href="{escape(footer.settings_url)}">{escape(change)}</a>']
    if footer.unsubscribe_url:
        text.append(gettext("Stop these emails: %(url)s", url=footer.unsubscribe_url))
        stop = gettext("Stop these emails")
        html.append(f' · <a href="{escape(footer.unsubscribe_url)}">{escape(stop)}</a>')
    html.append("</p>")
    body_end = message.html.rindex("</body>")
    return Message(
        subject=message.subject,
        text=message.text + "\n".join(text) + "\n",
        html=message.html[:body_end] + "<hr>" + "".join(html) + message.html[body_end:],
        severity=message.severity,
        unsubscribe_url=footer.unsubscribe_url,
    )


def _label(severity: str) -> str:
    labels = {
        "info": gettext("Info"),
        "success": gettext("Success"),
        "warning": gettext("Warning"),
        "critical": gettext("Critical"),
    }
    return labels[severity]


def _single(item: ExternalText) -> Message:
    lines = [item.title]
    if item.summary:
        lines.append(item.summary)
    severity = gettext("Severity: %(severity)s", severity=_label(item.severity))
    lines += ["", severity, gettext("Open: %(link)s", link=item.link)]
    summary = f"<p>{escape(item.summary)}</p>" if item.summary else ""
    open_link = gettext("Open in Traybell")
    html = (
        f"<p><strong>{escape(item.title)}</strong></p>{summary}"
        f"<p>{escape(severity)}</p>"
        f'<p><a href="{escape(item.link)}">{escape(open_link)}</a></p>'
    )
    return Message(
        subject=f"[{_label(item.severity)}] {item.title}",
        text="\n".join(lines) + "\n",
        html=_document(html),
        severity=item.severity,
    )


def _digest(items: Sequence[ExternalText], *, headline: str, heading: str) -> Message:
    """`headline` opens the text and is the subject; `heading` opens the HTML."""
    # A digest lists titles only: summaries of many notifications would make a wall of text.
    severity = max((item.severity for item in items), key=SEVERITY_ORDER.index)
    lines = [headline, ""]
    for item in items:
        lines += [f"- {item.title}", f"  {item.link}"]
    highest = gettext("Highest severity: %(severity)s", severity=_label(severity))
    lines += ["", highest]
    entries = "".join(
        f'<li><a href="{escape(item.link)}">{escape(item.title)}</a></li>' for item in items
    )
    html = f"<p><strong>{escape(heading)}</strong></p><ul>{entries}</ul><p>{escape(highest)}</p>"
    return Message(
        subject=shorten(headline, SUBJECT_LIMIT),
        text="\n".join(lines) + "\n",
        html=_document(html),
        severity=severity,
    )


def _document(body: str) -> str:
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'

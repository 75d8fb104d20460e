"""One external message, rendered from the privacy-safe face of its notifications alone."""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Protocol

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
            heading = f"While quiet hours were on: {len(items)} notifications"
            message = _digest(items, headline=heading, heading=heading)
        else:
            titles = ", ".join(item.title for item in items)
            message = _digest(
                items,
                headline=f"{len(items)} new: {titles}",
                heading=f"{len(items)} new notifications",
            )
        return _with_footer(message, footer) if footer else message
    except Exception as exc:
        raise RenderError(f"the message cannot be rendered: {type(exc).__name__}: {exc}") from exc


WHY_YOU_GET_THIS = "You receive warnings and critical alerts from Traybell."


def _with_footer(message: Message, footer: Footer) -> Message:
    text = ["", "--", WHY_YOU_GET_THIS, f"Change what you get: {footer.settings_url}"]
    html = [
        f"<p>{escape(WHY_YOU_GET_THIS)} "
        f'<a href="{escape(footer.settings_url)}">Change what you get</a>'
    ]
    if footer.unsubscribe_url:
        text.append(f"Stop these emails: {footer.unsubscribe_url}")
        html.append(f' · <a href="{escape(footer.unsubscribe_url)}">Stop these emails</a>')
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
    return severity.capitalize()


def _single(item: ExternalText) -> Message:
    lines = [item.title]
    if item.summary:
        lines.append(item.summary)
    lines += ["", f"Severity: {_label(item.severity)}", f"Open: {item.link}"]
    summary = f"<p>{escape(item.summary)}</p>" if item.summary else ""
    html = (
        f"<p><strong>{escape(item.title)}</strong></p>{summary}"
        f"<p>Severity: {escape(_label(item.severity))}</p>"
        f'<p><a href="{escape(item.link)}">Open in Traybell</a></p>'
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
    lines += ["", f"Highest severity: {_label(severity)}"]
    entries = "".join(
        f'<li><a href="{escape(item.link)}">{escape(item.title)}</a></li>' for item in items
    )
    html = (
        f"<p><strong>{escape(heading)}</strong></p><ul>{entries}</ul>"
        f"<p>Highest severity: {escape(_label(severity))}</p>"
    )
    return Message(
        subject=shorten(headline, SUBJECT_LIMIT),
        text="\n".join(lines) + "\n",
        html=_document(html),
        severity=severity,
    )


def _document(body: str) -> str:
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'

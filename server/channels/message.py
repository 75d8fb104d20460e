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
class Message:
    subject: str
    text: str
    html: str
    severity: str


@dataclass(frozen=True)
class Outgoing:
    """A rendered message and where it goes (an email address, or the user's push URLs)."""

    delivery_id: str
    recipients: tuple[str, ...]
    message: Message


class Transport(Protocol):
    async def send(self, outgoing: Outgoing) -> None: ...


def render(items: Sequence[ExternalText]) -> Message:
    """One message for a job: plain for one notification, a list of titles for a digest.

    Raises `RenderError` whatever goes wrong (the texts are one line each already: see
    shared.privacy).
    """
    if not items:
        raise RenderError("a message needs at least one notification")
    try:
        return _single(items[0]) if len(items) == 1 else _digest(items)
    except Exception as exc:
        raise RenderError(f"the message cannot be rendered: {type(exc).__name__}: {exc}") from exc


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


def _digest(items: Sequence[ExternalText]) -> Message:
    # A digest lists titles only: summaries of many notifications would make a wall of text.
    severity = max((item.severity for item in items), key=SEVERITY_ORDER.index)
    headline = f"{len(items)} new: " + ", ".join(item.title for item in items)
    lines = [headline, ""]
    for item in items:
        lines += [f"- {item.title}", f"  {item.link}"]
    lines += ["", f"Highest severity: {_label(severity)}"]
    entries = "".join(
        f'<li><a href="{escape(item.link)}">{escape(item.title)}</a></li>' for item in items
    )
    html = (
        f"<p><strong>{len(items)} new notifications</strong></p><ul>{entries}</ul>"
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

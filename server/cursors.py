"""Opaque cursors: what they hold is the server's business, and a damaged one is refused.

Each kind has one fixed shape, a letter and lowercase hex, so that its pattern in the OpenAPI
document is exactly the set of cursors this server takes: every string matching it is a
position (perhaps past the end), and anything else is 400.
"""

import base64
import binascii
import re
import uuid
from dataclasses import dataclass

_NIL = uuid.UUID(int=0)
#: A version: 16 hex digits, at most 2^63 - 1 (PostgreSQL's bigint).
_VERSION = "[0-7][0-9a-f]{15}"

SYNC_CURSOR_PATTERN = f"^s{_VERSION}[0-9a-f]{{32}}$"
PAGE_CURSOR_PATTERN = f"^p{_VERSION}$"


class InvalidCursor(ValueError):
    pass


class ResyncRequired(InvalidCursor):
    """A well-formed sync cursor this database cannot have issued: it names a change the
    database does not hold (it was restored to an earlier state, rebuilt or replaced). The
    client's copy is not this database's past: it starts again from the beginning."""

    def __init__(self) -> None:
        super().__init__("this database has no record of the change the cursor names")


@dataclass(frozen=True, order=True)
class SyncCursor:
    """A position in one user's change stream: (version, id) of the last change seen."""

    version: int = 0
    id: uuid.UUID = _NIL

    def encode(self) -> str:
        return f"s{self.version:016x}{self.id.hex}"

    @classmethod
    def decode(cls, text: str) -> "SyncCursor":
        if re.fullmatch(SYNC_CURSOR_PATTERN, text):
            return cls(int(text[1:17], 16), uuid.UUID(hex=text[17:]))
        kind, version, ident = _decode_earlier(text, parts=3)
        if kind != "s":
            raise InvalidCursor("not a sync cursor")
        try:
            return cls(_version(version), uuid.UUID(hex=ident))
        except ValueError:
            raise InvalidCursor("damaged sync cursor") from None


@dataclass(frozen=True)
class PageCursor:
    """Where a newest-first listing goes on: before this creation version."""

    before_version: int

    def encode(self) -> str:
        return f"p{self.before_version:016x}"

    @classmethod
    def decode(cls, text: str) -> "PageCursor":
        if re.fullmatch(PAGE_CURSOR_PATTERN, text):
            return cls(int(text[1:], 16))
        kind, version = _decode_earlier(text, parts=2)
        if kind != "p":
            raise InvalidCursor("not a page cursor")
        try:
            return cls(_version(version))
        except ValueError:
            raise InvalidCursor("damaged page cursor") from None


# Cursors of the first release were base64 of "s:<version>:<id hex>" or "p:<version>". They are
# still read, so that a tray's stored cursor and a read-all queued before an upgrade keep their
# place; none is issued any more, and the document describes only the current shape.


def _version(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:
        raise ValueError("version out of range")
    return value


def _decode_earlier(text: str, parts: int) -> list[str]:
    if not text or len(text) > 200:
        raise InvalidCursor("cursor has the wrong length")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor is not one this server made") from None
    fields = raw.split(":")
    if len(fields) != parts or not all(f.isalnum() for f in fields):
        raise InvalidCursor("cursor is not one this server made")
    return fields

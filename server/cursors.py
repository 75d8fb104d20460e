"""Opaque cursors: what they hold is the server's business, and a damaged one is refused."""

import base64
import binascii
import uuid
from dataclasses import dataclass

_NIL = uuid.UUID(int=0)


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True, order=True)
class SyncCursor:
    """A position in one user's change stream: (version, id) of the last change seen."""

    version: int = 0
    id: uuid.UUID = _NIL

    def encode(self) -> str:
        return _encode(f"s:{self.version}:{self.id.hex}")

    @classmethod
    def decode(cls, text: str) -> "SyncCursor":
        kind, version, ident = _decode(text, parts=3)
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
        return _encode(f"p:{self.before_version}")

    @classmethod
    def decode(cls, text: str) -> "PageCursor":
        kind, version = _decode(text, parts=2)
        if kind != "p":
            raise InvalidCursor("not a page cursor")
        try:
            return cls(_version(version))
        except ValueError:
            raise InvalidCursor("damaged page cursor") from None


def _version(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:
        raise ValueError("version out of range")
    return value


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(text: str, parts: int) -> list[str]:
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

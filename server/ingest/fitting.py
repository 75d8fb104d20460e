"""Making a source's text fit the send's limits: a source cannot adapt to them, so its text is
cut, never refused (contract, "Ingest"). Every kind of source fits its fields here."""

import hashlib
import json
import math
import re
from typing import Any

from server.api.schemas import EVENT_NAME_PATTERN, MAX_DATA_BYTES, TARGET_URL_PATTERN

TITLE_MAX = 200
SUMMARY_MAX = 140
BODY_MAX = 5000
KEY_MAX = 200
EVENT_NAME_MAX = 100
TARGET_URL_MAX = 2000
_HASH_HEX = 64


def storable(text: str) -> str:
    """Without what PostgreSQL cannot store: NUL characters and lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` - 1 characters and `…` when it is longer."""
    text = storable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def title(text: str, fallback: str) -> str:
    """A title of 1-200 characters: `fallback` when the text is blank."""
    return cut(text.strip() or fallback, TITLE_MAX)


def summary(message: str) -> str:
    """The first line of the message, cut to the summary's 140 characters."""
    lines = message.strip().splitlines()
    return cut(lines[0].strip(), SUMMARY_MAX) if lines else ""


def body(text: str) -> str:
    return cut(text, BODY_MAX)


def key(text: str) -> str:
    """An idempotency or batch key of at most 200 characters. A longer one keeps its start and
    ends with its hash, so that two long keys stay apart (a plain cut could make them equal)."""
    text = storable(text)
    if len(text) <= KEY_MAX:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text[: KEY_MAX - _HASH_HEX - 1] + "#" + digest


def event_name(prefix: str, name: str) -> str:
    """`prefix` + the name lower-cased, each character outside the allowed set as `_`."""
    fitted = (prefix + re.sub(r"[^a-z0-9._:-]", "_", name.lower()))[:EVENT_NAME_MAX]
    assert re.fullmatch(EVENT_NAME_PATTERN, fitted), fitted
    return fitted


def target_url(url: str | None) -> str | None:
    """The link when it is an http(s) URL the send takes, else none."""
    if not url or len(url) > TARGET_URL_MAX or not re.fullmatch(TARGET_URL_PATTERN, url):
        return None
    return url if url[:4].lower() == "http" else None


def _storable_json(value: Any) -> Any:
    """JSON PostgreSQL stores: storable strings and keys, no NaN or Infinity (as null)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable(str(k)): _storable_json(v) for k, v in value.items()}
    return value


def data(value: dict[str, Any]) -> dict[str, Any]:
    """The source's own fields for the app, when they fit the send's 16 KiB; else none."""
    value = _storable_json(value)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    return value if size <= MAX_DATA_BYTES else {}

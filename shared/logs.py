"""Log lines for people (`text`) or for log collectors (`json`, one object per line), with the
id of the request or delivery being handled. Standard library only: every install logs.

What goes into a line is chosen where it is logged; nothing here adds a token, password,
session id, or a notification's body or data."""

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

#: The X-Request-ID of the request being handled, if any.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
#: The delivery a worker is sending, if any.
delivery_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "delivery_id", default=None
)

#: Extra fields a log call may pass (`extra={...}`) that the JSON lines carry.
FIELDS = ("method", "route", "status", "duration_ms")


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.delivery_id = delivery_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "delivery_id", *FIELDS):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(
            f"{name}={getattr(record, name)}"
            for name in ("request_id", "delivery_id")
            if getattr(record, name, None)
        )
        return f"{text} [{ids}]" if ids else text


def configure(log_format: str = "text", *, verbose: bool = False) -> None:
    """Logging to standard error in `log_format` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_Context())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)

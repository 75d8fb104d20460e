"""Reading a /v1/events stream in a thread of the test, as a client would, line by line."""

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    id: str
    page: dict[str, Any]


@dataclass
class StreamReader:
    """Opens the stream and collects what it gets until the server ends it or `close()`."""

    url: str
    token: str
    cursor: str | None = None
    last_event_id: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: bool = False
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(60, read=None))
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._opened.wait(60)

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        params = {"cursor": self.cursor} if self.cursor is not None else {}
        try:
            with self._client.stream("GET", "/v1/events", params=params, headers=headers) as r:
                self.status, self.headers = r.status_code, dict(r.headers)
                self._opened.set()
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif line:
                        name, _, value = line.partition(": ")
                        fields[name] = value
                    elif fields:
                        assert fields["event"] == "sync", fields
                        self.events.append(Event(fields["id"], json.loads(fields["data"])))
                        fields = {}
        except Exception as exc:  # closed under it by close(), or a broken stream
            self.error = exc
        finally:
            self.ended = True
            self._opened.set()

    def changes(self) -> list[dict[str, Any]]:
        return [change for event in self.events for change in event.page["changes"]]

    def close(self) -> None:
        self._client.close()
        self._thread.join(30)

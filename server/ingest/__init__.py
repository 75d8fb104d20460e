"""Sources that send in their own format (contract, "Ingest"): one module per kind, each a pure
mapping from a payload to the service's send input (server.service.Outgoing). The handlers in
server/api/ingest.py authenticate and answer; server/integrations.py sends through the one
send path."""

from dataclasses import dataclass
from typing import Literal

Kind = Literal["alertmanager", "gotify", "ntfy"]
KINDS: tuple[Kind, ...] = ("alertmanager", "gotify", "ntfy")


@dataclass(frozen=True)
class Integration:
    """A connected source: whom its messages reach, and the topic they carry."""

    integration_id: str
    name: str
    kind: Kind
    to: list[str]
    topic: str | None

"""The addresses of an audience (`user:<id>`, `team:<id>`, `topic:<name>`) and the channels a
user may override per topic: the vocabulary the send and the audiences share."""

from shared.models import ADDRESS_KINDS

__all__ = ["ADDRESS_KINDS", "TOPIC_CHANNELS", "address_parts", "audience_topic"]

#: Channels a user may override per topic, as the preference center names them.
TOPIC_CHANNELS = ("in_app", "email", "push")


def address_parts(address: str) -> tuple[str, str]:
    """`team:payments` -> ("team", "payments"): the kind ends at the first ':' (a topic name
    may hold more)."""
    kind, _, name = address.partition(":")
    return kind, name


def audience_topic(to: list[str]) -> str | None:
    """The topic a send to `to` carries when it names none itself: its first topic address."""
    for address in to:
        kind, name = address_parts(address)
        if kind == "topic":
            return name
    return None

"""The addresses of an audience (`user:<id>`, `team:<id>`, `topic:<name>`, shared/models.py)
as the send reads them."""


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

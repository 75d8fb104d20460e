"""The domain's errors: what a rule refuses, whoever asked (the API, a page, the command line).

Each caller shows them its own way (server/api/errors.py maps them to HTTP answers); none of
them is an HTTP notion, so the rule layers raise them without knowing who called."""


class NotFound(LookupError):
    """No such thing for this caller (whether it exists for someone else is never said)."""


class Conflict(Exception):
    """The request clashes with the current state."""


class Unprocessable(ValueError):
    """A well-formed request whose values the rules refuse (a time too far ahead)."""


class UnknownUsers(Exception):
    def __init__(self, user_ids: list[str]):
        super().__init__(f"unknown user ids: {', '.join(user_ids[:20])}")
        self.user_ids = user_ids


class UnknownAddresses(Exception):
    """A send named a user, team or topic that does not exist; nothing was stored."""

    def __init__(self, addresses: list[str]):
        super().__init__(f"unknown addresses: {', '.join(addresses[:20])}")
        self.addresses = addresses


class ClosedTopic(Exception):
    """Only admins subscribe people to a closed topic (through their teams)."""

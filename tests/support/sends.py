"""A send as the service takes it, for tests that call the service layer directly."""

from server.service import Outgoing


def outgoing(recipients: list[str] | None, **fields) -> Outgoing:
    """An info notification to `recipients` (None: everyone), any field overridden."""
    values = dict(
        event_name="test.event",
        title="Test notification",
        summary=None,
        body="",
        target_url=None,
        severity="info",
        data={},
        resource_id=None,
        idempotency_key=None,
        batch_key=None,
    )
    return Outgoing(recipients, **(values | fields))

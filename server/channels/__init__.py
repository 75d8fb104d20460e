"""External channels: what a delivery job becomes on the wire, and the transports that send it.

A transport raises `TransientError` for what may work later (the job is retried with back-off)
and `PermanentError` for a refusal that will not change (the job fails at once).
"""

from server.channels.message import (
    Message,
    Outgoing,
    PermanentError,
    TransientError,
    Transport,
    render,
)

__all__ = ["Message", "Outgoing", "PermanentError", "TransientError", "Transport", "render"]

"""External channels: what a delivery job becomes on the wire, and the transports that send it.

A transport raises `TransientError` for what may work later (the job is retried with back-off)
and `PermanentError` for a refusal that will not change (the job fails at once), including
`RenderError` for a message that cannot be rendered or built for its channel.
"""

from server.channels.message import (
    Envelope,
    Footer,
    Message,
    PermanentError,
    RenderError,
    TransientError,
    Transport,
    render,
)

__all__ = [
    "Envelope",
    "Footer",
    "Message",
    "PermanentError",
    "RenderError",
    "TransientError",
    "Transport",
    "render",
]

"""The worker's own metrics, served by `traybell worker --metrics-port P` on 127.0.0.1:P.

They live in a registry of their own, so a server and a worker in one process (the demo, the
tests) each show only their own."""

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

REGISTRY = CollectorRegistry()

MESSAGES = Counter(
    "traybell_worker_messages_total",
    "Messages handled, by channel and result (sent, retry, failed, lost)",
    ["channel", "result"],
    registry=REGISTRY,
)
SEND_DURATION = Histogram(
    "traybell_worker_send_duration_seconds",
    "Time a channel took to take one message",
    ["channel"],
    registry=REGISTRY,
)


def serve(port: int) -> None:
    """/metrics on 127.0.0.1:`port`, from a thread of its own."""
    start_http_server(port, addr="127.0.0.1", registry=REGISTRY)

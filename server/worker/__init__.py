"""`traybell worker`: sends the queued email and push deliveries (see the contract's Delivery
rules). `run_worker` is the command's entry; `Worker` runs one inside an existing event loop."""

from server.worker.runner import Worker, run_worker

__all__ = ["Worker", "run_worker"]

"""Fixtures of the worker tests: loopback SMTP and push receivers, servers and workers."""

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer, test_settings
from tests.support.pg import free_port
from tests.worker.support import ProcessWorker, PushReceiver, SmtpServer, ThreadWorker


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def push() -> Iterator[PushReceiver]:
    receiver = PushReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def make_server(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """A live API server whose settings (rate limits, max attempts) a test chooses."""
    servers: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        servers.append(LiveServer(database_url, test_settings(**overrides)))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def start_worker(database_url: str) -> Iterator[Callable[..., ThreadWorker]]:
    """Workers in threads of this process, stopped (gracefully) at the end of the test."""
    workers: list[ThreadWorker] = []
    logging.getLogger("traybell").setLevel(logging.INFO)

    def start(**overrides: Any) -> ThreadWorker:
        options = {key: overrides.pop(key) for key in ("transports",) if key in overrides}
        workers.append(ThreadWorker(database_url, test_settings(**overrides), **options).start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def spawn_worker(database_url: str, tmp_path: Path) -> Iterator[Callable[..., ProcessWorker]]:
    """`traybell worker` processes; whatever still runs at the end is terminated."""
    workers: list[ProcessWorker] = []

    def spawn(
        *, args: Sequence[str] = (), env: Mapping[str, str] | None = None, **overrides: Any
    ) -> ProcessWorker:
        path = tmp_path / f"worker-{len(workers)}.log"
        workers.append(ProcessWorker(database_url, test_settings(**overrides), path, args, env))
        return workers[-1]

    yield spawn
    for worker in workers:
        if worker.process.poll() is None:
            worker.kill()

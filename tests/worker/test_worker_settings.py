"""The worker's sizes are settings read from the environment, like the rest of the
configuration, so that operators can size max_connections by them (docs/DEPLOY.md)."""

import pytest

from server.config import ConfigError, Settings

SIZES = {
    "TRAYBELL_POOL_SIZE": "pool_size",
    "TRAYBELL_WORKER_CONCURRENCY": "worker_concurrency",
    "TRAYBELL_WORKER_POLL_SECONDS": "worker_poll_seconds",
    "TRAYBELL_WORKER_SHUTDOWN_GRACE_SECONDS": "worker_shutdown_grace_seconds",
}


def test_worker_sizes_default_and_follow_the_environment(monkeypatch):
    """Configuration: unset, the documented defaults; set, the values given."""
    for name in SIZES:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings.from_env()
    assert {field: getattr(defaults, field) for field in SIZES.values()} == {
        "pool_size": 10,
        "worker_concurrency": 32,
        "worker_poll_seconds": 1,
        "worker_shutdown_grace_seconds": 10,
    }
    for n, name in enumerate(SIZES, start=3):
        monkeypatch.setenv(name, str(n))
    chosen = Settings.from_env()
    assert [getattr(chosen, field) for field in SIZES.values()] == [3, 4, 5, 6]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # The contract: an idle worker's safety poll runs no more than once a second.
        ("TRAYBELL_WORKER_POLL_SECONDS", "0"),
        ("TRAYBELL_WORKER_CONCURRENCY", "0"),
        ("TRAYBELL_POOL_SIZE", "1"),
        ("TRAYBELL_WORKER_SHUTDOWN_GRACE_SECONDS", "soon"),
    ],
)
def test_worker_sizes_out_of_range_are_refused(monkeypatch, name, value):
    """Configuration: a size the worker cannot run with is refused at start, naming it."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Settings.from_env()

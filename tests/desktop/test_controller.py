"""The controller's parts without a server: when it polls, what its clock decides, and how it
tells widgets that the account changed."""

from datetime import datetime

from desktop.clock import Clock
from desktop.settings import POLL_SECONDS_MIN, Settings
from desktop.ui.controller import TrayController
from desktop.ui.scheduler import PollScheduler


class MovableClock:
    """A wall clock a test moves by hand."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 12, 1, 9, 0).astimezone().timestamp()

    def clock(self) -> Clock:
        return Clock(wall=lambda: self.wall, monotonic=lambda: self.wall)


def test_the_poll_interval_never_goes_below_the_settings_minimum(gui_thread_gc):
    """Rule: one minimum poll interval (the settings' POLL_SECONDS_MIN) for the settings
    dialog, IT's preset and the scheduler: a hand-edited smaller value polls at the minimum."""
    scheduler = PollScheduler(Settings(poll_seconds=POLL_SECONDS_MIN - 5), Clock())
    assert scheduler.next_delay(online=True) == POLL_SECONDS_MIN
    scheduler.schedule(online=True)
    assert scheduler.scheduled_ms() == POLL_SECONDS_MIN * 1000
    scheduler.stop()


def test_a_pause_ends_by_the_injected_clock(gui_thread_gc, private_home):
    """Rule: the pause and the times the tray shows come from the one injected clock, so a
    pause that ran out (the machine slept through its end) ends at the next heartbeat."""
    moving = MovableClock()
    controller = TrayController(None, Settings(), clock=moving.clock())
    controller.pause(hours=1)
    assert controller.status().paused_until == datetime(2026, 12, 1, 10, 0).astimezone()
    moving.wall += 2 * 3600
    controller.scheduler.check_heartbeat()
    assert controller.status().paused_until is None
    assert controller.settings.paused_until is None
    controller.shutdown()


def test_widgets_hear_of_an_account_change_by_signal(gui_thread_gc, private_home):
    """Rule: widgets learn that the account changed (another sign-in, or none) from
    `account_changed`, emitted before the cache_changed that shows the new account."""
    controller = TrayController(None, Settings())
    order: list[str] = []
    controller.account_changed.connect(lambda: order.append("account"))
    controller.cache_changed.connect(lambda: order.append("cache"))
    controller.set_engine(None)
    assert order[:2] == ["account", "cache"]
    assert not controller.signed_in() and controller.notifications() == []
    controller.shutdown()

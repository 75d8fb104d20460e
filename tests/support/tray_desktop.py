"""A private X11 desktop with a real tray host, and a way to see when an icon docks in it.

Xvfb (local socket only), a private D-Bus session bus without service activation, trayer (an
XEmbed system tray: it owns `_NET_SYSTEM_TRAY_S0`, so Qt's `isSystemTrayAvailable()` is true)
and optionally dunst. An icon counts as docked when the tray host has embedded its window (it
is a child of one of trayer's sockets) and the window is viewable: that is the moment it is on
screen, whatever the app believes about itself. The X server is asked directly through libX11
(ctypes), so watching costs a few round trips, not a process per look.

Used by the tray's start-up benchmark and by the tests that need a tray host.
"""

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

TOOLS = ("Xvfb", "dbus-daemon", "trayer")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

_IS_VIEWABLE = 2
_Window = ctypes.c_ulong


class _ClassHint(ctypes.Structure):
    # Pointers, not c_char_p: Xlib allocated the strings, and XFree must get them back.
    _fields_ = (("res_name", ctypes.c_void_p), ("res_class", ctypes.c_void_p))


class _WindowAttributes(ctypes.Structure):
    _fields_ = (
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("border_width", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("visual", ctypes.c_void_p),
        ("root", _Window),
        ("class_", ctypes.c_int),
        ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int),
        ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong),
        ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int),
        ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int),
        ("map_state", ctypes.c_int),
        ("all_event_masks", ctypes.c_long),
        ("your_event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int),
        ("screen", ctypes.c_void_p),
    )


# Windows come and go between two requests; Xlib's default handler would exit the process on
# the BadWindow that follows. A failed request simply reports nothing here.
_ERROR_HANDLER_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_ignore_errors = _ERROR_HANDLER_TYPE(lambda display, event: 0)


class _X11:
    def __init__(self, display: str) -> None:
        path = ctypes.util.find_library("X11")
        if path is None:
            raise RuntimeError("libX11 not found")
        self._x = x = ctypes.CDLL(path)
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = (ctypes.c_char_p,)
        x.XDefaultRootWindow.restype = _Window
        x.XDefaultRootWindow.argtypes = (ctypes.c_void_p,)
        x.XQueryTree.argtypes = (
            ctypes.c_void_p,
            _Window,
            ctypes.POINTER(_Window),
            ctypes.POINTER(_Window),
            ctypes.POINTER(ctypes.POINTER(_Window)),
            ctypes.POINTER(ctypes.c_uint),
        )
        x.XGetClassHint.argtypes = (ctypes.c_void_p, _Window, ctypes.POINTER(_ClassHint))
        x.XGetWindowAttributes.argtypes = (
            ctypes.c_void_p,
            _Window,
            ctypes.POINTER(_WindowAttributes),
        )
        x.XInternAtom.restype = ctypes.c_ulong
        x.XInternAtom.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int)
        x.XGetSelectionOwner.restype = _Window
        x.XGetSelectionOwner.argtypes = (ctypes.c_void_p, ctypes.c_ulong)
        x.XFree.argtypes = (ctypes.c_void_p,)
        x.XCloseDisplay.argtypes = (ctypes.c_void_p,)
        x.XSetErrorHandler(_ignore_errors)
        self._display = x.XOpenDisplay(display.encode())
        if not self._display:
            raise RuntimeError(f"cannot open display {display}")
        self.root = x.XDefaultRootWindow(self._display)
        self._tray_atom = x.XInternAtom(self._display, b"_NET_SYSTEM_TRAY_S0", 0)

    def close(self) -> None:
        self._x.XCloseDisplay(self._display)

    def children(self, window: int) -> list[int]:
        root, parent = _Window(), _Window()
        children = ctypes.POINTER(_Window)()
        count = ctypes.c_uint()
        if not self._x.XQueryTree(
            self._display,
            window,
            ctypes.byref(root),
            ctypes.byref(parent),
            ctypes.byref(children),
            ctypes.byref(count),
        ):
            return []
        found = [children[i] for i in range(count.value)]
        if children:
            self._x.XFree(children)
        return found

    def wm_class(self, window: int) -> tuple[str, str] | None:
        hint = _ClassHint()
        if not self._x.XGetClassHint(self._display, window, ctypes.byref(hint)):
            return None
        texts = (hint.res_name, hint.res_class)
        found = tuple(ctypes.string_at(text).decode() if text else "" for text in texts)
        for text in texts:
            if text:
                self._x.XFree(text)
        return found

    def viewable(self, window: int) -> bool:
        attributes = _WindowAttributes()
        if not self._x.XGetWindowAttributes(self._display, window, ctypes.byref(attributes)):
            return False
        return attributes.map_state == _IS_VIEWABLE

    def tray_owned(self) -> bool:
        return bool(self._x.XGetSelectionOwner(self._display, self._tray_atom))


def _wait(predicate, timeout: float, what: str):
    # tests/support/waiting.py's wait_until, polled every 5 ms instead of 20: the start-up
    # bench times the docking with it.
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)
    return value


class TrayDesktop:
    """`with TrayDesktop() as desktop:` run GUI children with `desktop.env`."""

    def __init__(self, notification_daemon: bool = True) -> None:
        self._daemon = notification_daemon
        self._processes: list[subprocess.Popen] = []
        self._x11: _X11 | None = None
        self._panel = 0
        self.env: dict[str, str] = {}

    @staticmethod
    def missing_tools(notification_daemon: bool = True) -> list[str]:
        tools = (*TOOLS, "dunst") if notification_daemon else TOOLS
        return [tool for tool in tools if shutil.which(tool) is None]

    def __enter__(self) -> "TrayDesktop":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=self._log, **kwargs)
        self._processes.append(process)
        return process

    def _start(self) -> None:
        missing = self.missing_tools(self._daemon)
        if missing:
            raise RuntimeError(f"no tray desktop possible, missing {', '.join(missing)}")
        self._tmp = tempfile.TemporaryDirectory(prefix="traybell-desktop-")
        root = Path(self._tmp.name)
        runtime = root / "runtime"
        runtime.mkdir(mode=0o700)
        (root / "bus.conf").write_text(BUS_CONFIG.format(dir=root))
        self._log = open(root / "session.log", "w")  # noqa: SIM115  closed in close()
        read_end, write_end = os.pipe()
        self._spawn(
            [
                *("Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24"),
                *("-nolisten", "tcp", "-noreset"),
            ],
            pass_fds=(write_end,),
            stdout=self._log,
        )
        os.close(write_end)
        with os.fdopen(read_end) as display_pipe:
            display = display_pipe.readline().strip()  # written once Xvfb accepts clients
        if not display:
            raise RuntimeError(f"Xvfb did not start: {(root / 'session.log').read_text()}")
        bus = self._spawn(
            [
                *("dbus-daemon", f"--config-file={root / 'bus.conf'}", "--nofork"),
                *("--nopidfile", "--print-address=1"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        address = bus.stdout.readline().strip()
        if not address:
            raise RuntimeError("dbus-daemon did not start")
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND_"))
        } | {
            "DISPLAY": f":{display}",
            "DBUS_SESSION_BUS_ADDRESS": address,
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_SESSION_TYPE": "x11",
            "QT_QPA_PLATFORM": "xcb",
            "NO_AT_BRIDGE": "1",
        }
        self.env.pop("XAUTHORITY", None)
        self._x11 = _X11(self.env["DISPLAY"])
        self._spawn(
            [
                *("trayer", "--edge", "bottom", "--align", "right", "--widthtype", "percent"),
                *("--width", "100", "--height", "36", "--SetDockType", "true", "--expand", "false"),
            ],
            stdout=self._log,
            env=self.env,
        )
        self._panel = _wait(self._find_panel, 15, "trayer's panel")
        _wait(self._x11.tray_owned, 15, "trayer to own _NET_SYSTEM_TRAY_S0")
        if self._daemon:
            self._spawn(["dunst"], stdout=self._log, env=self.env)

    def _find_panel(self) -> int:
        assert self._x11 is not None
        for window in self._x11.children(self._x11.root):
            if self._x11.wm_class(window) == ("panel", "trayer"):
                return window
        return 0

    def docked(self) -> list[tuple[str, str]]:
        """The WM_CLASS of each icon window trayer has embedded and that is on screen."""
        assert self._x11 is not None
        return [
            found
            for socket in self._x11.children(self._panel)
            for icon in self._x11.children(socket)
            if self._x11.viewable(icon) and (found := self._x11.wm_class(icon)) is not None
        ]

    def wait_docked(self, timeout: float = 60) -> list[tuple[str, str]]:
        return _wait(self.docked, timeout, "an icon docked in the tray")

    def wait_empty(self, timeout: float = 30) -> None:
        _wait(lambda: not self.docked(), timeout, "the tray to be empty")

    def close(self) -> None:
        if self._x11 is not None:
            self._x11.close()
            self._x11 = None
        for process in reversed(self._processes):
            process.terminate()
        for process in reversed(self._processes):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        with contextlib.suppress(AttributeError):
            self._log.close()
        with contextlib.suppress(AttributeError):
            self._tmp.cleanup()

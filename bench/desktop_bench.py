"""Benchmarks of the tray client, each beside a baseline measured in the same run.

- start-up time and peak memory of the tray client against a minimal PySide6 tray app;
- syncing N notifications into the cache against a plain httpx fetch of the same pages plus
  a raw sqlite3 insert of the same rows.

The sync pages come from a static page server on 127.0.0.1 (the same bytes for both sides),
so the figures are the client's own cost, not the server's.
"""

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from bench.common import row

REPO = Path(__file__).resolve().parent.parent
PAGE = 500

# Both children print their own peak RSS in KiB once their event loop first turns with the tray
# ready; the parent times from launching the interpreter to reading that line.
#
# The peak is the process's VmHWM, not getrusage's ru_maxrss: on Linux ru_maxrss survives
# exec, so a child spawned by a large parent (this bench process, after the server benchmarks)
# reported the parent's peak instead of its own; that made the baseline swing between 46 and
# 98 MiB from one run to the next. VmHWM belongs to the address space exec created. Where
# /proc is absent (macOS, Windows is not benchmarked) ru_maxrss is the fallback, in bytes on
# macOS.
_READY = (
    "import resource, sys\n"
    "from PySide6.QtCore import QTimer\n"
    "def _peak_kib():\n"
    "    try:\n"
    "        with open('/proc/self/status') as status:\n"
    "            for line in status:\n"
    "                if line.startswith('VmHWM:'):\n"
    "                    return int(line.split()[1])\n"
    "    except OSError:\n"
    "        pass\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "    return peak // 1024 if sys.platform == 'darwin' else peak\n"
    "def _ready():\n"
    "    print(_peak_kib(), flush=True)\n"
    "    app.quit()\n"
    "QTimer.singleShot(0, _ready)\n"
    "app.exec()\n"
)
MINIMAL_TRAY = (
    "from PySide6.QtGui import QIcon, QPixmap\n"
    "from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon\n"
    "app = QApplication([])\n"
    "pixmap = QPixmap(32, 32); pixmap.fill()\n"
    "tray = QSystemTrayIcon(QIcon(pixmap)); menu = QMenu(); menu.addAction('Quit')\n"
    "tray.setContextMenu(menu); tray.show()\n"
) + _READY
TRAY_CLIENT = (
    "from PySide6.QtWidgets import QApplication\n"
    "from desktop.settings import Settings\n"
    "from desktop.ui.app import TrayApp\n"
    "app = QApplication([]); app.setQuitOnLastWindowClosed(False)\n"
    # Port 9 (discard) refuses at once: start-up is measured, not a server's answer.
    "tray_app = TrayApp(Settings(), server='http://127.0.0.1:9', token='bench')\n"
    "tray_app.start(watch_network=False)\n"
) + _READY


# Qt reads these; both children get the same values, whatever the calling shell had set.
_QT_ENV = ("QT_QPA_PLATFORM", "QT_QPA_PLATFORMTHEME", "QT_STYLE_OVERRIDE", "QT_SCALE_FACTOR")


def _child(code: str, home: str) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k not in _QT_ENV} | {
        "QT_QPA_PLATFORM": "offscreen",
        "TRAYBELL_HOME": home,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    began = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        line = child.stdout.readline()
        elapsed = time.perf_counter() - began
        _, errors = child.communicate(timeout=120)
    if child.returncode != 0 or not line.strip():
        raise RuntimeError(f"bench child failed ({child.returncode}): {errors[-2000:]}")
    return elapsed, float(line) / 1024  # seconds, MiB


def _notifications(count: int) -> list[dict]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "id": str(uuid.uuid4()),
            "user_id": "bench",
            "event_name": "bench.event",
            "title": f"Notification {i}",
            "summary": "A short summary",
            "body": "x" * 200,
            "target_url": None,
            "severity": "info",
            "data": {"n": i},
            "batch_key": None,
            "read_at": None,
            "archived_at": None,
            "created_at": (start + timedelta(seconds=i)).isoformat(),
        }
        for i in range(count)
    ]


class _PageServer:
    """Serves /v1/sync pages (and default preferences) of a fixed set of notifications."""

    def __init__(self, notifications: list[dict]) -> None:
        pages = {}
        for index in range(0, len(notifications), PAGE):
            chunk = notifications[index : index + PAGE]
            cursor = str(index + len(chunk))
            pages["" if index == 0 else str(index)] = json.dumps(
                {
                    "changes": chunk,
                    "cursor": cursor,
                    "has_more": index + PAGE < len(notifications),
                    "unread": len(notifications),
                }
            ).encode()
        prefs = json.dumps({"in_app_enabled": True, "quiet_hours": None}).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as uvicorn sets it. Without it a small answer on a reused
            # connection (headers and body are two writes) waited for the client's delayed
            # ACK: 44 ms per /v1/preferences here, a stall of this page server, not the client.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/v1/preferences":
                    body = prefs
                else:
                    body = pages[parse_qs(url.query).get("cursor", [""])[0]]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass  # a bench prints figures, not access logs

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _engine_sync(url: str, path: Path, expected: int) -> float:
    from desktop.sync import SyncEngine

    engine = SyncEngine(url, "bench", path)
    try:
        began = time.perf_counter()
        result = engine.sync()
        elapsed = time.perf_counter() - began
    finally:
        engine.close()
    assert result.online and result.unread == expected, result
    return elapsed


def _raw_sync(url: str, path: Path, expected: int) -> float:
    # Set up before the clock starts, as the engine is (its SSL context, connection and schema
    # come from its constructor): both sides time the same fetch-and-store loop only. Creating
    # the httpx client alone (certifi's CA bundle) took ~20 ms, a third of a 2,000 run.
    conn = sqlite3.connect(path)
    # The client's own durability (WAL, synchronous=NORMAL), so the floor saves no fsync the
    # client pays, nor pays one the client saves.
    conn.execute("PRAGMA journal_mode = wal")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE n (id TEXT PRIMARY KEY, user_id, event_name, title, summary, body,"
        " target_url, severity, data, batch_key, read_at, archived_at, created_at)"
    )
    cursor, stored = None, 0
    with httpx.Client(base_url=url) as client:
        began = time.perf_counter()
        while True:
            page = client.get(
                "/v1/sync", params={"limit": PAGE} | ({"cursor": cursor} if cursor else {})
            ).json()
            with conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO n VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            c["id"],
                            c["user_id"],
                            c["event_name"],
                            c["title"],
                            c["summary"],
                            c["body"],
                            c["target_url"],
                            c["severity"],
                            json.dumps(c["data"]),
                            c["batch_key"],
                            c["read_at"],
                            c["archived_at"],
                            c["created_at"],
                        )
                        for c in page["changes"]
                    ],
                )
            stored += len(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                break
        elapsed = time.perf_counter() - began
    conn.close()
    assert stored == expected
    return elapsed


def _row(name: str, value: float, baseline: float, unit: str, target: str) -> dict:
    return row(name, value, unit, baseline, value / baseline if baseline else None, target)


def run(quick: bool) -> list[dict]:
    repeats = 1 if quick else 3
    # A child takes well under a second: the start-up figures are medians of several runs
    # even in a quick run, the two apps alternating so that a disturbance hits both alike.
    starts = 3 if quick else 5
    count = 2_000 if quick else 10_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        client, minimal = [], []
        for i in range(starts):
            client.append(_child(TRAY_CLIENT, f"{tmp}/home{i}"))
            minimal.append(_child(MINIMAL_TRAY, f"{tmp}/min{i}"))
        rows.append(
            _row(
                "desktop start-up to a ready tray",
                statistics.median(c[0] for c in client),
                statistics.median(m[0] for m in minimal),
                "s",
                # no target in the brief; the minimal tray loads no HTTP, SQLite or keyring code
                "value <= 1.0 s",
            )
        )
        rows.append(
            _row(
                "desktop peak memory at start-up",
                statistics.median(c[1] for c in client),
                statistics.median(m[1] for m in minimal),
                "MiB",
                "ratio <= 1.5",
            )
        )

        server = _PageServer(_notifications(count))
        try:
            engine = [
                _engine_sync(server.url, Path(tmp) / f"e{i}.sqlite3", count) for i in range(repeats)
            ]
            raw = [
                _raw_sync(server.url, Path(tmp) / f"r{i}.sqlite3", count) for i in range(repeats)
            ]
        finally:
            server.close()
        rows.append(
            _row(
                f"desktop sync of {count:,} notifications into the cache",
                statistics.median(engine),
                statistics.median(raw),
                "s",
                "ratio <= 1.5",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)

"""The two installs: the built wheel's `server` and `desktop` extras, each in a fresh virtual
environment of its own, hold their own half and nothing of the other's.

Marked `installs`: building the wheel and the two environments takes about half a minute with
pip's cache warm (`-m "not installs"` leaves it out while iterating).
"""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
import venv
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.pg import PostgresCluster, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.installs

ROOT = Path(__file__).resolve().parents[2]
#: What the wheel is built from (pyproject.toml's packages and readme).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "traybell", "server", "desktop", "shared")
SERVER_ONLY = ("asyncpg", "pgserver", "fastapi", "apprise", "uvicorn")
DESKTOP_ONLY = ("PySide6", "shiboken6")


class Install:
    """A fresh virtual environment holding the wheel with one extra."""

    def __init__(self, root: Path, wheel: Path, extra: str) -> None:
        self.root = root
        venv.EnvBuilder(with_pip=False).create(root)
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")
        # This interpreter's pip installs into the new environment: no pip of its own to set
        # up, and the same cache as every other install here.
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "install", "-q",
             "--disable-pip-version-check", f"{wheel}[{extra}]"],
            check=True,
        )  # fmt: skip

    def env(self, **extra: str) -> dict[str, str]:
        # Nothing of the checkout or the test environment may leak in.
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return base | {"PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"} | extra

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / "traybell"), *args],
            capture_output=True,
            text=True,
            env=self.env(**env),
            cwd=self.root,
            timeout=120,
            check=False,
        )

    def importable(self, *modules: str) -> dict[str, bool]:
        probe = (
            "import importlib.util, json, sys;"
            "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))"
        )
        done = subprocess.run(
            [str(self.python), "-c", probe, *modules],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.root,
            check=True,
        )
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def installs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Install]]:
    root = tmp_path_factory.mktemp("installs")
    source = root / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    # Built from a clean copy: setuptools' build/ in a checkout keeps files deleted since.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
         "-w", str(root / "dist"), str(source)],
        check=True,
    )  # fmt: skip
    [wheel] = (root / "dist").glob("traybell-*.whl")
    try:
        yield {extra: Install(root / extra, wheel, extra) for extra in ("server", "desktop")}
    finally:
        shutil.rmtree(root, ignore_errors=True)  # about 400 MB; pytest would keep three runs


def _refusal(command: str, extra: str) -> str:
    return f"traybell {command} needs the {extra} extra: pip install 'traybell[{extra}]'\n"


def test_server_install_has_no_qt_and_refuses_desktop_commands_in_one_line(installs):
    """Rule: `traybell[server]` brings no PySide6; a desktop command there says which extra it
    needs in one line and exits 2, never a traceback."""
    server = installs["server"]
    assert server.importable(*DESKTOP_ONLY) == dict.fromkeys(DESKTOP_ONLY, False)
    for args in (("tray", "--once"), ("send", "--server", "x", "--token", "t", "--all",
                                       "--title", "t")):  # fmt: skip
        refused = server.run(*args)
        assert (refused.returncode, refused.stderr) == (2, _refusal(args[0], "desktop"))
    demo = server.run("demo", "--no-tray")
    assert (demo.returncode, demo.stderr) == (2, _refusal("demo", "all"))


def test_desktop_install_has_no_server_half_and_refuses_server_commands_in_one_line(installs):
    """Rule: `traybell[desktop]` brings no asyncpg, pgserver, FastAPI or Apprise, yet every Qt
    module the tray uses; a server command there names its extra in one line and exits 2."""
    desktop = installs["desktop"]
    assert desktop.importable(*SERVER_ONLY) == dict.fromkeys(SERVER_ONLY, False)
    sources = "".join(p.read_text() for p in (ROOT / "desktop").rglob("*.py"))
    qt_modules = sorted(set(re.findall(r"\bPySide6\.Qt\w+", sources)))
    ui_modules = sorted(f"desktop.ui.{p.stem}" for p in (ROOT / "desktop" / "ui").glob("[!_]*.py"))
    imports = subprocess.run(
        [str(desktop.python), "-c", "import importlib, sys; "
         "[importlib.import_module(m) for m in sys.argv[1:]]", *qt_modules, *ui_modules],
        capture_output=True,
        text=True,
        env=desktop.env(QT_QPA_PLATFORM="offscreen"),
        cwd=desktop.root,
        check=False,
    )  # fmt: skip
    assert imports.returncode == 0, imports.stderr
    for command in ("serve", "migrate", "worker"):
        refused = desktop.run(command)
        assert (refused.returncode, refused.stderr) == (2, _refusal(command, "server"))
    refused = desktop.run("admin", "create-user", "ana")
    assert (refused.returncode, refused.stderr) == (2, _refusal("admin", "server"))


#: Draws each tray state and the app icon as the installed tray does, and says for each whether
#: a pixel of it is not transparent (a missing SVG draws nothing: the blank icon).
DRAW_ICONS = """
import json, sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
from desktop import assets
from desktop.ui import icons
def drawn(image):
    return any(image.pixelColor(x, y).alpha() for x in range(image.width())
               for y in range(image.height()))
seen = {state: drawn(icons.tray_image(state, 0, False, 32)) for state in icons.STATES}
seen["app"] = drawn(icons.app_icon().pixmap(32).toImage())
print(json.dumps({"dir": str(assets.resources_dir()), "drawn": seen}))
"""


def test_the_desktop_install_draws_its_icons_from_the_wheel(installs):
    """Rule: the tray's icons are package data: a pip-installed tray finds them through the
    asset helper inside its own installed package (never a checkout) and draws every tray
    state and the app icon, not a blank one."""
    desktop = installs["desktop"]
    drawn = subprocess.run(
        [str(desktop.python), "-c", DRAW_ICONS],
        capture_output=True,
        text=True,
        env=desktop.env(QT_QPA_PLATFORM="offscreen"),
        cwd=desktop.root,
        check=False,
    )
    assert drawn.returncode == 0, drawn.stderr
    found = json.loads(drawn.stdout)
    assert Path(found["dir"]).is_relative_to(desktop.root), found["dir"]
    states = {"normal", "offline", "paused", "signedout", "app"}
    assert found["drawn"] == dict.fromkeys(states, True), found


@pytest.fixture
def empty_database_url(pg_cluster: PostgresCluster) -> str:
    """A database with no schema at all, for `traybell migrate` to build."""
    name = f"install_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_cluster.url())
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    return pg_cluster.url(name)


@pytest.mark.timeout(300)
def test_each_install_runs_its_own_half_against_the_other(installs, empty_database_url, tmp_path):
    """Rule: the server install migrates and serves (API and pages) on its own, and the desktop
    install sends through that server and syncs from it with `tray --once`."""
    server, desktop = installs["server"], installs["desktop"]
    database = {"DATABASE_URL": empty_database_url}
    migrated = server.run("migrate", **database)
    assert migrated.returncode == 0, migrated.stderr
    assert re.match(r"applied [1-9]\d* migration", migrated.stdout), migrated.stdout
    admin_token = json.loads(
        server.run("admin", "create-user", "it", "--admin", "--token", **database).stdout
    )
    user_token = json.loads(server.run("admin", "create-user", "ana", "--token", **database).stdout)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [str(server.bin / "traybell"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env(**database),
        cwd=server.root,
    )
    try:

        def ready() -> bool:
            assert serve.poll() is None, f"traybell serve exited: {serve.stderr.read()}"
            try:
                return httpx.get(url + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, "the server install's `traybell serve` to be ready")
        assert httpx.get(url + "/login").status_code == 200  # the pages' templates came along
        sent = desktop.run(
            "send", "--server", url, "--token", admin_token["token"], "--to", "ana",
            "--title", "Sent from the desktop install",
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        synced = desktop.run(
            "tray", "--once", "--server", url, "--token", user_token["token"],
            TRAYBELL_HOME=str(tmp_path / "home"),
        )  # fmt: skip
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout) == {"online": True, "new": 1, "unread": 1}
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    assert serve.returncode == 0, serve.stderr.read()

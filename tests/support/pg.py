"""A throwaway PostgreSQL cluster on loopback for the tests, started and killed at will.

It uses the server binaries that ship inside the pgserver wheel, so no system package is
needed; as root it runs them as an unprivileged user, since PostgreSQL refuses root.
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH

SERVICE_USER = "pgserver"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER], check=True)
    return SERVICE_USER


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # the parent pid is the 4th field, after the parenthesised command name
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class PostgresCluster:
    def __init__(self, port: int | None = None, *, durable: bool = False):
        """`durable`: PostgreSQL's own defaults (fsync and full-page writes on), as benchmarks of
        what users run need; the tests' clusters leave them off."""
        self.port = port or free_port()
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="traybell-pg-"))
        self.root.chmod(0o755)
        self.datadir = self.root / "data"
        self.user = _service_user()
        self._initdb()

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / args[0]), *args[1:]],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )

    def _initdb(self) -> None:
        self.datadir.mkdir()
        if self.user:
            shutil.chown(self.datadir, self.user)
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        # fsync off: a test database need not survive a power cut, only a process crash (the OS
        # keeps what was written). synchronous_commit stays on, or a killed server loses commits.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-m", "fast", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends at once, as a machine crash would."""
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in victims:  # reaped by init; wait until the kernel forgets them
            while Path(f"/proc/{pid}").exists():
                time.sleep(0.01)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

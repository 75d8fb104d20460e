"""A real PgBouncer (Debian's `pgbouncer` package) in transaction mode, in front of a test
cluster on loopback, started and stopped by the test."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH

from tests.support.pg import PostgresCluster, free_port
from tests.support.waiting import wait_until

BINARY = "/usr/sbin/pgbouncer"


class PgBouncer:
    """Every database of `cluster` under the same name on PgBouncer's own port, pooled per
    transaction with at most `pool_size` server connections per database and user."""

    def __init__(self, cluster: PostgresCluster, *, pool_size: int) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="traybell-pgbouncer-"))
        self.root.chmod(0o755)
        (self.root / "users.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={cluster.port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.root / 'users.txt'}\n"
            "admin_users = postgres\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            "max_client_conn = 500\n" + (f"user = {cluster.user}\n" if cluster.user else "")
            # PgBouncer refuses to run as root; the cluster's own service user will do.
        )
        self._log = open(self.root / "pgbouncer.log", "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [BINARY, str(self.root / "pgbouncer.ini")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: self.process.poll() is not None or self._answers(), what="PgBouncer to listen"
        )
        if self.process.poll() is not None:
            raise RuntimeError(f"PgBouncer did not start: {self.log()[-2000:]}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def show(self, what: str) -> list[dict[str, str]]:
        """`SHOW <what>` on PgBouncer's admin console, a row per dict."""
        done = self._console(f"SHOW {what}")
        done.check_returncode()
        header, *lines = done.stdout.splitlines()[:-1]  # the last line is "(n rows)"
        names = header.split("\t")
        return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]

    def _console(self, command: str) -> subprocess.CompletedProcess[str]:
        # psql: the admin console takes simple queries only, which asyncpg does not send.
        psql = str(POSTGRES_BIN_PATH / "psql")
        return subprocess.run(
            [psql, "-X", "-A", "-F", "\t", "-c", command, self.url("pgbouncer")],
            capture_output=True,
            text=True,
            check=False,
        )

    def _answers(self) -> bool:
        return self._console("SHOW VERSION").returncode == 0

    def log(self) -> str:
        return (self.root / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)

"""What every server benchmark needs: a database, server processes on loopback, load generators
(wrk and pgbench), percentiles and result rows.

Everything listens on 127.0.0.1 only, and every load loop is bounded in count or time.
"""

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


class BenchSkipped(RuntimeError):
    """A benchmark cannot run here (a tool is missing); the runner says so and goes on."""


# ---------------------------------------------------------------- rows and numbers


def row(
    name: str,
    value: float | None,
    unit: str,
    baseline: float | None,
    ratio: float | None,
    target: str,
    **extra: Any,
) -> dict[str, Any]:
    """One result row as every bench module reports it."""
    return {
        "name": name,
        "value": None if value is None else round(value, 4),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 4),
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        **extra,
    }


def percentile(samples: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (pct in 0..100) of the samples."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, round(pct / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchSkipped(f"{name} is not installed (Debian: apt-get install {name})")
    return path


# ---------------------------------------------------------------- the database


class Database:
    """A throwaway PostgreSQL cluster on loopback (the tests' PostgresCluster), or the one named
    by BENCH_DATABASE_URL; each benchmark takes its own migrated database inside it.

    `durable` (the default) keeps PostgreSQL's own settings, fsync and synchronous_commit on, as
    users run it; `durable=False` turns fsync off, which only a labelled extra figure uses, and
    which BENCH_DATABASE_URL's server cannot be made to do (BenchSkipped)."""

    def __init__(self, *, durable: bool = True) -> None:
        self.cluster: Any = None
        self._external = os.environ.get("BENCH_DATABASE_URL")
        if self._external is not None and not durable:
            raise BenchSkipped("BENCH_DATABASE_URL's server keeps its own fsync setting")
        if self._external is None:
            from tests.support.pg import PostgresCluster

            self.cluster = PostgresCluster(durable=durable)
            self.cluster.start()

    def settings(self) -> str:
        """What the figures were taken with, e.g. 'fsync=on, synchronous_commit=on'."""
        values = [
            f"{name}={fetchval(self.admin_url(), f'SHOW {name}')}"
            for name in ("fsync", "synchronous_commit")
        ]
        return ", ".join(values)

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()
            self.cluster = None

    def admin_url(self) -> str:
        return self._external or self.cluster.url("postgres")

    def create(self, name: str) -> str:
        """A fresh, migrated database; returns its URL."""
        import asyncpg

        from server.db.migrate import migrate_url

        async def make() -> None:
            conn = await asyncpg.connect(self.admin_url())
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(make())
        url = self.admin_url().rsplit("/", 1)[0] + f"/{name}"
        asyncio.run(migrate_url(url))
        return url

    def pgbench(self, url: str, script: str, *, clients: int, seconds: float) -> float:
        """Transactions per second of a pgbench custom script (prepared statements)."""
        if self.cluster is not None:
            from pgserver._commands import POSTGRES_BIN_PATH

            binary = str(POSTGRES_BIN_PATH / "pgbench")
            user = self.cluster.user
        else:
            binary, user = require_tool("pgbench"), None
        with tempfile.TemporaryDirectory(prefix="traybell-pgbench-") as tmp:
            Path(tmp).chmod(0o755)
            path = Path(tmp) / "script.sql"
            path.write_text(script)
            path.chmod(0o644)
            done = subprocess.run(
                [
                    binary,
                    "--no-vacuum",
                    "--protocol=prepared",
                    f"--client={clients}",
                    f"--jobs={min(clients, 2)}",
                    f"--time={max(1, round(seconds))}",
                    f"--file={path}",
                    url,
                ],
                capture_output=True,
                text=True,
                user=user,
                cwd=tmp,
                timeout=seconds + 60,
                check=False,
            )
        found = re.search(r"tps = ([0-9.]+)", done.stdout)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"pgbench failed: {done.stderr[-1500:]}")
        return float(found.group(1))


def run_sql(url: str, *statements: str) -> None:
    """Runs statements in order on one connection (bulk loads)."""
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


def fetchval(url: str, query: str, *args: Any) -> Any:
    import asyncpg

    async def go() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


def create_users(url: str, user_ids: Sequence[str], *, admin: bool = False) -> None:
    """Users with default preferences, straight into the tables (fast for thousands)."""
    run_sql(
        url,
        "INSERT INTO users (user_id, is_admin) SELECT unnest(ARRAY["
        + ",".join(f"'{u}'" for u in user_ids)
        + f"]::text[]), {str(admin).lower()}",
        "INSERT INTO preferences (user_id) SELECT user_id FROM users ON CONFLICT DO NOTHING",
    )


def create_token(url: str, user_id: str, *, admin: bool = False) -> str:
    from tests.support.live import create_users_directly

    [token] = create_users_directly(url, [user_id], admin=admin)
    return token


# ---------------------------------------------------------------- server processes


class ServerProcess:
    """A server in its own process on 127.0.0.1: `traybell serve` by default, or any argv whose
    `{port}` is filled in. Waits until `ready_path` answers; `stop()` sends SIGTERM."""

    def __init__(
        self,
        database_url: str | None,
        argv: Sequence[str] | None = None,
        *,
        ready_path: str = "/healthz",
        env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        argv = argv or [
            sys.executable,
            "-m",
            "traybell",
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            "{port}",
        ]
        child_env = os.environ | (env or {})
        if database_url:
            child_env["DATABASE_URL"] = database_url
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [a.replace("{port}", str(self.port)) for a in argv],
            cwd=REPO,
            env=child_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + ready_path, timeout=2) as reply,
            ):
                if reply.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.output()[-2000:]}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextlib.contextmanager
def servers(database_url: str | None, count: int, **kwargs: Any) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    try:
        for _ in range(count):
            started.append(ServerProcess(database_url, **kwargs))
        yield started
    finally:
        for server in started:
            server.stop()


# ---------------------------------------------------------------- wrk

# Posts one JSON send per request; each request names the next recipient in turn and a fresh
# resource_id, so every request stores a real row (no duplicates).
WRK_SEND_LUA = r"""
local users = {%(users)s}
local token = "%(token)s"
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tonumber(tid) or 0
  counter = 0
end

function request()
  counter = counter + 1
  local user = users[(counter + thread_id * 7) %% #users + 1]
  local body = '{"user_id":"' .. user .. '","event_name":"bench.send","title":"Build '
    .. counter .. ' finished","summary":"All checks passed","severity":"info",'
    .. '"resource_id":"%(tag)s-' .. thread_id .. '-' .. counter .. '",'
    .. '"data":{"build":' .. counter .. '}}'
  return wrk.format("POST", "/v1/notifications", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
"""


def wrk_send(
    urls: str | Sequence[str],
    *,
    users: Sequence[str],
    token: str,
    tag: str,
    connections: int,
    seconds: float,
    threads: int = 2,
) -> dict[str, float]:
    """Drives `POST /v1/notifications` with wrk; one wrk per URL, all at once, each with
    `connections` connections. Returns the summed requests/s and errors, and the worst latency
    percentiles of the instances."""
    wrk = require_tool("wrk")
    urls = [urls] if isinstance(urls, str) else list(urls)
    for url in urls:
        if not url.startswith(f"http://{LOOPBACK}:"):
            raise ValueError("benchmarks only target loopback")
    with tempfile.TemporaryDirectory(prefix="traybell-wrk-") as tmp:
        children = []
        for i, url in enumerate(urls):
            path = Path(tmp) / f"send{i}.lua"
            path.write_text(
                WRK_SEND_LUA
                % {
                    "users": ",".join(f'"{u}"' for u in users),
                    "token": token,
                    "tag": f"{tag}-{i}",
                }
            )
            argv = [
                wrk,
                f"--threads={threads}",
                f"--connections={connections}",
                f"--duration={max(1, round(seconds))}s",
                "--timeout=10s",
                "--latency",
                f"--script={path}",
                url,
            ]
            children.append(
                subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            )
        outputs = []
        for child in children:
            try:
                out, _ = child.communicate(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                child.kill()
                out, _ = child.communicate()
            outputs.append(parse_wrk(out))
    return {
        "rps": sum(o["rps"] for o in outputs),
        "requests": sum(o["requests"] for o in outputs),
        "non_2xx": sum(o["non_2xx"] for o in outputs),
        "socket_errors": sum(o["socket_errors"] for o in outputs),
        "p50_s": max(o["p50_s"] for o in outputs),
        "p99_s": max(o["p99_s"] for o in outputs),
    }


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    if rps is None:
        raise RuntimeError(f"wrk failed: {output[-1500:]}")
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    p50 = re.search(r"50%\s+([0-9.]+)(us|ms|s|m)\b", output)
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s|m)\b", output)
    return {
        "rps": float(rps.group(1)),
        "requests": float(total.group(1)) if total else 0.0,
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
        "p50_s": _seconds(*p50.groups()) if p50 else float("nan"),
        "p99_s": _seconds(*p99.groups()) if p99 else float("nan"),
    }


# ---------------------------------------------------------------- printing


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 0.01:
            return f"{value:.3f}"
        return f"{value:.2e}"
    return str(value)


def verdict(result: dict[str, Any]) -> str:
    """pass or miss, read from the target text: 'ratio >= 0.5', 'value <= 1.0 s', 'rows == 1'."""
    target = str(result.get("target") or "")
    found = re.match(r"\s*(ratio|value)\s*(>=|<=|==)\s*([0-9.,]+)", target)
    relative = re.match(r"\s*(>=|<=)\s*([0-9.]+)\s*x\s+baseline", target)
    if found is None and relative is not None:  # ">= 0.8x baseline": a ratio target
        found = re.match(r"(ratio)(>=|<=)([0-9.]+)", "ratio" + "".join(relative.groups()))
    if not found:
        return str(result.get("verdict", "-"))
    field, op, limit_text = found.groups()
    actual = result.get(field)
    if actual is None:
        return "-"
    limit = float(limit_text.replace(",", ""))
    ok = {">=": actual >= limit, "<=": actual <= limit, "==": actual == limit}[op]
    return "pass" if ok else "MISS"


def table(results: Sequence[dict[str, Any]]) -> str:
    header = ("figure", "value", "unit", "baseline", "ratio", "target", "pass/miss")
    lines = [
        (
            r["name"],
            fmt(r.get("value")),
            str(r.get("unit", "")),
            fmt(r.get("baseline")),
            fmt(r.get("ratio")),
            str(r.get("target", "")),
            verdict(r),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = []
    for i, line in enumerate([header, *lines]):
        out.append(
            "  ".join(
                cell.ljust(w) if j in (0, 2, 5) else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)

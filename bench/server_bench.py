"""Benchmarks of the API server, each beside a floor measured in the same run on the same
database, everything on loopback, with PostgreSQL's durable defaults (fsync and
synchronous_commit on) unless a row says otherwise:

1. sends (wrk, 16 connections, one `traybell serve`) to one hot user and spread over 16 users,
   with their p99 latency, each beside the same send called directly in SQL (pgbench, 16
   clients, one send_notification() and one commit per send); a raw single-row INSERT+COMMIT
   loop and a bare ASGI endpoint under the same wrk for reference; an extra row with fsync off;
2. what coalescing adds to a lone send on an idle server;
3. one send to 10,000 recipients beside a raw multi-row INSERT of the same rows;
4. sync and unread-count latency for a user with 1,000 and one with 100,000 stored;
5. a storm of 1,000 concurrent identical sends (one row, one 201) beside 1,000 distinct ones;
6. two `traybell serve` processes beside one (API only: the worker bench has its own row);
7. offline catch-up: 5,000 new and 300 read elsewhere, synced by desktop.sync.SyncEngine;
8. read-all of 10,000 unread (one request) beside a raw UPDATE of the same rows;
9. one Alertmanager payload of 100 alerts to a team of 100 (10,000 rows) beside the same 10,000
   rows sent through POST /v1/notifications (100 sends to the team, 16 at a time).
"""

import asyncio
import json
import statistics
import string
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Database,
    ServerProcess,
    create_token,
    create_users,
    fetchval,
    percentile,
    row,
    run_sql,
    servers,
    wrk_send,
)

CONNECTIONS = 16
#: An HTTP send against the same send called directly in SQL: the server batches commits, the
#: SQL path does not, so it should keep up at least.
SEND_TARGET = "ratio >= 1.0"


@dataclass(frozen=True)
class Sizes:
    seconds: float  # each wrk or pgbench run
    send_users: int
    fanout: int
    fanout_repeats: int
    stored_small: int
    stored_large: int
    unread_every: int  # every n-th bulk-loaded notification is unread
    latency_requests: int
    storm: int
    catchup: int
    catchup_read: int
    read_all: int
    read_all_repeats: int
    lone_sends: int

    @classmethod
    def of(cls, quick: bool) -> "Sizes":
        if quick:
            return cls(4, 16, 10_000, 3, 1_000, 20_000, 100, 300, 200, 1_000, 60, 10_000, 3, 200)
        return cls(
            10, 16, 10_000, 5, 1_000, 100_000, 100, 1_000, 1_000, 5_000, 300, 10_000, 7, 1_000
        )


def run(quick: bool, database_url: str | None = None) -> list[dict[str, Any]]:
    """All server figures; `database_url` is ignored (each figure takes a fresh database in a
    throwaway cluster, or in BENCH_DATABASE_URL's server)."""
    sizes = Sizes.of(quick)
    database = Database()
    results: list[dict[str, Any]] = []
    try:
        figures = (
            send_throughput,
            lone_send_latency,
            sends_without_fsync,
            fanout,
            read_latency,
            duplicate_storm,
            catch_up,
            read_all,
            alertmanager_ingest,
        )
        for figure in figures:
            try:
                results += figure(database, sizes)
            except Exception as exc:  # one broken figure must not hide the others
                print(f"bench: {figure.__name__} failed: {exc!r}", file=sys.stderr)
                results.append(
                    row(
                        figure.__name__,
                        None,
                        "",
                        None,
                        None,
                        "-",
                        verdict="error: " + " ".join(str(exc).split())[:60],
                    )
                )
    finally:
        database.close()
    return results


# ---------------------------------------------------------------- 1 and 5: send throughput

# pgbench turns every ":name" into a parameter, even inside a string literal: no colons below.
PGBENCH_INSERT = """\\set u random(1, {users})
\\set v random(1, 9000000000000000)
INSERT INTO notifications (user_id, event_name, title, summary, severity, data,
    idempotency_key, created_version, version)
VALUES ('send-' || CAST(:u AS int), 'bench.send', 'Build finished', 'All checks passed',
    'info', jsonb_build_object('build', 1), 'pgbench-' || CAST(:v AS bigint), CAST(:v AS bigint),
    CAST(:v AS bigint));
"""

# The product's own send, called directly: one send_notification() and its COMMIT per
# transaction, as `traybell send` without the HTTP server would do it (no batching).
PGBENCH_SEND = """\\set u random(1, {users})
\\set v random(1, 9000000000000000)
SELECT count(*) FROM send_notification(ARRAY[{recipient}], 'bench.send', 'Build finished',
    'All checks passed', '', NULL, 'info', jsonb_build_object('build', 1), NULL,
    'pgbench-' || CAST(:v AS bigint), NULL, 5, 'send-admin', NULL, NULL, 'api');
"""

HOT_USER = "send-hot"


def _raw_insert_floor(database: Database, url: str, sizes: Sizes) -> float:
    """The commit floor: pgbench, 16 clients, one single-row INSERT and its COMMIT each."""
    return database.pgbench(
        url,
        PGBENCH_INSERT.format(users=sizes.send_users),
        clients=CONNECTIONS,
        seconds=sizes.seconds,
    )


def _sql_send_floor(database: Database, url: str, sizes: Sizes, *, hot: bool) -> float:
    """The send floor: pgbench, 16 clients, one send_notification() and its COMMIT each, to the
    hot user or to one of the spread users at random."""
    recipient = f"'{HOT_USER}'" if hot else "'send-' || CAST(:u AS int)"
    return database.pgbench(
        url,
        PGBENCH_SEND.format(users=sizes.send_users, recipient=recipient),
        clients=CONNECTIONS,
        seconds=sizes.seconds,
    )


def _send_database(database: Database, name: str, sizes: Sizes) -> tuple[str, list[str], str]:
    url = database.create(name)
    users = [f"send-{i}" for i in range(1, sizes.send_users + 1)]
    create_users(url, [*users, HOT_USER])
    token = create_token(url, "send-admin", admin=True)
    run_sql(url, "VACUUM ANALYZE")
    return url, users, token


def _send_row(
    name: str, result: dict[str, float], floor: float, floor_is: str, **extra: Any
) -> dict[str, Any]:
    return row(
        name,
        result["rps"],
        "req/s",
        floor,
        result["rps"] / floor,
        SEND_TARGET,
        p50_ms=result["p50_s"] * 1e3,
        p99_ms=result["p99_s"] * 1e3,
        errors=result["non_2xx"] + result["socket_errors"],
        baseline_is=floor_is,
        **extra,
    )


def _p99_row(name: str, result: dict[str, float]) -> dict[str, Any]:
    return row(
        name, result["p99_s"] * 1e3, "ms", None, None, "reported", p50_ms=result["p50_s"] * 1e3
    )


def send_throughput(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    url, users, token = _send_database(database, "bench_send", sizes)
    settings = database.settings()
    wrk = dict(token=token, connections=CONNECTIONS, seconds=sizes.seconds)

    raw_tps = _raw_insert_floor(database, url, sizes)
    sql_hot = _sql_send_floor(database, url, sizes, hot=True)
    sql_spread = _sql_send_floor(database, url, sizes, hot=False)
    # HTTP alone, for reference: a bare ASGI app on one uvicorn process (uvloop + httptools, as
    # `traybell serve` gets them), taking the same JSON bodies.
    bare_argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_asgi:app",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with ServerProcess(None, bare_argv) as bare:
        bare_http = wrk_send(bare.url, users=users, tag="bare", **wrk)

    before = fetchval(url, "SELECT count(*) FROM notifications WHERE event_name = 'bench.send'")
    with servers(url, 1) as (one,):
        hot = wrk_send(one.url, users=[HOT_USER], tag="hot", **wrk)
        spread = wrk_send(one.url, users=users, tag="spread", **wrk)
        # The scale-out reference: the same two wrk instances as below, both at this one server.
        one_split = wrk_send(
            [one.url, one.url], users=users, tag="split", **wrk | {"connections": 8}, threads=1
        )
    with servers(url, 2) as pair:
        two = wrk_send(
            [s.url for s in pair], users=users, tag="pair", **wrk | {"connections": 8}, threads=1
        )
    stored = fetchval(url, "SELECT count(*) FROM notifications WHERE event_name = 'bench.send'")
    runs = (hot, spread, one_split, two)
    ok_requests = sum(r["requests"] - r["non_2xx"] for r in runs)
    errors = sum(r["non_2xx"] + r["socket_errors"] for r in runs)
    if errors:
        print(f"bench: {errors:.0f} send(s) failed or were refused under load", file=sys.stderr)

    spread_name = f"{len(users)} users"
    return [
        row(
            "raw INSERT+COMMIT, pgbench, 16 clients",
            raw_tps,
            "tx/s",
            None,
            None,
            "reference",
            settings=settings,
        ),
        row(
            "SQL send to 1 hot user, pgbench, 16 clients",
            sql_hot,
            "tx/s",
            None,
            None,
            "floor",
            settings=settings,
        ),
        row(
            f"SQL send spread over {spread_name}, pgbench, 16 clients",
            sql_spread,
            "tx/s",
            None,
            None,
            "floor",
            settings=settings,
        ),
        row(
            "bare ASGI endpoint, 1 uvicorn, wrk -c16",
            bare_http["rps"],
            "req/s",
            None,
            None,
            "reference",
            p99_ms=bare_http["p99_s"] * 1e3,
        ),
        _send_row(
            "send to 1 hot user, wrk -c16, 1 server",
            hot,
            sql_hot,
            "SQL send to 1 hot user, pgbench, 16 clients",
            settings=settings,
            raw_insert_ratio=hot["rps"] / raw_tps,
        ),
        _p99_row("send to 1 hot user: p99 latency at 16 connections", hot),
        _send_row(
            f"send spread over {spread_name}, wrk -c16, 1 server",
            spread,
            sql_spread,
            f"SQL send spread over {spread_name}, pgbench, 16 clients",
            settings=settings,
            raw_insert_ratio=spread["rps"] / raw_tps,
            rows_stored=stored - before,
            ok_responses=ok_requests,
        ),
        _p99_row(f"send spread over {spread_name}: p99 latency at 16 connections", spread),
        row(
            "scale-out: 2 servers vs 1 (API only), 2 x wrk -c8",
            two["rps"],
            "req/s",
            one_split["rps"],
            two["rps"] / one_split["rps"],
            "ratio >= 1.3",
            p99_ms=two["p99_s"] * 1e3,
        ),
    ]


def sends_without_fsync(_: Database, sizes: Sizes) -> list[dict[str, Any]]:
    """The extra row: the same spread send with fsync off, beside the SQL send with fsync off in
    the same throwaway cluster. Not what users run: it hides the commit's flush."""
    database = Database(durable=False)
    try:
        url, users, token = _send_database(database, "bench_send_nofsync", sizes)
        sql_spread = _sql_send_floor(database, url, sizes, hot=False)
        with servers(url, 1) as (one,):
            spread = wrk_send(
                one.url,
                users=users,
                token=token,
                tag="nofsync",
                connections=CONNECTIONS,
                seconds=sizes.seconds,
            )
        return [
            _send_row(
                f"extra, fsync=off: send spread over {len(users)} users, wrk -c16",
                spread,
                sql_spread,
                f"SQL send spread over {len(users)} users, pgbench, 16 clients, fsync=off",
                settings=database.settings(),
            )
        ]
    finally:
        database.close()


def lone_send_latency(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    """What coalescing adds to a send on an idle server: sequential sends through the service,
    coalesced (a batch of one) and alone (the plain statement), interleaved, p50 of each."""
    url, users, _ = _send_database(database, "bench_lone", sizes)

    async def measure() -> tuple[list[float], list[float]]:
        from server.audit import CLI
        from server.config import Settings
        from server.db import create_pool
        from server.service import Outgoing, Service

        pool = await create_pool(url, reset_sessions=False)
        service = Service(pool, Settings.from_env())
        coalesced, alone = [], []
        try:
            for n in range(sizes.lone_sends):
                outgoing = Outgoing(
                    [users[n % len(users)]], "bench.lone", "Build finished", None, "", None,
                    "info", {}, f"lone-{n}", None, None,
                )  # fmt: skip
                began = time.perf_counter()
                await service.send(outgoing, CLI)
                coalesced.append(time.perf_counter() - began)
                began = time.perf_counter()
                await service._send_alone(replace(outgoing, resource_id=f"alone-{n}"), CLI)
                alone.append(time.perf_counter() - began)
        finally:
            await service.close()
            await pool.close()
        return coalesced, alone

    coalesced, alone = asyncio.run(measure())
    ours, plain = percentile(coalesced, 50) * 1e3, percentile(alone, 50) * 1e3
    return [
        row(
            "lone send on an idle server: added by coalescing, p50",
            ours - plain,
            "ms",
            plain,
            None,
            "value <= 1.0 ms",
            coalesced_p50_ms=ours,
            alone_p50_ms=plain,
            sends=len(coalesced),
            baseline_is="the same send alone (one statement, no batch), p50",
        )
    ]


# ---------------------------------------------------------------- 2: fan-out

_ALPHABET = string.digits + string.ascii_lowercase


def _short_id(n: int) -> str:
    """3 characters of base 36: 10,000 ids fit the 64 KiB body limit as a JSON list."""
    return "".join(_ALPHABET[(n // 36**k) % 36] for k in (2, 1, 0))


RAW_FANOUT = """
INSERT INTO notifications (user_id, event_name, title, summary, body, severity, data,
    idempotency_key, created_version, version)
SELECT u, $2, $3, $4, $5, 'info', $6::jsonb, u || ':' || $2 || ':' || $7, v, v
FROM unnest($1::text[]) WITH ORDINALITY AS r(u, v)
"""


SQL_FANOUT = """
SELECT count(*) FROM send_notification($1::text[], $2, $3, $4, $5, NULL, 'info', $6::jsonb,
    NULL, $7, NULL, 5)
"""

# Each measurement starts from the same state: no notifications, the tables vacuumed, every
# dirty page on disk. Otherwise each one met the dead rows and the unflushed pages the one
# before it left (the raw insert's own time moved 0.22-0.64 s between runs).
FANOUT_RESET = (
    "DELETE FROM notifications",
    "VACUUM ANALYZE notifications",
    "VACUUM ANALYZE users",
    "CHECKPOINT",
)


def _timed_statement(url: str, statement: str, *args: Any) -> float:
    """Seconds of one statement in a transaction of its own, commit included."""

    async def go() -> float:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            began = time.perf_counter()
            async with conn.transaction():
                await conn.execute(statement, *args)
            return time.perf_counter() - began
        finally:
            await conn.close()

    return asyncio.run(go())


def fanout(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    url = database.create("bench_fanout")
    users = [_short_id(i) for i in range(sizes.fanout)]
    create_users(url, users)
    token = create_token(url, "fanout-admin", admin=True)
    # The same people as one team: a send to it resolves them in the database.
    run_sql(
        url,
        "INSERT INTO teams (team_id, display_name) VALUES ('everyone', 'Everyone')",
        "INSERT INTO team_members (team_id, user_id)"
        " SELECT 'everyone', user_id FROM users WHERE user_id <> 'fanout-admin'",
    )
    fields = {
        "title": "Maintenance tonight at 22:00",
        "summary": "Expect a short outage",
        "body": "The VPN gateways are replaced between 22:00 and 23:00.",
        "data": {"ticket": 1234},
    }
    values = (fields["title"], fields["summary"], fields["body"], json.dumps(fields["data"]), "r")
    ours: list[float] = []
    team: list[float] = []
    raw: list[float] = []
    sql: list[float] = []
    with servers(url, 1) as (server,), httpx.Client(timeout=120) as client:

        def send(attempt: int, recipients: dict[str, Any] | None = None) -> float:
            payload = {
                **(recipients or {"user_ids": users}),
                "event_name": f"bench.fanout.{attempt}",
                "resource_id": "r",
                **fields,
            }
            body = json.dumps(payload, separators=(",", ":"))
            began = time.perf_counter()
            reply = client.post(
                server.url + "/v1/notifications",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            took = time.perf_counter() - began
            if reply.status_code != 201 or reply.json()["inserted"] != len(users):
                raise RuntimeError(f"fan-out send failed: {reply.status_code} {reply.text[:300]}")
            return took

        measures: list[tuple[list[float], Callable[[int], float]]] = [
            (ours, send),
            (team, lambda n: send(n, {"to": ["team:everyone"]})),
            (raw, lambda n: _timed_statement(url, RAW_FANOUT, users, f"bench.raw.{n}", *values)),
            (sql, lambda n: _timed_statement(url, SQL_FANOUT, users, f"bench.sql.{n}", *values)),
        ]
        send(-1)  # a warm-up: the server's connections and plans
        for attempt in range(sizes.fanout_repeats):
            # Alternating order, so that neither always runs first.
            for samples, measure in measures[:: 1 if attempt % 2 == 0 else -1]:
                run_sql(url, *FANOUT_RESET)
                samples.append(measure(attempt))
    ours_s, team_s, raw_s, sql_s = (
        statistics.median(samples) for samples in (ours, team, raw, sql)
    )
    return [
        row(
            f"fan-out: 1 request to {len(users):,} recipients",
            ours_s,
            "s",
            raw_s,
            raw_s / ours_s,
            "ratio >= 0.8",
            repeats=len(ours),
            ours_s_all=[round(x, 3) for x in ours],
            raw_s_all=[round(x, 3) for x in raw],
            sql_send_s=sql_s,
            baseline_is="one INSERT ... SELECT FROM unnest() of the same rows, alone",
        ),
        row(
            "  the same, baseline: send_notification() of the 10,000 in SQL",
            ours_s,
            "s",
            sql_s,
            sql_s / ours_s,
            "-",
            sql_send_s_all=[round(x, 3) for x in sql],
            baseline_is="the product's own send of the same 10,000, called in SQL",
        ),
        # The same people named as one team, in the same run: resolving the team in the
        # database must cost no more than parsing and checking 10,000 ids.
        row(
            f"fan-out: 1 request to a team of {len(users):,} members",
            team_s,
            "s",
            ours_s,
            ours_s / team_s,
            "ratio >= 0.9",
            repeats=len(team),
            team_s_all=[round(x, 3) for x in team],
            baseline_is="the send to the same 10,000 as user_ids, above",
        ),
    ]


# ---------------------------------------------------------------- 3: read latency

BULK_LOAD = """
INSERT INTO notifications (user_id, event_name, title, summary, body, severity, data,
    idempotency_key, created_at, read_at, created_version, version)
SELECT '{user}', 'bench.load', 'Notification ' || g, 'A short summary', repeat('x', 200), 'info',
       jsonb_build_object('n', g), '{user}:bench.load:' || g,
       now() - ({count} - g) * interval '1 second',
       CASE WHEN g % {unread_every} = 0 THEN NULL ELSE now() END, g, g
FROM generate_series(1, {count}) AS g;
UPDATE users SET sync_version = {count} WHERE user_id = '{user}';
"""


def _timed_gets(client: httpx.Client, url: str, params: dict[str, Any] | None = None) -> float:
    began = time.perf_counter()
    reply = client.get(url, params=params)
    elapsed = time.perf_counter() - began
    if reply.status_code != 200:
        raise RuntimeError(f"GET {url} answered {reply.status_code}: {reply.text[:200]}")
    return elapsed


def read_latency(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    from server.cursors import SyncCursor

    url = database.create("bench_reads")
    counts = {"small": sizes.stored_small, "large": sizes.stored_large}
    tokens, cursors, unread = {}, {}, {}
    for label, count in counts.items():
        user = f"reader-{label}"
        tokens[label] = create_token(url, user)
        run_sql(url, BULK_LOAD.format(user=user, count=count, unread_every=sizes.unread_every))
        unread[label] = count // sizes.unread_every
        # A poll 50 changes behind the head: a page of 50 plus the unread count.
        async_row = fetchval(
            url,
            "SELECT ARRAY[version::text, id::text] FROM notifications WHERE user_id = $1"
            " ORDER BY version DESC, id DESC OFFSET 50 LIMIT 1",
            user,
        )
        version, ident = int(async_row[0]), uuid.UUID(async_row[1])
        cursors[label] = SyncCursor(version, ident).encode()
    run_sql(url, "VACUUM ANALYZE")

    samples: dict[tuple[str, str], list[float]] = {
        (kind, label): [] for kind in ("sync", "unread") for label in counts
    }
    with servers(url, 1) as (server,):
        clients = {
            label: httpx.Client(
                base_url=server.url,
                timeout=30,
                headers={"Authorization": f"Bearer {tokens[label]}"},
            )
            for label in counts
        }
        try:
            calls: dict[str, Callable[[str], float]] = {
                "sync": lambda label: _timed_gets(
                    clients[label], "/v1/sync", {"cursor": cursors[label], "limit": 500}
                ),
                "unread": lambda label: _timed_gets(
                    clients[label], "/v1/notifications/unread-count"
                ),
            }
            for warm in range(50):  # connections, plans and caches warm
                for kind in calls:
                    calls[kind]("small" if warm % 2 else "large")
            # Interleaved, so both sizes meet the same machine noise.
            for _ in range(sizes.latency_requests):
                for kind, call in calls.items():
                    for label in counts:
                        samples[(kind, label)].append(call(label))
        finally:
            for client in clients.values():
                client.close()

    results = []
    small, large = f"{counts['small']:,}", f"{counts['large']:,}"
    for kind, what in (("sync", "sync page of 50 + unread"), ("unread", "unread-count")):
        p = {
            (label, pct): percentile(samples[(kind, label)], pct) * 1e3
            for label in counts
            for pct in (50, 99)
        }
        note = dict(
            unread_small=unread["small"],
            unread_large=unread["large"],
            p50_small_ms=p[("small", 50)],
            p50_large_ms=p[("large", 50)],
            requests=sizes.latency_requests,
        )
        results.append(
            row(
                f"{what} p50, {large} vs {small} stored",
                p[("large", 50)],
                "ms",
                p[("small", 50)],
                p[("large", 50)] / p[("small", 50)],
                "ratio <= 1.5",
                **note,
            )
        )
        results.append(
            row(
                f"{what} p99, {large} vs {small} stored",
                p[("large", 99)],
                "ms",
                p[("small", 99)],
                p[("large", 99)] / p[("small", 99)],
                "ratio <= 1.5",
                **note,
            )
        )
    return results


# ---------------------------------------------------------------- 4: duplicate storm


async def _burst(base_url: str, token: str, bodies: list[dict[str, Any]]) -> tuple[float, list]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=120, headers=headers
    ) as client:
        began = time.perf_counter()
        replies = await asyncio.gather(
            *(client.post("/v1/notifications", json=body) for body in bodies)
        )
        elapsed = time.perf_counter() - began
    return elapsed, [(r.status_code, r.json()) for r in replies]


def duplicate_storm(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    url = database.create("bench_storm")
    create_users(url, ["storm", "distinct"])
    token = create_token(url, "storm-admin", admin=True)
    same = {
        "user_id": "storm",
        "event_name": "deploy.finished",
        "title": "Deploy finished",
        "resource_id": "deploy-42",
    }
    distinct = [
        {
            "user_id": "distinct",
            "event_name": "deploy.finished",
            "title": "Deploy finished",
            "resource_id": f"deploy-{i}",
        }
        for i in range(sizes.storm)
    ]
    with servers(url, 1) as (server,):
        storm_s, storm = asyncio.run(_burst(server.url, token, [same] * sizes.storm))
        distinct_s, spread = asyncio.run(_burst(server.url, token, distinct))
    rows = fetchval(url, "SELECT count(*) FROM notifications WHERE user_id = 'storm'")
    created = sum(1 for status, _ in storm if status == 201)
    ids = {body["results"][0]["id"] for status, body in storm if status in (200, 201)}
    answered = sum(1 for status, _ in storm if status in (200, 201))
    distinct_rows = fetchval(url, "SELECT count(*) FROM notifications WHERE user_id = 'distinct'")
    good = rows == 1 and created == 1 and len(ids) == 1 and answered == sizes.storm
    good = good and distinct_rows == sizes.storm and all(s == 201 for s, _ in spread)
    return [
        row(
            f"duplicate storm: {sizes.storm:,} concurrent identical sends",
            storm_s,
            "s",
            distinct_s,
            storm_s / distinct_s,
            "1 row, one 201, one id",
            verdict="pass" if good else "MISS",
            rows=rows,
            created_201=created,
            distinct_ids=len(ids),
            answered=answered,
            baseline_is=f"{sizes.storm:,} concurrent distinct sends",
        ),
    ]


# ---------------------------------------------------------------- 6: offline catch-up

ARRIVE = """
SELECT count(*) FROM generate_series(1, {count}) AS g,
LATERAL send_notification(ARRAY['{user}'], 'ticket.updated', 'Ticket ' || g || ' updated',
    'Status changed', 'The full text of the change.', '/tickets/' || g, 'info',
    jsonb_build_object('ticket', g), NULL, 'update-' || g, NULL, 5) AS s
"""


def catch_up(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    from desktop.sync import SyncEngine

    url = database.create("bench_catchup")
    user = "traveller"
    token = create_token(url, user)
    with servers(url, 1) as (server,), tempfile.TemporaryDirectory() as tmp:
        engine = SyncEngine(server_url=server.url, token=token, cache_path=Path(tmp) / "c.sqlite3")
        try:
            if not engine.sync().online:
                raise RuntimeError("the client could not reach the server")
            # Offline now: the notifications arrive through the server's own send function,
            # then another device reads some of them.
            fetchval(url, ARRIVE.format(count=sizes.catchup, user=user))
            with httpx.Client(
                base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
            ) as other:
                ids = fetchval(
                    url,
                    "SELECT array_agg(id::text) FROM (SELECT id FROM notifications"
                    " WHERE user_id = $1 ORDER BY created_version LIMIT $2) AS s",
                    user,
                    sizes.catchup_read,
                )
                other.post("/v1/notifications/read", json={"ids": ids}).raise_for_status()
                server_unread = other.get("/v1/notifications/unread-count").json()["unread"]

                began = time.perf_counter()
                result = engine.sync()
                took = time.perf_counter() - began

                # Baseline: the same pages fetched with plain httpx, nothing stored.
                began = time.perf_counter()
                cursor, fetched = None, 0
                for _ in range(1000):
                    params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
                    page = other.get("/v1/sync", params=params).json()
                    fetched += len(page["changes"])
                    cursor = page["cursor"]
                    if not page["has_more"]:
                        break
                raw = time.perf_counter() - began
            cache_unread = {n["id"] for n in engine.notifications(unread_only=True, limit=100_000)}
            server_unread_ids = set(
                fetchval(
                    url,
                    "SELECT coalesce(array_agg(id::text), '{}') FROM notifications"
                    " WHERE user_id = $1 AND read_at IS NULL AND archived_at IS NULL",
                    user,
                )
            )
            total_before = len(engine.notifications(limit=100_000))
        finally:
            engine.close()
    expected = sizes.catchup - sizes.catchup_read
    good = (
        result.online
        and result.unread == server_unread == expected
        and cache_unread == server_unread_ids
        and total_before == sizes.catchup
    )
    return [
        row(
            f"offline catch-up: {sizes.catchup:,} new, {sizes.catchup_read} read elsewhere",
            took,
            "s",
            raw,
            took / raw,
            "cache == server",
            verdict="pass" if good else "MISS",
            cache_unread=result.unread,
            server_unread=server_unread,
            cached=total_before,
            fetched_by_baseline=fetched,
            baseline_is="plain httpx fetch of the same sync pages",
        ),
    ]


# ---------------------------------------------------------------- 7: read-all

RAW_READ_ALL = """
UPDATE notifications SET read_at = now(), version = version + 1
WHERE user_id = $1 AND read_at IS NULL AND archived_at IS NULL
"""


def read_all(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    """One POST /read-all marking `sizes.read_all` unread notifications read, beside one raw
    UPDATE setting read_at (and a new version) on the same rows; both update the same rows and
    indexes. Alternating runs, medians; every run starts from the same unread rows."""
    import asyncpg

    url = database.create("bench_read_all")
    user = "reader-all"
    token = create_token(url, user)
    run_sql(url, BULK_LOAD.format(user=user, count=sizes.read_all, unread_every=1))
    run_sql(url, "VACUUM ANALYZE")

    async def raw_update() -> float:
        conn = await asyncpg.connect(url)
        try:
            began = time.perf_counter()
            status = await conn.execute(RAW_READ_ALL, user)
            took = time.perf_counter() - began
        finally:
            await conn.close()
        if status != f"UPDATE {sizes.read_all}":
            raise RuntimeError(f"the raw read-all changed {status}")
        return took

    def unread_again() -> None:
        run_sql(url, f"UPDATE notifications SET read_at = NULL WHERE user_id = '{user}'")

    ours, raw = [], []
    with (
        servers(url, 1) as (server,),
        httpx.Client(
            base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {token}"}
        ) as client,
    ):
        for _ in range(sizes.read_all_repeats):
            unread_again()
            began = time.perf_counter()
            reply = client.post("/v1/notifications/read-all")
            ours.append(time.perf_counter() - began)
            if reply.status_code != 200 or reply.json()["updated"] != sizes.read_all:
                raise RuntimeError(f"read-all failed: {reply.status_code} {reply.text[:300]}")
            unread_again()
            raw.append(asyncio.run(raw_update()))
    ours_s, raw_s = sorted(ours)[len(ours) // 2], sorted(raw)[len(raw) // 2]
    return [
        row(
            f"read-all of {sizes.read_all:,} unread, 1 request",
            ours_s,
            "s",
            raw_s,
            ours_s / raw_s,
            "ratio <= 1.5",
            repeats=len(ours),
            baseline_is="one raw UPDATE of the same rows",
        ),
    ]


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(result)


# ---------------------------------------------------------------- 9: an Alertmanager storm

INGEST_ALERTS = 100
INGEST_TEAM = 100


def _alert(attempt: int, n: int) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": f"db-{n}", "severity": "warning"},
        "annotations": {"summary": f"Disk almost full on db-{n}", "description": "2% left"},
        "startsAt": f"2026-12-08T03:{attempt % 60:02}:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": f"{attempt:04x}{n:012x}",
    }


async def _sends_to_team(base_url: str, token: str, bodies: list[dict[str, Any]]) -> float:
    """The bodies through POST /v1/notifications, CONNECTIONS at a time; seconds for all."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    headers = {"Authorization": f"Bearer {token}"}
    gate = asyncio.Semaphore(CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=120, headers=headers
    ) as client:

        async def send(body: dict[str, Any]) -> None:
            async with gate:
                reply = await client.post("/v1/notifications", json=body)
            if reply.status_code != 201 or reply.json()["inserted"] != INGEST_TEAM:
                raise RuntimeError(f"send failed: {reply.status_code} {reply.text[:300]}")

        began = time.perf_counter()
        await asyncio.gather(*(send(body) for body in bodies))
        return time.perf_counter() - began


def alertmanager_ingest(database: Database, sizes: Sizes) -> list[dict[str, Any]]:
    url = database.create("bench_ingest")
    users = [f"oncall-{i}" for i in range(INGEST_TEAM)]
    create_users(url, users)
    token = create_token(url, "ingest-admin", admin=True)
    run_sql(
        url,
        "INSERT INTO teams (team_id, display_name) VALUES ('ops', 'Ops')",
        "INSERT INTO team_members (team_id, user_id)"
        " SELECT 'ops', user_id FROM users WHERE user_id <> 'ingest-admin'",
    )
    ours: list[float] = []
    api: list[float] = []
    with servers(url, 1) as (server,), httpx.Client(base_url=server.url, timeout=120) as client:
        created = client.post(
            "/v1/admin/integrations",
            json={"name": "Alertmanager", "kind": "alertmanager", "to": ["team:ops"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        created.raise_for_status()
        source = {"Authorization": f"Bearer {created.json()['token']}"}

        def payload(attempt: int) -> float:
            alerts = [_alert(attempt, n) for n in range(INGEST_ALERTS)]
            body = {"version": "4", "groupKey": '{}:{alertname="DiskFull"}', "alerts": alerts}
            began = time.perf_counter()
            reply = client.post("/hooks/alertmanager", json=body, headers=source)
            took = time.perf_counter() - began
            if reply.status_code != 200 or reply.json()["stored"] != INGEST_ALERTS * INGEST_TEAM:
                raise RuntimeError(f"ingest failed: {reply.status_code} {reply.text[:300]}")
            return took

        def sends(attempt: int) -> float:
            bodies = [
                {
                    "to": ["team:ops"],
                    "event_name": "alertmanager.diskfull",
                    "title": alert["annotations"]["summary"],
                    "summary": "2% left",
                    "body": "2% left\nalertname=DiskFull",
                    "target_url": alert["generatorURL"],
                    "severity": "warning",
                    "idempotency_key": f"api:{alert['fingerprint']}",
                    "batch_key": 'am:{}:{alertname="DiskFull"}',
                }
                for alert in (_alert(attempt, n) for n in range(INGEST_ALERTS))
            ]
            return asyncio.run(_sends_to_team(server.url, token, bodies))

        payload(-1)  # a warm-up: the server's connections and plans
        for attempt in range(sizes.fanout_repeats):
            # Alternating order, so that neither always runs first.
            for samples, measure in [(ours, payload), (api, sends)][:: 1 if attempt % 2 else -1]:
                run_sql(url, *FANOUT_RESET)
                samples.append(measure(attempt))
    ours_s, api_s = statistics.median(ours), statistics.median(api)
    return [
        row(
            f"Alertmanager: {INGEST_ALERTS} alerts to a team of {INGEST_TEAM}, payload to stored",
            ours_s,
            "s",
            api_s,
            api_s / ours_s,
            "ratio >= 0.8",
            repeats=len(ours),
            ours_s_all=[round(x, 3) for x in ours],
            api_s_all=[round(x, 3) for x in api],
            baseline_is=f"the same {INGEST_ALERTS * INGEST_TEAM:,} rows as {INGEST_ALERTS}"
            f" POST /v1/notifications to the team, {CONNECTIONS} at a time",
        ),
    ]

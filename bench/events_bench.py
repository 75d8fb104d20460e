"""Real-time streams (GET /v1/events): send-to-event latency on one server and across two,
memory and database statements per idle stream, the send rate with streams open, and one send
to everyone reaching 1,000 streams (with the statements the hub ran for it).

The streams are read by a small asyncio client in this process (one socket each, chunked
HTTP/1.1 parsed by hand: an httpx client per stream would measure httpx). It shares the
machine with the servers, wrk and PostgreSQL, so every figure here is a ratio or a bound taken
in one run, and the client's own reading is part of what "with streams open" costs.
"""

import asyncio
import hashlib
import json
import re
import secrets
import statistics
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from bench.common import (
    LOOPBACK,
    Database,
    create_token,
    create_users,
    percentile,
    row,
    run_sql,
    servers,
    wrk_send,
)

CONNECTIONS = 16
#: The servers' TRAYBELL_EVENTS_RECHECK_SECONDS (the default), and how many of its periods the
#: idle streams' statements are counted over.
RECHECK_SECONDS = 5
IDLE_RECHECKS = 4


@dataclass(frozen=True)
class Sizes:
    streams: int
    latency_sends: int
    seconds: float  # each wrk run
    rounds: int  # of the send rate without and with streams

    @classmethod
    def of(cls, quick: bool) -> "Sizes":
        return cls(1_000, 30, 4, 2) if quick else cls(1_000, 200, 8, 3)


def run(quick: bool, database_url: str | None = None) -> list[dict[str, Any]]:
    """`database_url` is ignored: a fresh database in a throwaway cluster (or
    BENCH_DATABASE_URL's server)."""
    sizes = Sizes.of(quick)
    database = Database()
    try:
        url = database.create("bench_events")
        tokens = _stream_users(url, sizes.streams)
        admin = create_token(url, "events-admin", admin=True)
        run_sql(url, "VACUUM ANALYZE")
        return asyncio.run(_figures(url, tokens, admin, sizes))
    finally:
        database.close()


# ---------------------------------------------------------------- a minimal stream client


@dataclass(eq=False)
class Stream:
    """One open stream: the (arrival time, page) of each event it got."""

    user_id: str
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def titles(self) -> list[str]:
        return [c["title"] for _, page in self.events for c in page["changes"]]


async def open_stream(url: str, token: str, user_id: str) -> Stream:
    """Connects, checks the 200 and starts reading in a task of its own."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError("benchmarks only target loopback")
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"stream refused: {head[:200]!r}")
    stream = Stream(user_id)
    stream.task = asyncio.create_task(_read(reader, writer, stream))
    return stream


async def _read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: Stream) -> None:
    buffer = b""
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                return
            buffer += (await reader.readexactly(size + 2))[:-2]
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        stream.events.append((time.perf_counter(), json.loads(line[6:])))
                        stream.arrived.set()
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


async def close_streams(streams: Sequence[Stream]) -> None:
    for stream in streams:
        if stream.task is not None:
            stream.task.cancel()
    await asyncio.gather(*(s.task for s in streams if s.task), return_exceptions=True)


async def _settled(streams: list[Stream]) -> list[Stream]:
    """Once the streams' backlogs are in (nothing arrived for half a second), so that what
    follows measures the live part alone."""
    count = -1
    for _ in range(60):
        if count == (count := sum(len(s.events) for s in streams)):
            break
        await asyncio.sleep(0.5)
    return streams


async def _open_many(url: str, tokens: dict[str, str]) -> list[Stream]:
    streams = []
    for start in range(0, len(tokens), 100):  # a hundred at a time: no SYN-queue overflow
        batch = list(tokens.items())[start : start + 100]
        streams += await asyncio.gather(*(open_stream(url, t, u) for u, t in batch))
    return streams


# ---------------------------------------------------------------- set-up


def _stream_users(url: str, count: int) -> dict[str, str]:
    """`count` users with a token each, straight into the tables; user id -> token."""
    users = [f"stream-{i}" for i in range(count)]
    create_users(url, users)
    tokens = {u: "tb_" + secrets.token_urlsafe(32) for u in users}
    values = ",".join(
        f"('{u}', decode('{hashlib.sha256(t.encode()).hexdigest()}', 'hex'), 'bench', 'api',"
        " 'user')"
        for u, t in tokens.items()
    )
    run_sql(url, f"INSERT INTO api_tokens (user_id, token_hash, name, kind, scope) VALUES {values}")
    return tokens


async def _idle_streams(url: str, tokens: dict[str, str], admin: str) -> list[dict[str, Any]]:
    """On a fresh server: its resident memory with the streams open and idle, less before
    them (after one stream has run every code path once), per stream; then the database
    statements the idle streams cost (the hub's rechecks: keepalives need none), counted by
    the server over IDLE_RECHECKS recheck periods, per stream and second."""
    with servers(url, 1) as (fresh,):
        await close_streams(await _open_many(fresh.url, dict(list(tokens.items())[:1])))
        await asyncio.sleep(1)
        before = _rss(fresh)
        streams = await _open_many(fresh.url, tokens)
        await asyncio.sleep(2)  # settled: every (empty) backlog read
        after = _rss(fresh)
        counted, began = _statements(fresh.url, admin), time.monotonic()
        await asyncio.sleep(IDLE_RECHECKS * RECHECK_SECONDS)
        statements = _statements(fresh.url, admin) - counted
        idle_seconds = time.monotonic() - began
        await close_streams(streams)
    return [
        row(
            f"memory per idle stream, {len(streams):,} streams",
            (after - before) / len(streams) / 1024,
            "KiB",
            None,
            None,
            "value <= 20",
            server_rss_mib=after / 2**20,
        ),
        row(
            f"database statements per idle stream, {len(streams):,} streams",
            statements / len(streams) / idle_seconds,
            "tx/s",
            None,
            None,
            "value <= 0.05",
            statements=statements,
            seconds=idle_seconds,
        ),
    ]


def _rss(server: Any) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


def _statements(url: str, admin_token: str) -> float:
    request = urllib.request.Request(
        url + "/metrics", headers={"Authorization": f"Bearer {admin_token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        page = reply.read().decode()
    found = re.search(r"^traybell_event_stream_statements_total (\S+)$", page, re.M)
    return float(found.group(1)) if found else 0.0


# ---------------------------------------------------------------- the figures


async def _figures(
    url: str, tokens: dict[str, str], admin: str, sizes: Sizes
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with servers(url, 2) as (one, two), httpx.Client(timeout=60) as client:
        headers = {"Authorization": f"Bearer {admin}"}

        async def latencies(stream: Stream, via: str, tag: str) -> list[float]:
            samples = []
            for n in range(sizes.latency_sends):
                stream.arrived.clear()
                before = len(stream.events)
                sent = time.perf_counter()
                body = {"user_id": stream.user_id, "event_name": tag, "title": f"{tag} {n}"}
                await asyncio.to_thread(
                    client.post, via + "/v1/notifications", json=body, headers=headers
                )
                while len(stream.events) == before:
                    await asyncio.wait_for(stream.arrived.wait(), 30)
                    stream.arrived.clear()
                samples.append(stream.events[before][0] - sent)
            return samples

        # Latency: one stream on server one, sends through one, then through two.
        [probe] = await _open_many(one.url, dict(list(tokens.items())[:1]))
        local = await latencies(probe, one.url, "local")
        remote = await latencies(probe, two.url, "remote")
        await close_streams([probe])
        for name, samples in (("1 server", local), ("across 2 servers", remote)):
            results.append(
                row(
                    f"send to event, {name}, p99",
                    percentile(samples, 99) * 1e3,
                    "ms",
                    None,
                    None,
                    "value <= 250",
                    p50_ms=percentile(samples, 50) * 1e3,
                    sends=len(samples),
                )
            )

        # The send rate with and without streams open, alternated (after a warm-up) so that
        # the shared machine's drift falls on both; medians of the rounds.
        wrk = dict(users=list(tokens), token=admin, connections=CONNECTIONS, seconds=sizes.seconds)
        server = psutil.Process(one.process.pid)

        async def rate(tag: str) -> tuple[float, float]:
            """(requests/s, server CPU seconds per request) of one wrk run."""
            cpu = sum(server.cpu_times()[:2])
            result = await asyncio.to_thread(wrk_send, one.url, tag=tag, **wrk)
            return result["rps"], (sum(server.cpu_times()[:2]) - cpu) / result["requests"]

        await asyncio.to_thread(wrk_send, one.url, tag="warm", **wrk | {"seconds": 2})
        without, with_open, received = [], [], 0
        streams: list[Stream] = []
        for n in range(sizes.rounds):
            await close_streams(streams)
            without.append(await rate(f"without{n}"))
            streams = await _settled(await _open_many(one.url, tokens))
            before = sum(len(s.events) for s in streams)
            with_open.append(await rate(f"with{n}"))
            received += sum(len(s.events) for s in streams) - before
        rps_without = statistics.median(r for r, _ in without)
        rps_with = statistics.median(r for r, _ in with_open)
        cpu_without = statistics.median(c for _, c in without)
        cpu_with = statistics.median(c for _, c in with_open)
        results.append(
            row(
                f"send rate with {len(tokens):,} streams open vs none, wrk -c16",
                rps_with,
                "req/s",
                rps_without,
                rps_with / rps_without,
                "ratio >= 0.9",
                rounds=sizes.rounds,
                events_received=received,
                server_cpu_ms_per_send=cpu_with * 1e3,
                server_cpu_ms_per_send_without=cpu_without * 1e3,
            )
        )

        # One send to everyone: until the last of the streams (idle again) has it.
        streams = await _settled(streams)
        before = _statements(one.url, admin)
        sent = time.perf_counter()
        body = {"all_users": True, "event_name": "everyone", "title": "to everyone"}
        reply = await asyncio.to_thread(
            client.post, two.url + "/v1/notifications", json=body, headers=headers
        )
        reply.raise_for_status()
        send_seconds = time.perf_counter() - sent

        async def everyone_seen(stream: Stream) -> float:
            while "to everyone" not in stream.titles():
                await asyncio.wait_for(stream.arrived.wait(), 60)
                stream.arrived.clear()
            return next(
                t
                for t, p in stream.events
                if any(c["title"] == "to everyone" for c in p["changes"])
            )

        arrivals = await asyncio.gather(*(everyone_seen(s) for s in streams))
        statements = _statements(one.url, admin) - before
        results.append(
            row(
                f"all_users send (via server two) to the last of {len(streams):,} streams",
                max(arrivals) - sent,
                "s",
                None,
                None,
                "value <= 2",
                p50_s=percentile([a - sent for a in arrivals], 50),
                send_s=send_seconds,
                first_s=min(arrivals) - sent,
                hub_statements=statements,
            )
        )
        await close_streams(streams)
    results += await _idle_streams(url, tokens, admin)
    if any(r["value"] is None for r in results):
        print("bench: an events figure is missing", file=sys.stderr)
    return results

"""Digests by batch key, overflow digests past the rate limit, and the limit under concurrency."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from tests.worker.support import deliveries, scalar, text_of, wait_until


def _fresh_minute(margin: float = 10) -> None:
    """Rate limits count per calendar minute: start a burst well inside one."""
    wait_until(lambda: datetime.now(UTC).second < 60 - margin, 15, "a fresh minute")


def _subject(message) -> str:
    # The standard library folds "7 new: ..." right after "Subject:"; readers drop that space.
    return message["Subject"].strip()


def test_twelve_warnings_with_one_batch_key_become_one_digest(live_server, smtp, start_worker):
    """Batch key: warnings with one key inside the window go out as one digest listing every
    title, digest_seconds after the first; the digest counts once toward the limit."""
    user, _ = live_server.create_user(email_enabled=True, email="b@example.com", digest_seconds=3)
    start_worker(smtp_url=smtp.url)
    titles = [f"Build {n} failed on main" for n in range(12)]
    for title in titles:
        live_server.send(user, title=title, severity="warning", batch_key="ci", body="SECRET")
    [digest] = smtp.mailbox.wait_for(1)
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "sent"]
    )
    assert job["items"] == 12 and job["group_key"] == "batch:ci"
    assert len(deliveries(live_server.database_url, user)) == 1
    text = text_of(digest)
    assert text.startswith("12 new: Build 0 failed on main, Build 1 failed on main")
    assert all(title in text for title in titles)
    assert _subject(digest).startswith("12 new: ")
    assert "SECRET" not in digest.as_string()
    assert scalar(live_server.database_url, "rate_total", user_id=user, channel="email") == 1
    assert len(smtp.mailbox.arrived) == 1


def test_twelve_warnings_in_a_minute_make_five_emails_and_one_digest(
    live_server, smtp, start_worker
):
    """Rate limit: 5 emails a minute go out one by one; the other 7 are folded into one overflow
    digest, never dropped."""
    user, _ = live_server.create_user(email_enabled=True, email="o@example.com", digest_seconds=2)
    start_worker(smtp_url=smtp.url)
    _fresh_minute()
    titles = [f"Alert {n:02}" for n in range(12)]
    for title in titles:
        live_server.send(user, title=title, severity="warning")
    messages = smtp.mailbox.wait_for(6)
    wait_until(
        lambda: all(j["status"] == "sent" for j in deliveries(live_server.database_url, user))
    )
    singles = [m for m in messages if m["Subject"].startswith("[Warning]")]
    [digest] = [m for m in messages if _subject(m).startswith("7 new: ")]
    assert sorted(m["Subject"] for m in singles) == [f"[Warning] {t}" for t in titles[:5]]
    assert all(title in text_of(digest) for title in titles[5:])
    jobs = deliveries(live_server.database_url, user)
    assert [j["items"] for j in jobs if j["group_key"] == "overflow"] == [7]
    assert len(jobs) == 6 and len(smtp.mailbox.arrived) == 6


def test_4n_concurrent_sends_queue_exactly_n_individual_deliveries(make_server, smtp, start_worker):
    """Rate limit under concurrency: 4N sends at once against a limit of N a minute queue N
    single deliveries and one digest with the other 3N; each goes out once."""
    limit = 5
    server = make_server(email_per_minute=limit)
    user, _ = server.create_user(email_enabled=True, email="n@example.com", digest_seconds=2)
    _fresh_minute()
    with ThreadPoolExecutor(4 * limit) as pool:
        replies = list(
            pool.map(
                lambda n: server.send(user, title=f"Concurrent {n:02}", severity="warning"),
                range(4 * limit),
            )
        )
    assert sum(reply["inserted"] for reply in replies) == 4 * limit
    jobs = deliveries(server.database_url, user)
    assert len([j for j in jobs if j["group_key"] is None]) == limit
    assert [j["items"] for j in jobs if j["group_key"] == "overflow"] == [3 * limit]

    start_worker(smtp_url=smtp.url)
    messages = smtp.mailbox.wait_for(limit + 1)
    assert len([m for m in messages if _subject(m).startswith(f"{3 * limit} new: ")]) == 1
    wait_until(lambda: all(j["status"] == "sent" for j in deliveries(server.database_url, user)))
    assert len(smtp.mailbox.arrived) == limit + 1


def test_critical_is_never_batched(live_server, smtp, start_worker):
    """Critical goes at once as its own message, even with a batch key."""
    user, _ = live_server.create_user(
        email_enabled=True, email="c@example.com", digest_seconds=3600
    )
    start_worker(smtp_url=smtp.url)
    live_server.send(user, title="Quiet one", severity="warning", batch_key="k")
    live_server.send(user, title="Datacenter down", severity="critical", batch_key="k")
    [message] = smtp.mailbox.wait_for(1)
    assert message["Subject"] == "[Critical] Datacenter down"
    pending = [j for j in deliveries(live_server.database_url, user) if j["status"] == "pending"]
    assert [j["group_key"] for j in pending] == ["batch:k"]

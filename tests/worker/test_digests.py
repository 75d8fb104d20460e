"""Digests by batch key (the rate limit and its overflow digest: test_rate_limit.py)."""

from tests.worker.support import deliveries, scalar, text_of, wait_until


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

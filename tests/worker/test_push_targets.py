"""Push targets at send time: the worker checks where a push leads again when it sends, and a
job that would lead where it may not fails at once, without reaching it."""

from server.channels.push_targets import AllowedHosts
from tests.worker.support import PushReceiver, deliveries, wait_until


def _failed_job(database_url: str, user: str) -> dict:
    wait_until(lambda: deliveries(database_url, user)[0]["status"] == "failed")
    [job] = deliveries(database_url, user)
    return job


def test_a_name_that_resolves_to_loopback_when_sending_fails_at_once(
    make_server, push, start_worker
):
    """`localhost` was allowed when the URL was saved (an operator listed it then); the worker,
    whose list no longer names it, resolves it to loopback: permanent failure after one
    attempt, and nothing reaches the receiver."""
    server = make_server(push_allowed_hosts=AllowedHosts.parse("localhost"))
    url = f"json://localhost:{push.port}/hook"
    user, _ = server.create_user(push_enabled=True, push_urls=[url])
    server.send(user, title="to loopback", severity="warning")
    start_worker(push_allowed_hosts=AllowedHosts())
    job = _failed_job(server.database_url, user)
    assert job["attempts"] == 1
    assert "localhost resolves to" in job["last_error"]
    assert "not a public address" in job["last_error"] and "/hook" not in job["last_error"]
    assert push.posts == []


def test_every_connection_of_a_send_is_checked_so_a_redirect_cannot_lead_inside(
    live_server, push, start_worker
):
    """The allowed receiver answers with a redirect to an address that is not allowed
    (another loopback address): the connection there is refused as it is made, the job fails
    at once, and the redirect's target never hears of it."""
    inside = PushReceiver(host="127.0.0.2")
    try:
        push.redirect_to = f"http://127.0.0.2:{inside.port}/metadata"
        user, _ = live_server.create_user(push_enabled=True, push_urls=[push.url()])
        live_server.send(user, title="redirected", severity="warning")
        start_worker()
        job = _failed_job(live_server.database_url, user)
        assert job["attempts"] == 1
        assert job["last_error"].endswith(
            "refused to connect to 127.0.0.2, which is not a public address"
        )
        assert inside.posts == []
    finally:
        inside.stop()

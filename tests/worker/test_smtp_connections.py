"""SMTP connection reuse: a worker keeps a few connections to the SMTP server across messages;
one that went away is replaced without losing or repeating a message; refusals keep the job's
error policy (4xx back-off, 5xx failed at once)."""

import subprocess
import uuid
from collections import Counter

import pytest

from server.channels.email import CONNECTIONS, EmailTransport
from tests.support.pg import free_port
from tests.worker.support import SmtpServer, deliveries, wait_until

SENDER = "traybell@localhost"


def _recipient(live_server) -> str:
    user, _ = live_server.create_user(email_enabled=True, email=f"{uuid.uuid4().hex}@example.com")
    return user


def _sent(job) -> bool:
    return job["status"] == "sent"


def _job(live_server, user, done=_sent):
    """The user's one job, once `done` says so."""
    return wait_until(
        lambda: (jobs := deliveries(live_server.database_url, user)) and done(jobs[0]) and jobs[0],
        30,
        "the job",
    )


def _send(live_server, title, done=_sent):
    """A warning to a new user; returns that user's job once `done` says so."""
    user = _recipient(live_server)
    live_server.send(user, title=title, severity="warning")
    return _job(live_server, user, done)


def test_messages_one_after_another_share_one_connection_and_stop_says_quit(
    live_server, smtp, start_worker
):
    """Reuse: messages sent one after another go over one SMTP connection, which the worker
    closes with QUIT when it stops."""
    worker = start_worker(smtp_url=smtp.url)
    for n in range(5):
        _send(live_server, f"message {n}")
    mailbox = smtp.mailbox
    assert len(mailbox.arrived) == len(set(mailbox.arrived)) == 5
    assert len(mailbox.sessions) == 1 and set(mailbox.carried_by.values()) == set(mailbox.sessions)
    assert mailbox.quits == []
    worker.stop()
    assert mailbox.quits == mailbox.sessions


def test_concurrent_sends_use_at_most_the_pool_of_connections(live_server, smtp, start_worker):
    """Reuse: a burst of concurrent sends shares at most CONNECTIONS connections (one
    transaction each at a time), and every message arrives once."""
    users = [_recipient(live_server) for _ in range(20)]
    live_server.send(users, title="burst", severity="warning")
    start_worker(smtp_url=smtp.url)
    for user in users:
        _job(live_server, user)
    mailbox = smtp.mailbox
    assert len(mailbox.arrived) == len(set(mailbox.arrived)) == 20
    assert 1 <= len(mailbox.sessions) <= CONNECTIONS


def test_a_connection_the_server_dropped_between_messages_is_replaced(
    live_server, smtp, start_worker
):
    """Reconnect: after the server drops the kept connection, the next message goes over a new
    one (no attempt spent, none lost, none sent twice) and the one after reuses that."""
    start_worker(smtp_url=smtp.url)
    jobs = [_send(live_server, "before the drop")]
    smtp.drop_connections()
    jobs += [_send(live_server, "after the drop"), _send(live_server, "and again")]
    mailbox = smtp.mailbox
    assert [job["attempts"] for job in jobs] == [1, 1, 1]
    assert sorted(mailbox.arrived) == sorted(f"<delivery.{j['id']}@localhost>" for j in jobs)
    assert len(mailbox.sessions) == 2


def test_a_421_on_a_kept_connection_sends_the_message_again_on_a_new_one(
    live_server, smtp, start_worker
):
    """Reconnect: a server that timed the kept connection out answers 421 and closes it; the
    message is sent once more at once on a new connection, spending no attempt."""
    start_worker(smtp_url=smtp.url)
    _send(live_server, "first")
    smtp.mailbox.mail_answers = ["421 4.4.2 idle too long, closing"]
    job = _send(live_server, "second")
    assert job["attempts"] == 1 and job["last_error"] is None
    assert len(smtp.mailbox.arrived) == 2 and len(smtp.mailbox.sessions) == 2


def test_a_421_on_a_new_connection_is_a_transient_failure(live_server, smtp, start_worker):
    """Reconnect happens once: a 421 on a connection opened for the message is the server's
    answer, retried with back-off like any 4xx."""
    smtp.mailbox.mail_answers = ["421 4.3.2 shutting down"]
    start_worker(smtp_url=smtp.url, retry_base_seconds=0)
    job = _send(live_server, "unlucky")
    assert job["attempts"] == 2 and len(smtp.mailbox.arrived) == 1


def test_a_connection_says_quit_after_its_message_cap(live_server, smtp, start_worker):
    """Cap: a connection carries at most `messages_per_connection` messages, then says QUIT and
    the next message opens a new one."""
    transport = EmailTransport(smtp.url, SENDER, connections=1, messages_per_connection=3)
    users = [_recipient(live_server) for _ in range(7)]
    live_server.send(users, title="capped", severity="warning")
    start_worker(transports={"email": transport})
    for user in users:
        _job(live_server, user)
    mailbox = smtp.mailbox
    assert sorted(Counter(mailbox.carried_by.values()).values()) == [1, 3, 3]
    assert len(mailbox.sessions) == 3 and mailbox.quits == mailbox.sessions[:2]


def test_an_idle_connection_is_closed(live_server, smtp, start_worker):
    """Idle close: a connection unused for `idle_seconds` says QUIT; the next message opens a
    new one."""
    transport = EmailTransport(smtp.url, SENDER, idle_seconds=0.2)
    start_worker(transports={"email": transport})
    _send(live_server, "then silence")
    mailbox = smtp.mailbox
    wait_until(lambda: mailbox.quits == mailbox.sessions, 10, "the idle connection to close")
    _send(live_server, "later")
    assert len(mailbox.sessions) == 2


def test_a_5xx_on_a_kept_connection_fails_the_job_at_once_and_keeps_the_connection(
    live_server, smtp, start_worker
):
    """Error policy: a 5xx on a kept connection fails the job permanently, is not sent again on
    a new connection, and the connection goes on carrying the next message."""
    start_worker(smtp_url=smtp.url)
    _send(live_server, "first")
    smtp.mailbox.answers = ["554 5.7.1 rejected as spam"]
    job = _send(live_server, "refused", lambda j: j["status"] == "failed")
    assert job["attempts"] == 1 and "554" in job["last_error"]
    _send(live_server, "third")
    assert len(smtp.mailbox.arrived) == 3 and len(smtp.mailbox.sessions) == 1


def test_a_4xx_on_a_kept_connection_is_retried_with_back_off(live_server, smtp, start_worker):
    """Error policy: a 4xx (not 421) on a kept connection is a transient failure: the job goes
    back to pending with its error and a delay, then is delivered."""
    start_worker(smtp_url=smtp.url, retry_base_seconds=1)
    _send(live_server, "first")
    smtp.mailbox.answers = ["451 4.3.0 try later"]
    pending = _send(live_server, "deferred", lambda j: j["status"] == "pending" and j["attempts"])
    assert pending["attempts"] == 1 and pending["last_error"].startswith("SMTP 451")
    assert pending["available_at"] > pending["updated_at"]
    user = pending["user_id"]
    sent = _job(live_server, user)
    assert sent["attempts"] == 2 and len(smtp.mailbox.arrived) == 3


# aiosmtpd warns of AUTH without TLS: it does not see TLS that starts with the connection.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtps_with_a_password_logs_in_once_per_kept_connection(
    live_server, start_worker, tmp_path, monkeypatch
):
    """smtps:// with user:password: the worker speaks TLS from the first byte, logs in with the
    URL's (percent-decoded) credentials once per connection, and reuses it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    # The worker verifies the server's certificate: let it trust this one.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    smtp = SmtpServer(free_port(), tls=(cert, key), login=("mailer@example.com", "p@ss:w/rd"))
    smtp.start()
    try:
        assert smtp.url.startswith("smtps://mailer%40example.com:p%40ss%3Aw%2Frd@")
        start_worker(smtp_url=smtp.url)
        for n in range(3):
            _send(live_server, f"over TLS {n}")
        mailbox = smtp.mailbox
        assert len(mailbox.messages) == 3
        assert len(mailbox.sessions) == 1 and mailbox.logins == mailbox.sessions
    finally:
        smtp.stop()

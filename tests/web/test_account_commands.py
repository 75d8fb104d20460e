"""`traybell admin set-password` and `traybell admin invite`: the command line's way in."""

import os
import subprocess
import sys

from tests.support.web import PASSWORD


def traybell(*args: str, database_url: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "traybell", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=120,
    )


def test_set_password_reads_one_line_and_signs_the_user_out_everywhere(
    live_server, person, browser, database_url
):
    """set-password takes one line from stdin, never echoes it, and ends the user's sessions."""
    user, _ = person()
    signed_in = browser()
    signed_in.sign_in(user, PASSWORD)
    done = traybell(
        "admin", "set-password", user, database_url=database_url, stdin="a new passphrase!\n"
    )
    assert done.returncode == 0, done.stderr
    assert "a new passphrase" not in done.stdout + done.stderr
    assert signed_in.get("/").status_code == 303
    assert browser().sign_in(user, "a new passphrase!").status_code == 303


def test_set_password_refuses_a_short_password_and_an_unknown_user(live_server, database_url):
    """Under 10 characters is exit 2 with the rule; an unknown user is exit 1."""
    user, _ = live_server.create_user()
    short = traybell("admin", "set-password", user, database_url=database_url, stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    unknown = traybell(
        "admin", "set-password", "nobody", database_url=database_url, stdin="long enough pw\n"
    )
    assert unknown.returncode == 1 and "nobody" in unknown.stderr


def test_invite_prints_a_link_that_lets_the_user_in(live_server, browser, database_url):
    """admin invite prints PUBLIC_URL/invite/<token>; the page behind it sets the password."""
    user, _ = live_server.create_user()
    done = traybell("admin", "invite", user, database_url=database_url)
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith("http://127.0.0.1:8000/invite/")
    path = link.removeprefix("http://127.0.0.1:8000")
    web = browser()
    accepted = web.post(path, {"password": PASSWORD, "password_confirm": PASSWORD})
    assert accepted.status_code == 303
    assert traybell("admin", "invite", "nobody", database_url=database_url).returncode == 1

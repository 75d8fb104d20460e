"""Bulk onboarding (`traybell admin import-users FILE.csv`, contract "Bulk onboarding") and
invites by email."""

import json

from tests.e2e.test_cli import traybell
from tests.support.db import db_fetch
from tests.support.pg import free_port
from tests.worker.support import SmtpServer

PEOPLE = """user_id,email,display_name,teams,admin
ana,ana@example.com,Ana Lima,ops;dev,true
bo,,Bo,dev,false
not an id!,x@example.com,X,,false
cy,not-an-address,Cy,,false
ana,ana2@example.com,Ana again,,false
dee,dee@example.com,,,maybe
eve,eve@example.com,Eve,sales,

"""


def test_import_creates_what_is_missing_emails_invites_and_changes_nothing_again(
    database_url, tmp_path
):
    """Bulk onboarding: new users, their local teams and memberships are created; a refused
    line (bad id, bad address, repeated id, bad admin) is listed with its line number and
    refuses nothing else; each new user with an address gets their invite by email, the one
    without is shown their link; a second run changes nothing; an existing user named with a
    new team is `updated`."""
    smtp = SmtpServer(free_port())
    smtp.start()
    try:
        csv_file = tmp_path / "people.csv"
        csv_file.write_text(PEOPLE)
        env = {"DATABASE_URL": database_url, "TRAYBELL_SMTP_URL": smtp.url}
        first = traybell("admin", "import-users", str(csv_file), env=env)
        assert first.returncode == 1, first.stderr  # some lines were refused
        summary = json.loads(first.stdout)
        assert {k: summary[k] for k in ("created", "updated", "unchanged")} == {
            "created": 3, "updated": 0, "unchanged": 0
        }  # fmt: skip
        assert [r["line"] for r in summary["refused"]] == [4, 5, 6, 7]
        assert "earlier line" in summary["refused"][2]["reason"]
        invited = {m["To"]: m for m in smtp.mailbox.messages}
        assert set(invited) == {"ana@example.com", "eve@example.com"}
        assert "/invite/" in invited["ana@example.com"].get_body(("plain",)).get_content()
        assert "invite for bo (no email address): http" in first.stderr
        members = db_fetch(
            database_url,
            "SELECT t.team_id, t.managed_by, m.user_id FROM teams t"
            " JOIN team_members m USING (team_id) ORDER BY 1, 3",
        )
        assert [(r["team_id"], r["user_id"]) for r in members] == [
            ("dev", "ana"), ("dev", "bo"), ("ops", "ana"), ("sales", "eve")
        ]  # fmt: skip
        assert {r["managed_by"] for r in members} == {"local"}
        admins = db_fetch(database_url, "SELECT user_id FROM users WHERE is_admin ORDER BY 1")
        assert {"user_id": "ana"} in admins
        assert db_fetch(database_url, "SELECT 1 FROM api_tokens WHERE user_id = 'ana'") == []

        again = traybell("admin", "import-users", str(csv_file), env=env)
        assert json.loads(again.stdout) == {**summary, "created": 0, "unchanged": 3}
        assert len(smtp.mailbox.messages) == 2  # nobody invited twice

        csv_file.write_text("user_id,email,display_name,teams,admin\nbo,,Bo,dev;ops,false\n")
        joined = traybell("admin", "import-users", str(csv_file), env=env)
        assert joined.returncode == 0, joined.stderr
        assert json.loads(joined.stdout) == {
            "created": 0, "updated": 1, "unchanged": 0, "refused": []
        }  # fmt: skip
    finally:
        smtp.stop()


def test_a_file_without_the_header_is_refused_whole(database_url, tmp_path):
    """Bulk onboarding: a file whose first line is not the header imports nothing, exit 2."""
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("ana,ana@example.com,Ana,ops,true\n")
    result = traybell("admin", "import-users", str(csv_file), env={"DATABASE_URL": database_url})
    assert result.returncode == 2
    assert "the first line must be the header user_id,email,display_name,teams,admin" in (
        result.stderr
    )
    assert db_fetch(database_url, "SELECT 1 FROM users WHERE user_id = 'ana'") == []


def test_a_line_naming_a_team_the_company_sign_in_manages_creates_nothing(database_url, tmp_path):
    """Bulk onboarding: a team the identity provider manages is not the import's to fill; the
    line is refused before its user is created, and the next line still goes in."""
    db_fetch(
        database_url,
        "INSERT INTO teams (team_id, display_name, managed_by) VALUES ('corp', 'Corp', 'oidc')",
    )
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "user_id,email,display_name,teams,admin\nfay,,Fay,corp,false\ngus,,Gus,,false\n"
    )
    result = traybell("admin", "import-users", str(csv_file), env={"DATABASE_URL": database_url})
    summary = json.loads(result.stdout)
    assert summary["created"] == 1 and [r["line"] for r in summary["refused"]] == [2]
    assert "managed by the company sign-in" in summary["refused"][0]["reason"]
    assert db_fetch(database_url, "SELECT user_id FROM users WHERE user_id IN ('fay', 'gus')") == [
        {"user_id": "gus"}
    ]


def test_an_invite_is_emailed_when_smtp_is_set_and_still_printed(database_url):
    """Invites: with TRAYBELL_SMTP_URL set, `admin invite` emails the link to the user's
    address (the invite template) and still prints it; without an address it says so."""
    smtp = SmtpServer(free_port())
    smtp.start()
    try:
        env = {"DATABASE_URL": database_url, "TRAYBELL_SMTP_URL": smtp.url}
        traybell("admin", "create-user", "hal", "--email", "hal@example.com", env=env)
        traybell("admin", "create-user", "ivy", env=env)
        invited = traybell("admin", "invite", "hal", env=env)
        assert invited.returncode == 0, invited.stderr
        url = invited.stdout.strip()
        assert "/invite/" in url and "(emailed to hal@example.com)" in invited.stderr
        [mail] = smtp.mailbox.messages
        assert mail["To"] == "hal@example.com" and "choose a password" in mail["Subject"]
        assert url in mail.get_body(("plain",)).get_content()
        unaddressed = traybell("admin", "invite", "ivy", env=env)
        assert unaddressed.returncode == 0 and "(not emailed: no email address)" in (
            unaddressed.stderr
        )
    finally:
        smtp.stop()

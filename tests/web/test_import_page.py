"""The console's Import area: `traybell admin import-users` with a preview before anything
changes."""

import html
import re

from tests.support.db import db_fetch
from tests.support.web import PASSWORD

PEOPLE = (
    "user_id,email,display_name,teams,admin\n"
    "kim,kim@example.com,Kim,ops,false\n"
    "lou,,Lou,ops;dev,true\n"
    "bad id,,,,false\n"
)


def test_an_upload_is_previewed_then_imported_once(live_server, person, browser):
    """Bulk onboarding in the console: the preview lists what each line would do and changes
    nothing; Import creates the users (links shown where not emailed) and teams; a second
    preview of the same file says every line is unchanged."""
    admin, _ = person(admin=True)
    web = browser()
    assert web.sign_in(admin, PASSWORD, "/admin/import").status_code == 303
    token = web.csrf_token("/admin/import")
    preview = web.http.post(
        "/admin/import/preview",
        data={"csrf_token": token},
        files={"file": ("people.csv", PEOPLE.encode(), "text/csv")},
    )
    assert preview.status_code == 200, preview.text
    assert preview.text.count("created and invited") == 2
    assert "refused: user_id:" in preview.text
    assert db_fetch(live_server.database_url, "SELECT 1 FROM users WHERE user_id = 'kim'") == []

    carried = html.unescape(re.search(r'name="people" hidden>([^<]*)<', preview.text).group(1))
    assert carried == PEOPLE
    imported = web.post("/admin/import", {"people": carried}, page="/admin/import")
    assert imported.status_code == 200, imported.text
    assert "Created 2, joined teams 0, unchanged 0, refused 1." in imported.text
    assert imported.text.count("/invite/") == 2 and "no SMTP set" in imported.text
    members = db_fetch(
        live_server.database_url, "SELECT team_id, user_id FROM team_members ORDER BY 1, 2"
    )
    assert [(m["team_id"], m["user_id"]) for m in members] == [
        ("dev", "lou"), ("ops", "kim"), ("ops", "lou")
    ]  # fmt: skip

    again = web.post("/admin/import/preview", {"people": PEOPLE}, page="/admin/import")
    assert again.text.count(">unchanged<") == 2 and "created and invited" not in again.text

"""Which language a page speaks: the person's preference, else the browser's, else the
server's default; `<html lang>` says which."""

import re

from tests.support.web import PASSWORD


def _lang(page) -> str:
    return re.search(r'<html lang="(\w+)">', page.text).group(1)


def test_a_page_speaks_the_browsers_language_until_the_person_chooses_one(
    live_server, person, browser
):
    """Rule: preference > Accept-Language > TRAYBELL_DEFAULT_LANGUAGE (en)."""
    user, token = person()
    web = browser()
    assert _lang(web.get("/login")) == "en"
    hindi_browser = {"Accept-Language": "hi-IN,hi;q=0.9,en;q=0.5"}
    assert _lang(web.get("/login", headers=hindi_browser)) == "hi"
    assert web.sign_in(user, PASSWORD).status_code == 303
    inbox = web.get("/", headers=hindi_browser)
    assert _lang(inbox) == "hi" and "सेटिंग्स" in inbox.text and ">Settings<" not in inbox.text
    with live_server.client(token) as client:
        assert client.patch("/v1/preferences", json={"language": "en"}).json()["language"] == "en"
        assert client.patch("/v1/preferences", json={"language": "de"}).status_code == 422
    inbox = web.get("/", headers=hindi_browser)
    assert _lang(inbox) == "en" and ">Settings<" in inbox.text

"""The tray in Hindi and in English: its own setting, else the system's language, else English;
every word of the menu, the center and the toasts from the catalog."""

from datetime import UTC, datetime

import pytest
from PySide6.QtWidgets import QApplication

from desktop.settings import Settings
from desktop.toasts import plan_toasts
from desktop.ui import language
from shared.i18n import current_language, set_language
from tests.desktop.conftest import start

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


@pytest.fixture
def hindi():
    """The process speaks Hindi for this test only (the tray sets it once, before any widget)."""
    set_language("hi")
    yield
    set_language("en")


def _new(count: int) -> list[dict]:
    return [
        {"id": str(i), "title": f"t{i}", "summary": "", "severity": "info", "read_at": None}
        for i in range(count)
    ]


def test_the_menu_and_the_empty_center_speak_hindi(qtbot, live_server, make_app, hindi):
    """Rule: with the language set to Hindi, the tray's menu, the center's heading and its
    empty text are Hindi (nothing English of the product's own is left in them)."""
    _, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    menu = [a.text() for a in app.tray.menu.actions() if not a.isSeparator()]
    assert menu == [
        "Traybell खोलें",
        "सभी को पढ़ी गई चिह्नित करें",
        "सूचनाएँ 1 घंटे के लिए रोकें",
        "सेटिंग्स…",
        "साइन आउट करें",
        "बंद करें",
    ]
    assert app.center.unread_label.text() == "सब पढ़ लिया"
    assert app.center.status_label.text().startswith("ऑनलाइन, ")
    assert app.center.empty_label.text().startswith("अभी कोई सूचना नहीं।")
    assert app.center.unread_only.text() == "केवल अपठित"


def test_a_summary_toast_counts_in_hindi(hindi):
    """Rule: a summary toast's fixed words are Hindi, with the plural Hindi uses."""
    [toast] = plan_toasts(_new(5), now=NOW, public_url="http://h")
    assert (toast.title, toast.message) == ("5 नई सूचनाएँ", "पढ़ने के लिए Traybell खोलें")


def test_a_summary_toast_in_english_is_as_it_was():
    """Rule: English needs no catalog and reads as before."""
    [toast] = plan_toasts(_new(5), now=NOW, public_url="http://h")
    assert (toast.title, toast.message) == ("5 new notifications", "Open Traybell to read them")


def test_the_language_chosen_in_the_dialog_persists_and_applies_at_the_next_start(
    qtbot, live_server, make_app, monkeypatch
):
    """Rule: the tray uses its own setting, else the system's language, else English; the
    dialog offers the choice and it is saved with the settings."""
    _, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    app.open_settings()
    dialog = app.settings_dialog
    qtbot.waitUntil(dialog.remote.isEnabled)  # preferences arrived from the server
    assert dialog.language.currentData() is None  # "System language" until chosen
    dialog.language.setCurrentIndex(dialog.language.findData("hi"))
    with qtbot.waitSignal(app.controller.synced):
        dialog.save()
    assert Settings.load().language == "hi"
    try:
        monkeypatch.setattr(language, "system_language", lambda: "en")
        assert language.apply_language(Settings.load(), QApplication.instance()) == "hi"
        assert current_language() == "hi"
        # No choice of its own: the system's language, else English.
        monkeypatch.setattr(language, "system_language", lambda: "hi")
        assert language.apply_language(Settings(), QApplication.instance()) == "hi"
        monkeypatch.setattr(language, "system_language", lambda: None)
        assert language.apply_language(Settings(), QApplication.instance()) == "en"
    finally:
        set_language("en")


def test_the_system_language_counts_only_when_traybell_speaks_it(monkeypatch):
    """Rule: a system in Hindi (hi_IN) gives Hindi; one in a language Traybell lacks, none."""
    from PySide6.QtCore import QLocale

    monkeypatch.setattr(QLocale, "system", lambda: QLocale("hi_IN"))
    assert language.system_language() == "hi"
    monkeypatch.setattr(QLocale, "system", lambda: QLocale("de_DE"))
    assert language.system_language() is None


def test_a_worker_thread_speaks_the_language_set_at_start(hindi):
    """Rule: the tray's language holds on every thread (a sign-in's errors are worded on the
    sign-in thread), though a new thread starts with an empty context."""
    import threading

    from shared.i18n import gettext

    heard = []
    worker = threading.Thread(target=lambda: heard.append(gettext("Sign-in cancelled.")))
    worker.start()
    worker.join()
    assert heard == ["साइन इन रद्द किया गया।"]


#: Qt calls (and the tray's own helpers) whose first argument people read.
_SHOWS_TEXT = {
    "QLabel", "QPushButton", "QCheckBox", "QGroupBox", "QAction", "Toast",
    "setText", "setToolTip", "setPlaceholderText", "setWindowTitle", "setHtml",
    "addItem", "addRow", "addAction", "showMessage", "show_message", "_show_error", "_add",
}  # fmt: skip
#: The same in every language: the product's name and a token's prefix ("tb_…").
_UNTRANSLATED = {"Traybell", "tb"}


def _english_shown(path) -> list[str]:
    """Literal words handed straight to a widget in `path`, bypassing the catalog."""
    import ast
    import re

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        first = node.args[0]
        if name not in _SHOWS_TEXT:
            continue
        parts = (
            [first.value]
            if isinstance(first, ast.Constant) and isinstance(first.value, str)
            else [p.value for p in first.values if isinstance(p, ast.Constant)]
            if isinstance(first, ast.JoinedStr)
            else []
        )
        # Tags and addresses (an example server's) are not words.
        text = re.sub(r"<[^>]*>|\S+://\S*", " ", " ".join(parts))
        words = [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in _UNTRANSLATED]
        if words:
            found.append(f"{path.name}:{node.lineno}: {' '.join(parts)!r}")
    return found


def test_no_widget_shows_english_that_bypasses_the_catalog():
    """Rule: a word the tray shows goes through the catalog, or a Hindi tray shows English
    (extraction only sees what is wrapped; this finds what is not)."""
    from tests.desktop.conftest import REPO

    sources = [*sorted((REPO / "desktop" / "ui").glob("*.py")), REPO / "desktop" / "toasts.py"]
    assert not [hit for path in sources for hit in _english_shown(path)]

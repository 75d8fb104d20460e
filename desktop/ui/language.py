"""The tray's language, chosen once at start before any widget is built: its own setting, else
the system's language, else English. A change in the settings dialog applies at the next start
(every window and the menu read their words when they are built)."""

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from desktop.settings import Settings
from shared.i18n import set_language, supported


def system_language() -> str | None:
    """The system's language if Traybell speaks it (QLocale reads LANG/LC_* and the OS's
    settings on Windows and macOS)."""
    return supported(QLocale.system().name())


def apply_language(settings: Settings, app: QCoreApplication) -> str:
    """Speak the chosen language for the process's life; returns it ("en" or "hi")."""
    language = set_language(settings.language or system_language())
    _install_qt_translator(app, language)
    return language


def _install_qt_translator(app: QCoreApplication, language: str) -> None:
    """Qt's own words (a file dialog's buttons, a line edit's context menu). Qt 6's wheels ship
    no `qtbase_hi.qm`, so in Hindi those stay Qt's English until Qt ships one; the load then
    simply finds nothing."""
    translator = QTranslator(app)
    path = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if translator.load(f"qtbase_{language}", path):
        app.installTranslator(translator)

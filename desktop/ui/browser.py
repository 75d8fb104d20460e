"""The one way the tray opens a link in the system browser."""

import logging

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from desktop.links import is_web_url

log = logging.getLogger("traybell.desktop.browser")


def open_web_link(url: str | QUrl) -> bool:
    """Open an http(s) link in the browser; refuse (and log) any other; True when opened."""
    text = url.toString() if isinstance(url, QUrl) else url
    if not is_web_url(text):
        log.warning("not opening %r: only http(s) links open in the browser", text[:200])
        return False
    return QDesktopServices.openUrl(QUrl(text))

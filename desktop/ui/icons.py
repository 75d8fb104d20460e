"""Tray icons: one SVG per state and theme, with the unread badge drawn on top per size.

The badge is painted at each exact pixel size the OS may ask for instead of scaling one big
pixmap down, so the number stays sharp at 16 px as well as at 32 px.
"""

import os
import sys
from functools import cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from desktop.assets import asset_path

STATES = ("normal", "offline", "paused", "signedout")
#: Sizes the tray hosts of Windows, macOS, GNOME, KDE and XEmbed trays request, x1 and x2.
SIZES = (16, 20, 22, 24, 32, 40, 44, 48, 64)
BADGE_COLOR = QColor("#d93025")


def is_dark_theme() -> bool:
    """Whether the tray sits on a dark background, so the light glyph must be used.

    Qt only knows the app's colour scheme, not the panel's. GNOME's top bar is dark in both
    schemes, and a plain X11 tray (no desktop theme, scheme unknown) is dark far more often
    than not; elsewhere (Windows, KDE, macOS) the panel follows the scheme.
    """
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if sys.platform.startswith("linux"):
        desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").upper()
        return scheme == Qt.ColorScheme.Unknown or any(
            name in desktop for name in ("GNOME", "UNITY", "PANTHEON")
        )
    return False


def badge_text(unread: int) -> str:
    if unread <= 0:
        return ""
    return str(unread) if unread < 10 else "9+"


@cache
def _renderer(state: str, dark: bool) -> QSvgRenderer:
    theme = "dark" if dark else "light"
    return QSvgRenderer(str(asset_path("icons", f"tray-{state}-{theme}.svg")))


def tray_image(state: str, unread: int, dark: bool, size: int) -> QImage:
    """The icon for one state at one pixel size, with the badge when there is something unread."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    _renderer(state, dark).render(painter, QRectF(0, 0, size, size))
    text = badge_text(unread) if state == "normal" else ""
    if text:
        _draw_badge(painter, size, text)
    painter.end()
    return image


def _draw_badge(painter: QPainter, size: int, text: str) -> None:
    # Whole pixels throughout: a badge on half pixels looks blurred at 16 px.
    height = max(9, round(size * 0.6))
    width = height if len(text) == 1 else min(size, round(height * 1.45))
    rect = QRectF(size - width, 0, width, height)
    # Cut a ring out of the bell first, so the badge stands apart from it on any tray colour.
    ring = max(1, size // 16)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(Qt.GlobalColor.black)
    cut = rect.adjusted(-ring, -ring, ring, ring)
    painter.drawRoundedRect(cut, cut.height() / 2, cut.height() / 2)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
    painter.setBrush(BADGE_COLOR)
    painter.drawRoundedRect(rect, height / 2, height / 2)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(7, round(height * (0.8 if len(text) == 1 else 0.68))))
    font.setHintingPreference(QFont.HintingPreference.PreferFullHinting)
    painter.setFont(font)
    painter.setPen(Qt.GlobalColor.white)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def tray_icon(state: str, unread: int, dark: bool | None = None) -> QIcon:
    if dark is None:
        dark = is_dark_theme()
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(QPixmap.fromImage(tray_image(state, unread, dark, size)))
    # macOS tints menu bar icons itself when they are masks; the badge then loses its red,
    # so only the badge-less states are handed over as masks.
    icon.setIsMask(sys.platform == "darwin" and not badge_text(unread))
    return icon


def app_icon() -> QIcon:
    return QIcon(str(asset_path("icons", "app.svg")))

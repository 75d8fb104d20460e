"""Logging for the tray: a rotating file under TRAYBELL_HOME/logs."""

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from shared.paths import traybell_home


def setup_logging(level: int = logging.INFO) -> Path:
    """Send the `traybell.desktop` loggers to TRAYBELL_HOME/logs/desktop.log (1 MB x 3)."""
    directory = traybell_home() / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "desktop.log"
    logger = logging.getLogger("traybell.desktop")
    if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    return path

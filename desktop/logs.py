"""Logging for the tray: a rotating file under TRAYBELL_HOME/logs, readable by the user only."""

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from desktop.files import log_dir, private_file


class PrivateRotatingFileHandler(RotatingFileHandler):
    """Each log file is made 0600 before it is opened: the first, and each after a rollover
    (which the standard handler opens under the process's umask)."""

    def _open(self) -> Any:
        private_file(Path(self.baseFilename))
        return super()._open()


def setup_logging(level: int = logging.INFO) -> Path:
    """Send the `traybell.desktop` loggers to TRAYBELL_HOME/logs/desktop.log (1 MB x 3)."""
    path = log_dir() / "desktop.log"
    for written in path.parent.glob("desktop.log*"):
        private_file(written)  # the files of a version before this rule, rotated ones too
    logger = logging.getLogger("traybell.desktop")
    if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
        handler = PrivateRotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    return path

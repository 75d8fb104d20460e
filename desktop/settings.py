"""The tray's own settings, kept as JSON under TRAYBELL_HOME. Never holds the token."""

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path

from shared.paths import traybell_home

log = logging.getLogger("traybell.desktop.settings")

DEFAULT_SERVER = "http://127.0.0.1:8000"


@dataclass
class Settings:
    server_url: str = DEFAULT_SERVER
    poll_seconds: int = 60
    toasts: bool = True
    ca_bundle: str | None = None
    start_at_login: bool = False
    #: ISO 8601 with offset, or None; set by "Pause notifications for 1 hour".
    paused_until: str | None = None

    @classmethod
    def path(cls) -> Path:
        return traybell_home() / "desktop-settings.json"

    @classmethod
    def load(cls) -> "Settings":
        try:
            raw = json.loads(cls.path().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("settings unreadable, using defaults: %s", exc)
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self) -> None:
        path = self.path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        # Atomic on every OS: a crash mid-write leaves the old file, never half of one.
        os.replace(tmp, path)

    def paused(self, now: datetime) -> bool:
        return bool(self.paused_until) and now < datetime.fromisoformat(self.paused_until)

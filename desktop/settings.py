"""The tray's settings: the user's own, kept as JSON under TRAYBELL_HOME (never the token), over
what IT presets for every user of the machine in a system-wide file.

A presettable setting (server, poll interval, start at login) is, in order: IT's value when IT
locked it, else the user's own choice, else `TRAYBELL_SERVER` (the server only), else IT's
preset, else the default. A command's `--server` flag wins over all of them.
"""

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from shared.paths import traybell_home

log = logging.getLogger("traybell.desktop.settings")

DEFAULT_SERVER = "http://127.0.0.1:8000"
POLL_SECONDS_DEFAULT, POLL_SECONDS_MIN, POLL_SECONDS_MAX = 60, 10, 3600
#: Points the tray at another system-wide file than the OS's (tests; a per-user rollout).
PRESET_FILE_VARIABLE = "TRAYBELL_PRESET_FILE"
#: The system-wide file's keys and the settings they preset.
PRESET_KEYS = {
    "server": "server_url",
    "poll_seconds": "poll_seconds",
    "start_at_login": "start_at_login",
}
#: What applies where neither the user nor IT chose; None for start at login leaves the OS as
#: it is.
_DEFAULTS = {
    "server_url": DEFAULT_SERVER,
    "poll_seconds": POLL_SECONDS_DEFAULT,
    "start_at_login": None,
}


def preset_path(platform: str = sys.platform) -> Path:
    """The system-wide file IT deploys: `TRAYBELL_PRESET_FILE`, else the OS's place for it."""
    override = os.environ.get(PRESET_FILE_VARIABLE)
    if override:
        return Path(override)
    if platform == "win32":
        return Path(os.environ.get("PROGRAMDATA") or r"C:\ProgramData", "Traybell", "desktop.json")
    if platform == "darwin":
        return Path("/Library/Application Support/Traybell/desktop.json")
    return Path("/etc/traybell/desktop.json")


def _valid_preset(name: str, value: Any) -> bool:
    if name == "server_url":
        parts = urlsplit(value) if isinstance(value, str) else None
        return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)
    if name == "poll_seconds":
        return type(value) is int and POLL_SECONDS_MIN <= value <= POLL_SECONDS_MAX
    return isinstance(value, bool)


@dataclass(frozen=True)
class Presets:
    """What IT deployed for this machine: values by setting name, and the names it locked."""

    values: Mapping[str, Any] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path | None = None) -> "Presets":
        """Read the system-wide file; what it gets wrong is logged and left out, never fatal:
        a typo in IT's file must not keep the tray from starting."""
        path = path or preset_path()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("preset file %s unreadable, ignored: %s", path, exc)
            return cls()
        if not isinstance(raw, dict):
            log.warning("preset file %s is not a JSON object, ignored", path)
            return cls()
        values = {}
        for key, value in raw.items():
            if key == "locked":
                continue
            name = PRESET_KEYS.get(key)
            if name is None or not _valid_preset(name, value):
                log.warning("preset file %s: %r = %r ignored", path, key, value)
                continue
            values[name] = value.rstrip("/") if name == "server_url" else value
        locked = raw.get("locked", [])
        if not isinstance(locked, list):
            log.warning("preset file %s: 'locked' must be a list of keys, ignored", path)
            locked = []
        names = set()
        for key in locked:
            # Only a setting the file gives a value for can be locked.
            if isinstance(key, str) and PRESET_KEYS.get(key) in values:
                names.add(PRESET_KEYS[key])
            else:
                log.warning("preset file %s: cannot lock %r, it has no valid value", path, key)
        return cls(MappingProxyType(values), frozenset(names))


@dataclass
class Settings:
    """The user's own choices; None where they made none, so that IT's presets and the defaults
    apply (`effective`). Only the user's own choices are saved."""

    server_url: str | None = None
    poll_seconds: int | None = None
    toasts: bool = True
    #: Keep a /v1/events stream open while online, so changes arrive at once; off: polling only.
    realtime: bool = True
    ca_bundle: str | None = None
    start_at_login: bool | None = None
    #: ISO 8601 with offset, or None; set by "Pause notifications for 1 hour".
    paused_until: str | None = None
    #: "en" or "hi"; None follows the system's language (desktop/ui/language.py).
    language: str | None = None
    presets: Presets = field(default_factory=Presets, compare=False, repr=False)

    @classmethod
    def path(cls) -> Path:
        return traybell_home() / "desktop-settings.json"

    @classmethod
    def load(cls, presets: Presets | None = None) -> "Settings":
        presets = presets if presets is not None else Presets.load()
        try:
            raw = json.loads(cls.path().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(presets=presets)
        except (OSError, ValueError) as exc:
            log.warning("settings unreadable, using defaults: %s", exc)
            return cls(presets=presets)
        known = {f.name for f in fields(cls)} - {"presets"}
        return cls(**{k: v for k, v in raw.items() if k in known}, presets=presets)

    def save(self) -> None:
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "presets"}
        path = self.path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(own, indent=2), encoding="utf-8")
        # Atomic on every OS: a crash mid-write leaves the old file, never half of one.
        os.replace(tmp, path)

    def effective(self, name: str) -> Any:
        """A presettable setting as the tray uses it (the order is in the module's docstring)."""
        if name in self.presets.locked:
            return self.presets.values[name]
        own = getattr(self, name)
        return own if own is not None else self.inherited(name)

    def inherited(self, name: str) -> Any:
        """What a presettable setting is where the user chose nothing."""
        server = os.environ.get("TRAYBELL_SERVER")
        if name == "server_url" and server:
            return server.rstrip("/")
        return self.presets.values.get(name, _DEFAULTS[name])

    def locked(self, name: str) -> bool:
        return name in self.presets.locked

    def choose(self, name: str, value: Any) -> None:
        """Take the user's choice of a presettable setting. One equal to what is inherited is
        kept as no choice, so that a later change of IT's preset still reaches this user; a
        locked setting stays as IT set it."""
        if not self.locked(name):
            setattr(self, name, None if value == self.inherited(name) else value)

    def paused(self, now: datetime) -> bool:
        return bool(self.paused_until) and now < datetime.fromisoformat(self.paused_until)

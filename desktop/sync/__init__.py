"""The sync engine: a local SQLite cache kept in step with the server. Imports no Qt."""

from desktop.sync._api import ApiError, Offline, Refused, SignedOut
from desktop.sync._engine import SyncEngine, SyncResult

__all__ = ["ApiError", "Offline", "Refused", "SignedOut", "SyncEngine", "SyncResult"]

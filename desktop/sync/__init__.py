"""The sync engine: a local SQLite cache kept in step with the server. Imports no Qt."""

from desktop.sync._api import ApiClient, ApiError, Offline, Refused, SignedOut
from desktop.sync._device import (
    DeviceSignIn,
    SignedIn,
    SignInCancelled,
    SignInDenied,
    SignInError,
    SignInExpired,
    check_token,
    revoke,
)
from desktop.sync._engine import SyncEngine, SyncResult
from desktop.sync._events import EventStream

__all__ = [
    "ApiClient",
    "ApiError",
    "DeviceSignIn",
    "EventStream",
    "Offline",
    "Refused",
    "SignInCancelled",
    "SignInDenied",
    "SignInError",
    "SignInExpired",
    "SignedIn",
    "SignedOut",
    "SyncEngine",
    "SyncResult",
    "check_token",
    "revoke",
]

"""The app's identity towards the OS."""

import sys

APP_USER_MODEL_ID = "Traybell.Tray"


def set_windows_app_id() -> None:
    """Windows groups windows and attributes toasts by AppUserModelID; without one, a Python
    app's toasts show as "python" or not at all."""
    if sys.platform != "win32":
        return
    import ctypes

    ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(APP_USER_MODEL_ID)

"""The Traybell tray client.

`desktop.sync` is the engine (cache, outbox, API client) and imports no Qt; `desktop.ui` is the
Qt layer on top of it; `desktop.platform` holds what differs per OS (keyring, autostart).
"""

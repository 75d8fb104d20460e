"""The Qt layer: tray icon, notification center, settings. Talks to the engine only."""

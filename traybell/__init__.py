"""Traybell's command line."""

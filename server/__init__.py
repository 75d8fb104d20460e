"""Traybell's server half: HTTP API, rules, SQL and the delivery worker."""

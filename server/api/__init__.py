"""Thin HTTP handlers: parse, call the service, answer."""

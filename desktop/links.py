"""Which links the tray hands to the system browser: http(s) with a host, nothing else.

A notification's `target_url` and the device sign-in's approval page come from the server;
opening a `file:`, `smb:` or some registered app scheme from there would let whoever controls
the server (or the path to an http:// one) run things on this computer.
"""

from urllib.parse import urlsplit

WEB_SCHEMES = ("http", "https")


def is_web_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)

"""What keeps the web pages safe to use: security headers, CSRF tokens, same-site checks and
redirect targets that stay on this site."""

import base64
import hashlib
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "traybell_session"
# The CSRF secret of a browser that is not signed in (the sign-in and invite forms); a signed-in
# browser's forms carry a token derived from its session id instead.
ANONYMOUS_CSRF_COOKIE = "traybell_csrf"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
# FastAPI's interactive API docs load their script from a CDN and run inline code.
_INTERACTIVE_DOCS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds the pages' security headers to every response but the interactive API docs."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_INTERACTIVE_DOCS):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_page_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_page_headers(headers: MutableHeaders) -> None:
    """The security headers, where a response does not set its own. The error page of a bug
    needs them itself: it is answered outside this middleware."""
    for name, value in _PAGE_HEADERS.items():
        headers.setdefault(name, value)


def csrf_token(secret: str) -> str:
    """The form token that goes with a session id (or an anonymous CSRF secret): derived, so
    nothing more is stored, and one-way, so a page never shows the session id itself."""
    digest = hashlib.sha256(b"traybell-csrf\0" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def is_same_site(request: Request, public_url: str) -> bool:
    """False when the browser says the form was posted from another site.

    `Origin: null` (sent under Referrer-Policy: no-referrer) and a missing Origin name no site:
    then the CSRF token alone decides."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    own = {_origin(public_url), (request.url.scheme, (request.headers.get("host") or "").lower())}
    return _origin(origin) in own


def local_path(target: str | None) -> str:
    """`target` when it is a path on this site, else "/": never `//host`, `/\\host` or a URL."""
    if (
        target
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and target.isprintable()
        and not any(c.isspace() for c in target)
    ):
        return target
    return "/"

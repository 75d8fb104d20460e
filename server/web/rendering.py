"""Pages from Jinja2 templates (autoescaped), and static files under content-hashed URLs."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from server.web.session import give_csrf_secret
from shared.i18n import format_number, negotiate, translate, translate_plural, use_language
from shared.models import Severity, audience_label
from shared.snooze import snooze_labels
from shared.timefmt import relative_time

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"

_STATIC = {
    path.name: (path.read_bytes(), hashlib.sha256(path.read_bytes()).hexdigest()[:12])
    for path in STATIC_DIR.iterdir()
    if path.is_file()
}
_CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

static_router = APIRouter(include_in_schema=False)


@static_router.get("/static/{name}")
async def static_file(name: str) -> Response:
    if name not in _STATIC:
        return Response(status_code=404)
    content, _ = _STATIC[name]
    return Response(
        content,
        media_type=_CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"),
        # the URL changes with the content (static_url), so it may be cached for ever
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def static_url(name: str) -> str:
    return f"/static/{name}?v={_STATIC[name][1]}"


def _when(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _ago(value: str | datetime | None) -> str:
    return relative_time(value) if value else ""


def exact_time(value: str | datetime | None) -> str:
    when = _when(value)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when else ""


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(WEB_DIR / "templates"),
    autoescape=True,  # every template, whatever its name: users' text is always escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
# newstyle: `_("%(n)s left", n=3)` fills its placeholders itself, and a missing one is an error.
_environment.install_gettext_callables(translate, translate_plural, newstyle=True)  # type: ignore[attr-defined]
_environment.globals.update(
    static_url=static_url,
    severities=[s.value for s in Severity],
    snooze_labels=snooze_labels,  # called as the page renders, so in the page's language
)
_environment.filters.update(
    ago=_ago, exact=exact_time, audience=audience_label, number=format_number
)


def add_template_global(name: str, value: Any) -> None:
    """A name every template sees (the admin console's areas, for its sub-navigation)."""
    _environment.globals[name] = value


def page_language(request: Request) -> str | None:
    """The signed-in person's language, else the browser's, else the server's default."""
    visitor = getattr(request.state, "visitor", None)
    return (
        (visitor.language if visitor is not None else None)
        or negotiate(request.headers.get("accept-language"))
        or request.app.state.settings.default_language
    )


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page; never cached, since every page but the static files is someone's own."""
    visitor = getattr(request.state, "visitor", None)
    with use_language(page_language(request)) as language:
        page = _environment.get_template(template).render(
            request=request, visitor=visitor, language=language, **context
        )
    response = HTMLResponse(page, status_code, headers={"Cache-Control": "no-store"})
    if visitor is not None:
        give_csrf_secret(request, response, visitor)
    return response

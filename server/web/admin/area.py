"""One area of the admin console: its title in the sub-navigation and its routes."""

from dataclasses import dataclass

from fastapi import APIRouter

from server.web.routing import PageRoute
from shared.i18n import LazyText


@dataclass(frozen=True)
class Area:
    title: str | LazyText  # shown in the page's language
    router: APIRouter

    @property
    def path(self) -> str:
        """The area's page: its router's prefix, `/admin/<name>`."""
        return self.router.prefix


def area_router(path: str) -> APIRouter:
    """The router of an area whose page is `path`: page routes, outside the API's document."""
    return APIRouter(prefix=path, route_class=PageRoute, include_in_schema=False)

"""The release this code is: the one source of the package's version (pyproject.toml reads it),
of `traybell --version`, of /openapi.json's `info.version`, and of the release that
server/db/migrate.py records beside each file it applies."""

VERSION = "0.2.0"


def release_key(version: str) -> tuple[int, ...]:
    """A release's place in the order of releases: "0.10.0" comes after "0.9.2"."""
    return tuple(int(part) for part in version.split("."))

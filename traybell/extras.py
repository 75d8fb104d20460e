"""Which extras of the install are present: `traybell[server]`, `traybell[desktop]`, `[all]`.

Read from the installed package's metadata, so pyproject.toml stays the one list of what each
extra holds.
"""

import re
from importlib import metadata

#: A requirement's name and its own extras: `uvicorn[standard]>=0.30` -> uvicorn, standard.
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
#: A marker that names nothing but one extra: `extra == "server"`.
_ONLY_EXTRA = re.compile(r"""\s*extra\s*==\s*["']([^"']+)["']\s*""")


def missing_packages(extra: str) -> list[str]:
    """The distributions `traybell[extra]` asks for that are not installed (none when Traybell
    runs from a source tree without an install: there is nothing to compare with)."""
    try:
        requirements = metadata.requires("traybell") or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        only_extra = _ONLY_EXTRA.fullmatch(marker)
        # Requirements with platform markers as well are left out rather than misjudged.
        if only_extra is None or only_extra.group(1) != extra:
            continue
        name_and_extras = _REQUIREMENT.match(spec)
        if name_and_extras is None:
            continue
        name, own_extras = name_and_extras.groups()
        if name == "traybell":  # `all` is `traybell[server,desktop]`
            for included in (own_extras or "").split(","):
                missing += missing_packages(included.strip())
            continue
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing

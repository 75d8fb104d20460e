"""The Qt layer: tray icon, notification center, settings. Talks to the engine only.

Importing PySide6 installs its import hook for `__feature__` (PYSIDE-2029): for each module
imported after it, it asks whether the module's source mentions "PySide6" through
`inspect.getsource`, which reads the file through `linecache`, which keeps every one. Measured
at the docked icon: 4.5 MiB of cached source lines (a quarter of the Python heap then), more
once httpx is loaded, and a walk of `sys.modules` per import. The hook asks the same question
here of the file itself, and nothing is kept.
"""

import linecache
import sys
from types import ModuleType

import PySide6.QtCore  # noqa: F401  (installs the hook mended below)


def _mentions_pyside(asked_before: object) -> object:
    def mentions_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.endswith(".py"):
            try:
                with open(path, "rb") as source:
                    return b"PySide6" in source.read()
            except OSError:
                pass
        return asked_before(module)  # type: ignore[operator]

    return mentions_pyside


_feature = sys.modules.get("shibokensupport.feature")
if callable(getattr(_feature, "_mod_uses_pyside", None)):
    _feature._mod_uses_pyside = _mentions_pyside(_feature._mod_uses_pyside)  # type: ignore[union-attr]
    linecache.clearcache()  # what it kept of the modules imported before

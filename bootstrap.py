#!/usr/bin/env python3
"""Run Traybell from a fresh clone with nothing but Python 3.11+.

    python3 bootstrap.py demo        # the whole product on this machine
    python3 bootstrap.py test        # lint, types and the whole test suite
    python3 bootstrap.py bench       # the benchmarks (python -m bench)
    python3 bootstrap.py build       # the tray app as a one-folder PyInstaller build in dist/
    python3 bootstrap.py traybell …  # any traybell command

It creates .venv beside this file on first use and reinstalls only when pyproject.toml changes.
Standard library only: this script runs before any dependency exists.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".traybell-installed"


def _python() -> Path:
    return BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be run by an older Python
        sys.exit(f"Traybell needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and _python().exists():
        return
    if not _python().exists():
        print("bootstrap: creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(
        "bootstrap: installing Traybell and its dependencies (first run takes a few minutes) …",
        flush=True,
    )
    pip = [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[all,dev]"], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    python = str(_python())
    if command == "test":
        steps = [
            [python, "-m", "ruff", "check", "."],
            [python, "-m", "ruff", "format", "--check", "."],
            [python, "-m", "mypy"],  # what it checks, and how strictly: pyproject.toml
            # a file's tests stay on one worker, so its module-scoped fixtures are made once
            [python, "-m", "pytest", "-n", "auto", "--dist", "loadfile", *rest],
        ]
    elif command == "bench":
        steps = [[python, "-m", "bench", *rest]]
    elif command == "build":
        steps = [[python, "-m", "PyInstaller", "build.spec", "--noconfirm", *rest]]
    elif command == "demo":
        steps = [[str(BIN / "traybell"), "demo", *rest]]
    elif command == "traybell":
        steps = [[str(BIN / "traybell"), *rest]]
    else:
        print(
            f"bootstrap: unknown command {command!r}; try demo, test, bench, build or traybell",
            file=sys.stderr,
        )
        return 2
    for step in steps:
        code = subprocess.run(step, cwd=ROOT).returncode
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

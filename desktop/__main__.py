"""`python -m desktop [tray] [LINK] [--server URL] [--token T] [--once]`; also the PyInstaller
entry (and what the OS starts for a `traybell://` link)."""

import argparse
import sys

from desktop.cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="traybell-tray", description="The Traybell tray client.")
    # Accepts a leading "tray" so the packaged app and `traybell tray` take the same arguments.
    parser.add_argument("command", nargs="?", choices=["tray"], default="tray")
    parser.add_argument("link", nargs="?", help="a traybell://n/<id> link to open")
    parser.add_argument("--server", help="server URL (default: from the settings)")
    parser.add_argument("--token", help="API token (default: the stored sign-in)")
    parser.add_argument(
        "--once",
        action="store_true",
        help='sync once, print {"online", "new", "unread"} as JSON, and exit',
    )
    args = parser.parse_args(argv)
    return run(args.server, args.token, args.once, args.link)


if __name__ == "__main__":
    sys.exit(main())

"""`traybell`: the command line front door to the server, the worker and the tray client."""

import argparse
import getpass
import json
import logging
import signal
import sys
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from shared import logs
from shared.models import as_audience
from shared.version import VERSION
from traybell.extras import missing_packages

if TYPE_CHECKING:
    # Imported by the server's commands only: the client's (tray, login, send) never read the
    # server's configuration, and its modules (asyncio, the channels) cost a tray ~5 MiB.
    from server.config import Settings

log = logging.getLogger("traybell")
T = TypeVar("T")


def _configure_logging(log_format: str, verbose: bool = False) -> None:
    logs.configure(log_format, verbose=verbose)
    if not verbose:
        # pgserver logs every command it runs with its whole output, httpx every request.
        for chatty in ("pgserver", "httpx"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    # pgserver asks for a runtime dir at import; its fallback under /tmp is fine for us.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


Command = Callable[[argparse.Namespace, "Settings"], int]
#: A client command: it has settings of its own (desktop/settings.py), none of the server's.
ClientCommand = Callable[[argparse.Namespace], int]
C = TypeVar("C", Command, ClientCommand)


def needs(extra: str) -> Callable[[C], C]:
    """Marks a command as needing `traybell[extra]`; main() refuses it in one line without."""

    def mark(command: C) -> C:
        command.extra = extra  # type: ignore[attr-defined]
        return command

    return mark


def _migrated_database(settings: "Settings", *, create: bool = True) -> tuple[str, list[str]]:
    """The database to use, brought to the current schema, and the migrations applied now.
    `create`: whether an embedded database may be made when there is none (not for the admin
    commands: a new, empty database is never the one meant)."""
    from server.db.migrate import migrate_or_exit
    from server.embedded import resolve_database_url

    database_url = resolve_database_url(settings.database_url, create=create)
    setting = "TRAYBELL_DIRECT_DATABASE_URL" if settings.direct_database_url else "DATABASE_URL"
    return database_url, migrate_or_exit(settings.session_url(database_url), setting)


# ---------------------------------------------------------------- server side


@needs("server")
def cmd_migrate(args: argparse.Namespace, settings: "Settings") -> int:
    _, applied = _migrated_database(settings)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


@needs("server")
def cmd_serve(args: argparse.Namespace, settings: "Settings") -> int:
    from server.app import create_app
    from server.serving import listening_socket, serve

    listening = listening_socket(args.host, args.port)
    database_url, applied = _migrated_database(settings)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    log.info("serving on http://%s:%d", args.host, args.port)
    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again against the
    # handler it found; making that handler a normal exit lets pgserver's exit handler stop the
    # embedded database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = serve(
        create_app(database_url, settings),
        listening,
        log_level="warning",
        access_log=False,
        log_config=None,  # uvicorn's lines go through ours (one JSON object per line)
        # The client's address is taken from X-Forwarded-For by Traybell itself, by
        # TRAYBELL_TRUSTED_PROXIES (server/client_address.py), not a second time here.
        proxy_headers=False,
    )
    return 0 if started else 1  # the lines above say why (the database went away, say)


@needs("server")
def cmd_worker(args: argparse.Namespace, settings: "Settings") -> int:
    from server.worker import run_worker

    database_url, _ = _migrated_database(settings)
    return run_worker(database_url, settings, metrics_port=args.metrics_port)


def _with_services(settings: "Settings", work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Runs `work(service, accounts)` against the migrated database, as the server would."""
    from server.accounts import Accounts
    from server.db import create_pool
    from server.service import Service

    database_url, _ = _migrated_database(settings, create=False)

    async def run() -> T:
        pool = await create_pool(
            database_url, min_size=1, max_size=1, statement_cache=settings.statement_cache
        )
        try:
            return await work(Service(pool, settings), Accounts(pool, settings))
        finally:
            await pool.close()

    import asyncio

    return asyncio.run(run())


@needs("server")
def cmd_create_user(args: argparse.Namespace, settings: "Settings") -> int:
    from server.api.schemas import CreateUserRequest
    from server.audit import CLI
    from server.errors import Conflict

    try:
        request = CreateUserRequest(
            user_id=args.user_id, email=args.email, display_name=args.display_name, admin=args.admin
        )
    except ValueError as exc:
        print(f"traybell: invalid user: {exc}", file=sys.stderr)
        return 2
    try:
        user, token, _ = _with_services(
            settings,
            lambda service, _: service.create_user(
                request.user_id,
                email=request.email,
                display_name=request.display_name,
                is_admin=request.admin,
                actor=CLI,
                with_token=args.token,
                token_scope="admin" if request.admin else "user",
            ),
        )
    except Conflict:
        print(f"traybell: user {args.user_id!r} already exists", file=sys.stderr)
        return 1
    # A live token nobody asked for would sit in a terminal's scrollback: only with --token.
    print(json.dumps({"user_id": user["user_id"]} | ({"token": token} if args.token else {})))
    return 0


@needs("server")
def cmd_tokens_list(args: argparse.Namespace, settings: "Settings") -> int:
    tokens = _with_services(settings, lambda service, _: service.tokens(args.user))
    for token in tokens:
        print(json.dumps(token))
    return 0


@needs("server")
def cmd_tokens_create(args: argparse.Namespace, settings: "Settings") -> int:
    from server.audit import CLI
    from server.errors import Conflict, NotFound

    try:
        token, token_id = _with_services(
            settings, lambda service, _: service.create_token(args.user_id, CLI, args.scope)
        )
    except (Conflict, NotFound) as exc:
        print(f"traybell: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"user_id": args.user_id, "token_id": token_id, "token": token}))
    return 0


@needs("server")
def cmd_tokens_revoke(args: argparse.Namespace, settings: "Settings") -> int:
    from server.audit import CLI
    from server.errors import NotFound

    try:
        _with_services(settings, lambda service, _: service.revoke_token(args.token_id, CLI))
    except NotFound:
        print(f"traybell: no token {args.token_id!r}", file=sys.stderr)
        return 1
    print(f"token {args.token_id} revoked; its event streams end within seconds", file=sys.stderr)
    return 0


@needs("server")
def cmd_import_users(args: argparse.Namespace, settings: "Settings") -> int:
    from pathlib import Path

    from server.audiences import Audiences
    from server.audit import CLI
    from server.onboarding import BadFile, ImportResult, email_invites, import_people, read_people

    result = ImportResult()
    try:
        people = read_people(Path(args.file).read_text(encoding="utf-8"), result)
    except (OSError, UnicodeDecodeError, BadFile) as exc:
        print(f"traybell: {args.file}: {exc}", file=sys.stderr)
        return 2

    async def work(service: Any, accounts: Any) -> Any:
        audiences = Audiences(service.pool)
        await import_people(
            people, result, service=service, accounts=accounts, audiences=audiences, actor=CLI
        )
        return await email_invites(result.invites, settings)

    not_sent = _with_services(settings, work)
    print(json.dumps(result.summary()))
    for invite, why in not_sent:
        print(f"invite for {invite.user_id} ({why}): {invite.url}", file=sys.stderr)
    return 1 if result.refused else 0


@needs("server")
def cmd_set_password(args: argparse.Namespace, settings: "Settings") -> int:
    from server.accounts import WeakPassword, check_password_rule
    from server.audit import CLI
    from server.errors import NotFound

    if sys.stdin.isatty():
        password = getpass.getpass(f"New password for {args.user_id}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_password_rule(password)
        _with_services(
            settings, lambda _, accounts: accounts.set_password(args.user_id, password, CLI)
        )
    except WeakPassword as exc:
        print(f"traybell: {exc}", file=sys.stderr)
        return 2
    except NotFound:
        print(f"traybell: no user {args.user_id!r}", file=sys.stderr)
        return 1
    print(f"password set for {args.user_id}; their web sessions have ended")
    return 0


@needs("server")
def cmd_invite(args: argparse.Namespace, settings: "Settings") -> int:
    from server.audit import CLI
    from server.errors import NotFound
    from server.onboarding import Invite, email_invites

    async def work(service: Any, accounts: Any) -> tuple[Invite, list[tuple[Invite, str]]]:
        user = await service.user(args.user_id)
        url, expires_at = await accounts.create_invite(user["user_id"], CLI)
        invite = Invite(user["user_id"], user["email"], url, expires_at)
        return invite, await email_invites([invite], settings)

    try:
        invite, not_sent = _with_services(settings, work)
    except NotFound:
        print(f"traybell: no user {args.user_id!r}", file=sys.stderr)
        return 1
    print(invite.url)
    emailed = f"emailed to {invite.email}" if not not_sent else f"not emailed: {not_sent[0][1]}"
    print(
        f"one-time sign-up link for {args.user_id}, valid until"
        f" {invite.expires_at:%Y-%m-%d %H:%M %Z} ({emailed})",
        file=sys.stderr,
    )
    return 0


@needs("desktop")
def cmd_send(args: argparse.Namespace) -> int:
    from desktop.cli import send

    payload: dict = {"event_name": args.event_name, "title": args.title, "severity": args.severity}
    if args.all:
        payload["all_users"] = True
    elif to := as_audience(args.to):
        payload["to"] = to
    elif len(args.to) == 1:
        payload["user_id"] = args.to[0]
    else:
        payload["user_ids"] = args.to
    for field in (
        "summary",
        "body",
        "resource_id",
        "batch_key",
        "target_url",
        "idempotency_key",
        "topic",
    ):
        if getattr(args, field) is not None:
            payload[field] = getattr(args, field)
    # The server checks the times (a bad one is its 422, printed like any refusal).
    if args.at is not None:
        payload["send_at"] = args.at
    if args.at_local is not None:
        payload["send_at_local"] = args.at_local
    return send(args.server, args.token, payload)


# ---------------------------------------------------------------- desktop and demo


@needs("desktop")
def cmd_tray(args: argparse.Namespace) -> int:
    from desktop.cli import run

    return run(server=args.server, token=args.token, once=args.once, link=args.link)


@needs("desktop")
def cmd_login(args: argparse.Namespace) -> int:
    from desktop.cli import login

    return login(server=args.server, name=args.name, admin=args.admin)


@needs("all")
def cmd_demo(args: argparse.Namespace, settings: "Settings") -> int:
    from traybell.demo import run_demo

    return run_demo(settings, port=args.port, tray=not args.no_tray)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="traybell", description="Notifications teams trust: server, worker and tray client."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"traybell {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run everything on this machine with demo users")
    demo.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    demo.add_argument("--no-tray", action="store_true", help="do not start the tray client")
    demo.set_defaults(func=cmd_demo)

    serve = commands.add_parser("serve", help="run the HTTP API server")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="run a delivery worker (email, push)")
    worker.add_argument(
        "--metrics-port",
        type=int,
        metavar="P",
        help="serve the worker's Prometheus metrics on 127.0.0.1:P/metrics",
    )
    worker.set_defaults(func=cmd_worker)
    commands.add_parser("migrate", help="apply the schema migrations and exit").set_defaults(
        func=cmd_migrate
    )

    admin = commands.add_parser("admin", help="administration").add_subparsers(
        dest="admin_command", required=True, metavar="ADMIN_COMMAND"
    )
    create_user = admin.add_parser(
        "create-user", help="create a user; prints {user_id} (and a first API token with --token)"
    )
    create_user.add_argument("user_id")
    create_user.add_argument("--email")
    create_user.add_argument("--display-name")
    create_user.add_argument(
        "--admin",
        action="store_true",
        help="make the user an admin (and its --token an admin token)",
    )
    create_user.add_argument(
        "--token", action="store_true", help="also create and print a first API token"
    )
    create_user.set_defaults(func=cmd_create_user)
    tokens = admin.add_parser("tokens", help="API tokens: list, create, revoke").add_subparsers(
        dest="tokens_command", required=True, metavar="TOKENS_COMMAND"
    )
    tokens_list = tokens.add_parser(
        "list", help="one JSON line per token (never the token itself), newest first"
    )
    tokens_list.add_argument("--user", metavar="USER_ID", help="only this user's tokens")
    tokens_list.set_defaults(func=cmd_tokens_list)
    tokens_create = tokens.add_parser("create", help="create and print an API token for a user")
    tokens_create.add_argument("user_id")
    tokens_create.add_argument(
        "--scope",
        choices=["user", "admin", "ingest"],
        default="user",
        help="what the token may do, as POST /v1/admin/users/{user_id}/tokens (default user)",
    )
    tokens_create.set_defaults(func=cmd_tokens_create)
    tokens_revoke = tokens.add_parser("revoke", help="revoke a token by its token_id")
    tokens_revoke.add_argument("token_id")
    tokens_revoke.set_defaults(func=cmd_tokens_revoke)
    import_users = admin.add_parser(
        "import-users",
        help="create users, their teams and memberships from a CSV file; prints one JSON line",
    )
    import_users.add_argument(
        "file", help="CSV with the header user_id,email,display_name,teams,admin"
    )
    import_users.set_defaults(func=cmd_import_users)
    set_password = admin.add_parser(
        "set-password",
        help="set a user's web password from standard input (one line); ends their web sessions",
    )
    set_password.add_argument("user_id")
    set_password.set_defaults(func=cmd_set_password)
    invite = admin.add_parser("invite", help="print a one-time sign-up link (valid 7 days)")
    invite.add_argument("user_id")
    invite.set_defaults(func=cmd_invite)

    send = commands.add_parser("send", help="send a notification through the HTTP API (admin)")
    send.add_argument(
        "--server", help="base URL (default: TRAYBELL_SERVER, else the stored sign-in)"
    )
    send.add_argument(
        "--token", help="an admin token (default: TRAYBELL_TOKEN, else the stored sign-in)"
    )
    recipients = send.add_mutually_exclusive_group(required=True)
    recipients.add_argument(
        "--to",
        nargs="+",
        metavar="RECIPIENT",
        help="user ids, or addresses: team:TEAM_ID, topic:TOPIC, user:USER_ID",
    )
    recipients.add_argument("--all", action="store_true", help="every user")
    send.add_argument("--title", required=True)
    send.add_argument("--summary")
    send.add_argument("--body")
    send.add_argument(
        "--severity", default="info", choices=["info", "success", "warning", "critical"]
    )
    send.add_argument("--event-name", default="admin.message", help="default admin.message")
    send.add_argument("--resource-id")
    send.add_argument("--idempotency-key")
    send.add_argument("--batch-key")
    send.add_argument("--target-url")
    send.add_argument("--topic", help="the topic the notification carries")
    when = send.add_mutually_exclusive_group()
    when.add_argument(
        "--at",
        metavar="TIME",
        help="send at this time, ISO 8601 with its offset (2026-12-09T09:00+05:30)",
    )
    when.add_argument(
        "--at-local",
        metavar="TIME",
        help="send at this wall-clock time in each recipient's own time zone (2026-12-09T09:00)",
    )
    send.set_defaults(func=cmd_send)

    tray = commands.add_parser("tray", help="run the system-tray client")
    tray.add_argument(
        "link", nargs="?", help="a traybell://n/<id> link to open (in the running tray, if one is)"
    )
    tray.add_argument("--server", help="server URL (default: the stored sign-in)")
    tray.add_argument("--token", help="API token (default: the stored sign-in)")
    tray.add_argument("--once", action="store_true", help="sync once, print a JSON line and exit")
    tray.set_defaults(func=cmd_tray)

    login = commands.add_parser(
        "login", help="sign this computer in with the browser; stores the token for the tray"
    )
    login.add_argument(
        "--server", help="server URL (default: TRAYBELL_SERVER, else the tray's server)"
    )
    login.add_argument(
        "--name", help='what your devices list calls it (default "Traybell on <hostname>")'
    )
    login.add_argument(
        "--admin",
        action="store_true",
        help="ask for a token that may act as an admin (only an admin can approve it)",
    )
    login.set_defaults(func=cmd_login)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    extra = getattr(args.func, "extra", None)
    if extra and missing_packages(extra):
        print(
            f"traybell {args.command} needs the {extra} extra: pip install 'traybell[{extra}]'",
            file=sys.stderr,
        )
        return 2
    if extra == "desktop":
        _configure_logging("text", args.verbose)
        return args.func(args)
    from server import exits
    from server.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"traybell: {exc}", file=sys.stderr)
        return exits.CONFIGURATION
    _configure_logging(settings.log_format, args.verbose)
    try:
        return args.func(args, settings)
    except exits.StartupFailure as exc:
        print(f"traybell: {exc}", file=sys.stderr)
        return exc.status


if __name__ == "__main__":
    sys.exit(main())

"""Server configuration, read from the environment once, in one place."""

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from server.channels.push_targets import AllowedHosts
from shared.i18n import LANGUAGES

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A configuration variable holds a value Traybell cannot use."""


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _allowed_hosts(name: str) -> AllowedHosts:
    try:
        return AllowedHosts.parse(os.environ.get(name, ""))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _networks(name: str) -> tuple[IPNetwork, ...]:
    networks = []
    for part in (os.environ.get(name) or "").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{name}: {part.strip()!r} is no address or network") from None
    return tuple(networks)


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _names(name: str) -> tuple[str, ...]:
    """A comma-separated list, each name stripped, empty ones left out."""
    return tuple(part.strip() for part in (os.environ.get(name) or "").split(",") if part.strip())


def _oidc_issuer(name: str) -> str | None:
    """An issuer URL: https, or plain http on a loopback address only (a test provider, or one
    on the same machine); anything else would send the sign-in over the network in clear."""
    issuer = (os.environ.get(name) or "").strip()  # as the provider writes it, "/" and all
    if not issuer:
        return None
    if not is_acceptable_issuer(issuer):
        raise ConfigError(f"{name} must be an https URL (plain http only on loopback): {issuer!r}")
    if not os.environ.get("TRAYBELL_OIDC_CLIENT_ID"):
        raise ConfigError(f"{name} needs TRAYBELL_OIDC_CLIENT_ID (this server's client there)")
    return issuer


def is_acceptable_issuer(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _events_seconds(name: str, default: int) -> int:
    """The contract's bounds for streams: a keepalive every 20 s, a revoked token out in 30."""
    value = _int(name, default, minimum=1)
    if value > 20:
        raise ConfigError(f"{name} must be at most 20, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    smtp_url: str | None
    smtp_from: str
    public_url: str
    lock_timeout_seconds: int
    retry_base_seconds: int
    max_attempts: int
    email_per_minute: int
    push_per_minute: int
    push_allowed_hosts: AllowedHosts = field(default_factory=AllowedHosts)
    session_hours: int = 168
    # Proxies whose X-Forwarded-For is believed (loopback always is).
    trusted_proxies: tuple[IPNetwork, ...] = ()
    log_format: str = "text"
    delivery_retention_days: int = 30
    # Real-time streams: a comment line at least this often (well inside proxies' idle
    # timeouts), and how often each server rechecks its streams' users and tokens in case a
    # wake-up was lost (it also bounds how long a revoked token keeps a stream).
    events_keepalive_seconds: int = 15
    events_recheck_seconds: int = 5
    # Connections each process's pool keeps at most (a server's, a worker's); each process has
    # one more of its own for LISTEN (docs/DEPLOY.md sizes max_connections by it).
    pool_size: int = 10
    # The worker: sends at once; how often an idle one polls although nothing woke it (the
    # contract's at most once a second); how long sends in flight get on SIGTERM.
    worker_concurrency: int = 32
    worker_poll_seconds: int = 1
    worker_shutdown_grace_seconds: int = 10
    # A new user's email and push switches (the contract's default: off).
    default_email: bool = False
    default_push: bool = False
    # The language of pages when neither the person nor the browser names one Traybell
    # speaks, and of emails and pushes to people without a `language` preference.
    default_language: str = "en"
    # PostgreSQL itself (or a session-mode pooler), when DATABASE_URL is PgBouncer in
    # transaction mode: LISTEN and the migrations need a session of their own, which such a
    # pooler does not keep.
    direct_database_url: str | None = None
    # Company sign-in (OpenID Connect): the provider's issuer URL (None: no company sign-in),
    # this server's client there, the button's words, which claims name the person and their
    # groups, and which groups make admins (None: the admin flag is Traybell's own) and teams.
    oidc_issuer: str | None = None
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_name: str = "your company account"
    oidc_user_claim: str | None = None  # None: preferred_username, else sub
    oidc_groups_claim: str = "groups"
    oidc_admin_groups: tuple[str, ...] | None = None
    oidc_team_groups: tuple[str, ...] = ()  # ("*",): every group
    # Off: the sign-in page has no password form and refuses passwords (the command line,
    # which runs on the server itself, still sets them).
    password_signin: bool = True

    def session_url(self, database_url: str) -> str:
        """Where the connections that need a session of their own go: LISTEN, migrations."""
        return self.direct_database_url or database_url

    @property
    def statement_cache(self) -> bool:
        """Whether pooled connections keep prepared statements: not behind a transaction-mode
        pooler, which hands each transaction whichever server connection is free."""
        return self.direct_database_url is None

    @classmethod
    def from_env(cls) -> "Settings":
        _check_metrics_directory()
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            smtp_url=os.environ.get("TRAYBELL_SMTP_URL") or None,
            smtp_from=os.environ.get("TRAYBELL_SMTP_FROM") or "traybell@localhost",
            public_url=(os.environ.get("TRAYBELL_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip(
                "/"
            ),
            lock_timeout_seconds=_int("TRAYBELL_LOCK_TIMEOUT_SECONDS", 300, minimum=1),
            retry_base_seconds=_int("TRAYBELL_RETRY_BASE_SECONDS", 60),
            max_attempts=_int("TRAYBELL_MAX_ATTEMPTS", 5, minimum=1),
            email_per_minute=_int("TRAYBELL_EMAIL_PER_MINUTE", 5, minimum=1),
            push_per_minute=_int("TRAYBELL_PUSH_PER_MINUTE", 20, minimum=1),
            push_allowed_hosts=_allowed_hosts("TRAYBELL_PUSH_ALLOWED_HOSTS"),
            session_hours=_int("TRAYBELL_SESSION_HOURS", 168, minimum=1),
            trusted_proxies=_networks("TRAYBELL_TRUSTED_PROXIES"),
            log_format=_choice("TRAYBELL_LOG_FORMAT", "text", ("text", "json")),
            delivery_retention_days=_int("TRAYBELL_DELIVERY_RETENTION_DAYS", 30, minimum=1),
            events_keepalive_seconds=_events_seconds("TRAYBELL_EVENTS_KEEPALIVE_SECONDS", 15),
            events_recheck_seconds=_events_seconds("TRAYBELL_EVENTS_RECHECK_SECONDS", 5),
            pool_size=_int("TRAYBELL_POOL_SIZE", 10, minimum=2),
            worker_concurrency=_int("TRAYBELL_WORKER_CONCURRENCY", 32, minimum=1),
            worker_poll_seconds=_int("TRAYBELL_WORKER_POLL_SECONDS", 1, minimum=1),
            worker_shutdown_grace_seconds=_int("TRAYBELL_WORKER_SHUTDOWN_GRACE_SECONDS", 10),
            default_email=_choice("TRAYBELL_DEFAULT_EMAIL", "off", ("on", "off")) == "on",
            default_language=_choice("TRAYBELL_DEFAULT_LANGUAGE", "en", LANGUAGES),
            default_push=_choice("TRAYBELL_DEFAULT_PUSH", "off", ("on", "off")) == "on",
            direct_database_url=os.environ.get("TRAYBELL_DIRECT_DATABASE_URL") or None,
            oidc_issuer=_oidc_issuer("TRAYBELL_OIDC_ISSUER"),
            oidc_client_id=os.environ.get("TRAYBELL_OIDC_CLIENT_ID") or "",
            oidc_client_secret=os.environ.get("TRAYBELL_OIDC_CLIENT_SECRET") or "",
            oidc_name=os.environ.get("TRAYBELL_OIDC_NAME") or "your company account",
            oidc_user_claim=os.environ.get("TRAYBELL_OIDC_USER_CLAIM") or None,
            oidc_groups_claim=os.environ.get("TRAYBELL_OIDC_GROUPS_CLAIM") or "groups",
            oidc_admin_groups=_names("TRAYBELL_OIDC_ADMIN_GROUPS") or None,
            oidc_team_groups=_names("TRAYBELL_OIDC_TEAM_GROUPS"),
            password_signin=_choice("TRAYBELL_PASSWORD_SIGNIN", "on", ("on", "off")) == "on",
        )


def _check_metrics_directory() -> None:
    """prometheus_client writes under PROMETHEUS_MULTIPROC_DIR from the first metric on, and
    fails there with a traceback when the folder is not there."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)):
        raise ConfigError(
            f"PROMETHEUS_MULTIPROC_DIR={folder} is not a folder this user can write: create it"
            " (under systemd, RuntimeDirectory=: docs/DEPLOY.md) or unset the variable"
        )

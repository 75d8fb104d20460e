r"""What the API accepts and returns. Validation happens here, before any rule runs.

The OpenAPI document is generated from these models and says exactly what they enforce, so
that every request it describes as valid is taken (schemathesis checks both directions).
Patterns use explicit character classes, read alike by Python, JSON Schema (ECMA-262) and
pydantic's Rust engine: `\s` and `\d` mean different sets in each.
"""

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

from server.cursors import PAGE_CURSOR_PATTERN, SYNC_CURSOR_PATTERN
from server.service import Outgoing, SendTime
from shared.models import Notification, Severity

MAX_RECIPIENTS = 10_000
MAX_ADDRESSES = 100
MAX_TOPIC_PREFERENCES = 100
MAX_IDS = 1_000
MAX_DATA_BYTES = 16_384

NO_NUL_PATTERN = r"^[^\x00]*$"
#: Whitespace of every engine's `\s`, and the C0 and C1 control characters.
_BLANK = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
#: http(s) URLs and site paths only: no `javascript:`, `data:` or `//host` links.
TARGET_URL_PATTERN = (
    rf"^([hH][tT][tT][pP][sS]?://[^{_BLANK}/?#]+[^{_BLANK}]*|/([^{_BLANK}/\\][^{_BLANK}]*)?)$"
)
PUSH_URL_PATTERN = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^\x00]*$"
#: One character a new user id may not hold (the company sign-in turns each into "-").
NOT_IN_NEW_USER_IDS = rf"[{_BLANK}/]"
NEW_USER_ID_PATTERN = rf"^[^{_BLANK}/]+$"
#: An ISO 8601 instant with its offset (or Z), to the second or finer.
INSTANT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
#: A wall-clock time without offset, to the minute.
WALL_CLOCK_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$"
EVENT_NAME_PATTERN = r"^[a-z0-9._:-]{1,100}$"
TEAM_ID_PATTERN = r"^[a-z0-9._-]{1,64}$"
#: `user:<user_id>`, `team:<team_id>` or `topic:<topic>` (a topic has the event name's rules).
ADDRESS_PATTERN = r"^(user:[^\x00]{1,200}|team:[a-z0-9._-]{1,64}|topic:[a-z0-9._:-]{1,100})$"


class Documented:
    """JSON Schema keywords for the document where a validator here, not pydantic, enforces
    the rule (a message of our own, or a 400 instead of a 422)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        handler.resolve_ref_schema(schema).update(self.keywords)
        return schema


def json_integer(value: Any) -> Any:
    """A JSON Schema integer: a number without a fraction (5, or 5.0), never text or a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def storable(text: str) -> str:
    """Text PostgreSQL can store: no NUL character, no lone UTF-16 surrogate."""
    if not re.fullmatch(NO_NUL_PATTERN, text):
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(storable), Documented(pattern=NO_NUL_PATTERN)]
UserId = Annotated[Text, Field(min_length=1, max_length=200)]
Key = Annotated[Text, Field(min_length=1, max_length=200)]
TopicName = Annotated[str, Field(pattern=EVENT_NAME_PATTERN)]
TeamId = Annotated[str, Field(pattern=TEAM_ID_PATTERN)]
Address = Annotated[Text, Field(pattern=ADDRESS_PATTERN)]


def _unique(items: list[str]) -> list[str]:
    if len(set(items)) != len(items):
        repeated = sorted({item for item in items if items.count(item) > 1})
        raise ValueError(f"each address at most once; repeated: {', '.join(repeated[:5])}")
    return items


Addresses = Annotated[
    list[Address],
    Field(min_length=1, max_length=MAX_ADDRESSES),
    AfterValidator(_unique),
    Documented(uniqueItems=True),
]


class _StorableKeys:
    """An object's keys are storable text: `propertyNames`, where pydantic would write
    `patternProperties` (which leaves other keys free)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        [(pattern, values)] = target.pop("patternProperties").items()
        target.update(propertyNames={"pattern": pattern}, additionalProperties=values)
        return schema


#: Any JSON whose strings and keys PostgreSQL can store. The value is one string, read by
#: pydantic when it builds the model: mypy follows a recursive alias only in that form.
JsonValue = TypeAliasType(
    "JsonValue",
    "Text | StrictInt | StrictFloat | StrictBool | list[JsonValue]"
    " | Annotated[dict[Text, JsonValue], _StorableKeys()] | None",
)
JsonObject = Annotated[dict[Text, JsonValue], _StorableKeys()]


# email-validator refuses special-use names such as `.local` (the usual Active Directory
# domain) even with its DNS checks off; removing them from its list is its documented way
# to allow them. Whether an address takes mail is the SMTP server's business, not ours.
email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()


def email_address(value: str) -> str:
    """Every syntactically valid address (RFC 5321) with a domain name, in its normalized form:
    a domain literal (`root@[127.0.0.1]`) would let anyone aim the server's mail at an address
    of its own network."""
    try:
        parts = email_validator.validate_email(
            value,
            check_deliverability=False,
            globally_deliverable=False,
            allow_quoted_local=True,
            allow_domain_literal=False,
        )
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"must be an email address: {exc}") from None
    return parts.normalized


EmailAddress = Annotated[
    str, Field(max_length=320), AfterValidator(email_address), Documented(format="email")
]
#: Cursors are checked when they are read (a malformed one is 400, not 422).
SyncCursorText = Annotated[str, Documented(pattern=SYNC_CURSOR_PATTERN)]
PageCursorText = Annotated[str, Documented(pattern=PAGE_CURSOR_PATTERN)]


def _instant(text: str) -> str:
    """A real date and time (not 2026-02-30), kept as given."""
    datetime.fromisoformat(text.replace("Z", "+00:00"))
    return text


Instant = Annotated[str, Field(pattern=INSTANT_PATTERN), AfterValidator(_instant)]
WallClock = Annotated[str, Field(pattern=WALL_CLOCK_PATTERN), AfterValidator(_instant)]


def instant(text: str) -> datetime:
    """An `Instant` as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


def _absent(name: str) -> dict[str, Any]:
    """`name` is not given: missing, null, or (for all_users) false."""
    return {"const": False} if name == "all_users" else {"type": "null"}


_RECIPIENT_FORMS: dict[str, dict[str, Any]] = {
    "user_id": {"type": "string"},
    "user_ids": {"type": "array"},
    "all_users": {"const": True},
    "to": {"type": "array"},
}


class SendRequest(RequestModel):
    # Exactly one recipient form; in the document, one branch of a oneOf each.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": [given],
                    "properties": {
                        name: form if name == given else _absent(name)
                        for name, form in _RECIPIENT_FORMS.items()
                    },
                }
                for given in _RECIPIENT_FORMS
            ]
        },
    )

    user_id: UserId | None = None
    user_ids: Annotated[list[UserId], Field(min_length=1, max_length=MAX_RECIPIENTS)] | None = None
    all_users: StrictBool = False
    to: Addresses | None = None
    event_name: Annotated[str, Field(pattern=EVENT_NAME_PATTERN)]
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    summary: Annotated[Text, Field(max_length=140)] | None = None
    body: Annotated[Text, Field(max_length=5000)] = ""
    target_url: Annotated[str, Field(max_length=2000, pattern=TARGET_URL_PATTERN)] | None = None
    severity: Severity = Severity.INFO
    data: Annotated[
        JsonObject,
        Field(description=f"At most {MAX_DATA_BYTES} bytes as compact UTF-8 JSON."),
    ] = Field(default_factory=dict)
    resource_id: Key | None = None
    idempotency_key: Key | None = None
    batch_key: Key | None = None
    send_at: (
        Annotated[
            Instant,
            Documented(description="Send at this instant (at most 366 days ahead); past: now."),
        ]
        | None
    ) = None
    send_at_local: (
        Annotated[
            WallClock,
            Documented(
                description="Send at this wall-clock time in each recipient's own timezone "
                "preference (UTC when none); a time that does not exist that day (the clocks "
                "jumped over it) is sent at the first valid instant after it."
            ),
        ]
        | None
    ) = None
    topic: Annotated[
        TopicName | None,
        Field(description="Default: the first `topic:` address of `to`, if any."),
    ] = None

    @field_validator("data")
    @classmethod
    def _data_fits(cls, data: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > MAX_DATA_BYTES:
            raise ValueError(f"must be at most {MAX_DATA_BYTES} bytes as JSON, not {size}")
        return data

    @model_validator(mode="after")
    def _one_recipient_form(self) -> "SendRequest":
        given = [
            self.user_id is not None,
            self.user_ids is not None,
            self.all_users,
            self.to is not None,
        ]
        if sum(given) != 1:
            raise ValueError("give exactly one of user_id, user_ids, all_users: true or to")
        if self.send_at is not None and self.send_at_local is not None:
            raise ValueError("give at most one of send_at and send_at_local")
        return self

    def send_time(self) -> SendTime | None:
        """When the send is due, for a scheduled one."""
        if self.send_at is not None:
            return SendTime(at=instant(self.send_at))
        if self.send_at_local is not None:
            return SendTime(local=datetime.fromisoformat(self.send_at_local))
        return None

    def recipients(self) -> list[str] | None:
        if self.all_users or self.to is not None:
            return None
        return (
            [self.user_id] if self.user_id is not None else list(dict.fromkeys(self.user_ids or []))
        )

    def outgoing(self, idempotency_header: str | None = None) -> Outgoing:
        """The validated send as the service takes it; the `Idempotency-Key` header gives the
        key when the body gives none (neither `idempotency_key` nor `resource_id`)."""
        return Outgoing(
            recipients=self.recipients(),
            event_name=self.event_name,
            title=self.title,
            summary=self.summary,
            body=self.body,
            target_url=self.target_url,
            severity=self.severity.value,
            data=self.data,
            resource_id=self.resource_id,
            idempotency_key=self.idempotency_key
            or (idempotency_header if self.resource_id is None else None),
            batch_key=self.batch_key,
            to=self.to,
            topic=self.topic,
        )


class IdsRequest(RequestModel):
    ids: Annotated[list[Annotated[Text, Field(max_length=100)]], Field(max_length=MAX_IDS)]


class ReadAllRequest(RequestModel):
    up_to: SyncCursorText | None = None


def _timezone(name: str) -> str:
    if name not in _TIMEZONES:
        raise ValueError("must be an IANA time zone such as Europe/Berlin")
    ZoneInfo(name)
    return name


_TIMEZONES = available_timezones() | {"UTC"}


TimeZone = Annotated[str, AfterValidator(_timezone), Documented(enum=sorted(_TIMEZONES))]
Language = Literal["en", "hi"]  # shared.i18n.LANGUAGES


class QuietHours(RequestModel):
    start: Annotated[str, Field(pattern=CLOCK_PATTERN)]
    end: Annotated[str, Field(pattern=CLOCK_PATTERN)]
    #: Absent or null: the user's `timezone` preference (UTC when none).
    timezone: TimeZone | None = None


PushUrl = Annotated[str, Field(min_length=3, max_length=2000, pattern=PUSH_URL_PATTERN)]


class TopicOverrides(RequestModel):
    """Per channel: true or false overrides the channel's rule for the topic, null inherits."""

    in_app: StrictBool | None = None
    email: StrictBool | None = None
    push: StrictBool | None = None


class Preferences(BaseModel):
    in_app_enabled: bool
    email_enabled: bool
    push_enabled: bool
    digest_seconds: int
    email: str | None
    push_urls: list[str]
    quiet_hours: QuietHours | None
    timezone: str | None
    language: Language | None
    topics: dict[str, TopicOverrides]


class PreferencesPatch(RequestModel):
    """Any subset. `email` and `quiet_hours` may be cleared with null; the others always have
    a value, so null is refused for them (absent leaves them as they are)."""

    # Hence a None default under a type without None: pydantic gives the default to an absent
    # field and checks only what was sent; mypy sees a wrong default (the ignores below).

    in_app_enabled: StrictBool = None  # type: ignore[assignment]
    email_enabled: StrictBool = None  # type: ignore[assignment]
    push_enabled: StrictBool = None  # type: ignore[assignment]
    # The bounds before the validator, so that they are the document's minimum and maximum.
    digest_seconds: Annotated[int, Field(ge=0, le=86_400), BeforeValidator(json_integer)] = None  # type: ignore[assignment]
    email: EmailAddress | None = None
    push_urls: Annotated[
        list[Annotated[PushUrl, AfterValidator(storable)]],
        Field(
            max_length=20,
            description="Apprise URLs. Each may only reach public addresses, unless the "
            "server's TRAYBELL_PUSH_ALLOWED_HOSTS lists its host (422 push_url_not_allowed).",
        ),
    ] = None  # type: ignore[assignment]
    quiet_hours: QuietHours | None = None
    timezone: TimeZone | None = None
    #: Null: the browser's language on the pages, the server's default in emails and pushes.
    language: Language | None = None
    topics: Annotated[
        dict[TopicName, TopicOverrides],
        _StorableKeys(),
        Field(
            max_length=MAX_TOPIC_PREFERENCES,
            description="Merged per topic and channel: a channel left out keeps its value.",
        ),
    ] = None  # type: ignore[assignment]


class SnoozeRequest(RequestModel):
    until: Annotated[Instant, Documented(description="1 minute to 30 days ahead.")]

    def until_instant(self) -> datetime:
        return instant(self.until)


class CreateUserRequest(RequestModel):
    user_id: Annotated[str, Field(min_length=1, max_length=200, pattern=NEW_USER_ID_PATTERN)]
    email: EmailAddress | None = None
    display_name: Annotated[Text, Field(max_length=200)] | None = None
    admin: StrictBool = False


class CreateTeamRequest(RequestModel):
    team_id: TeamId
    display_name: Annotated[Text, Field(min_length=1, max_length=100)] | None = None


class DeclareTopicRequest(RequestModel):
    description: Annotated[Text, Field(max_length=500)] = ""
    open: StrictBool


class DeviceAuthorizeRequest(RequestModel):
    client_name: Annotated[Text, Field(min_length=1, max_length=100)]
    scope: Literal["user", "admin"] = Field(
        "user", description="`admin`: the device may act as an admin; only an admin can approve"
    )


class CreateTokenRequest(RequestModel):
    scope: Literal["user", "admin"] = Field(
        "user", description="`admin` makes admin calls; only an admin user may hold one"
    )


class DeviceTokenRequest(RequestModel):
    device_code: Annotated[Text, Field(min_length=1, max_length=200)]


# ------------------------------------------------------------ replies (for the OpenAPI document)


class SendResult(BaseModel):
    user_id: str
    id: str | None
    inserted: bool
    suppressed: bool | None = None


class SendReply(BaseModel):
    results: list[SendResult]
    inserted: int
    duplicates: int


class Schedule(BaseModel):
    schedule_id: str
    status: Literal["scheduled", "sent", "cancelled"]
    send_at: str | None = None
    send_at_local: str | None = None
    created_at: str
    user_ids: list[str] | None = None
    all_users: bool | None = None
    to: list[str] | None = None
    event_name: str
    title: str
    severity: Severity
    released_at: str | None
    cancelled_at: str | None


class ScheduleReply(BaseModel):
    schedule: Schedule


class ScheduleList(BaseModel):
    schedules: list[Schedule]
    next_before: str | None


class NotificationList(BaseModel):
    notifications: list[Notification]
    next_before: str | None


class NotificationReply(BaseModel):
    notification: Notification


class UnreadReply(BaseModel):
    unread: int


class UpdatedReply(BaseModel):
    updated: int


class User(BaseModel):
    user_id: str
    email: str | None
    display_name: str | None
    admin: bool
    disabled: bool
    created_at: str


class UserReply(BaseModel):
    user: User


class MeReply(BaseModel):
    user: User
    token_id: str | None = Field(description="the token this call was made with")


class OwnToken(BaseModel):
    token_id: str
    name: str
    kind: Literal["device", "api"]
    scope: Literal["admin", "user", "ingest"]
    created_at: str
    last_used_at: str | None


class OwnTokenList(BaseModel):
    tokens: list[OwnToken]


class CreateUserReply(BaseModel):
    user: User
    token: str
    token_id: str


class TokenReply(BaseModel):
    token: str
    token_id: str


class InviteReply(BaseModel):
    invite_url: str
    expires_at: str


class Delivery(BaseModel):
    id: str
    notification_id: str | None
    user_id: str
    channel: Literal["email", "push"]
    status: Literal["pending", "sending", "sent", "failed"]
    attempts: int
    last_error: str | None
    available_at: str | None


class DeliveryList(BaseModel):
    deliveries: list[Delivery]


class DeliveryReport(BaseModel):
    """One external channel of a notification: what became of it and why (the delivery rules:
    server/db/functions/delivery_rules.sql)."""

    channel: Literal["email", "push"]
    status: Literal["queued", "sent", "failed", "skipped"]
    reason: (
        Literal[
            "preference_off",
            "no_address",
            "below_severity",
            "topic_muted",
            "user_disabled",
            "duplicate",
            "digested",
            "quiet_hours",
            "rate_folded",
        ]
        | None
    )
    at: str | None
    delivery_id: str | None
    attempts: int | None
    last_error: str | None
    dismissed: bool | None


class DeliveryReportList(BaseModel):
    deliveries: list[DeliveryReport]


class DeliveryReply(BaseModel):
    delivery: Delivery


class AuditEvent(BaseModel):
    id: str
    at: str
    actor_user_id: str | None
    actor_token_id: str | None = Field(description="null for a web session")
    action: str
    target_user_id: str | None
    target: str | None
    ip: str | None
    details: dict[str, Any]


class AuditList(BaseModel):
    events: list[AuditEvent]
    next_before: str | None


class TeamSummary(BaseModel):
    team_id: str
    display_name: str
    managed_by: Literal["local", "oidc"]
    created_at: str
    members: int


class Team(BaseModel):
    team_id: str
    display_name: str
    managed_by: Literal["local", "oidc"]
    created_at: str
    member_ids: list[str]


class TeamList(BaseModel):
    teams: list[TeamSummary]


class TeamCreated(BaseModel):
    team: TeamSummary


class TeamReply(BaseModel):
    team: Team


class DeclaredTopic(BaseModel):
    topic: str
    description: str
    open: bool


class TopicReply(BaseModel):
    topic: DeclaredTopic


class UserTopic(DeclaredTopic):
    subscribed: bool
    via_team: bool = Field(description="subscribed through a team (only an admin can end it)")


class TopicList(BaseModel):
    topics: list[UserTopic]


IntegrationKind = Literal["alertmanager", "gotify", "ntfy"]


class CreateIntegrationRequest(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    kind: IntegrationKind
    to: Annotated[
        list[Address],
        Field(
            max_length=MAX_ADDRESSES,
            description="Whom its messages reach; may be empty for ntfy (the topic's subscribers).",
        ),
        AfterValidator(_unique),
        Documented(uniqueItems=True),
    ] = Field(default_factory=list)
    topic: TopicName | None = None

    @model_validator(mode="after")
    def _someone(self) -> "CreateIntegrationRequest":
        if not self.to and self.kind != "ntfy":
            raise ValueError("to: name at least one address (an ntfy integration may name none)")
        return self


class IntegrationSummary(BaseModel):
    integration_id: str
    name: str
    kind: IntegrationKind
    to: list[str]
    topic: str | None
    created_at: str
    last_used_at: str | None


class IntegrationCreated(BaseModel):
    integration: IntegrationSummary
    token: str


class IntegrationList(BaseModel):
    integrations: list[IntegrationSummary]


class IngestReply(BaseModel):
    stored: int
    duplicates: int


class GotifyMessage(BaseModel):
    """Gotify's own message shape, which its clients read as success."""

    id: int
    appid: int
    message: str
    title: str
    priority: int
    date: str
    extras: dict[str, Any] | None = None


class NtfyMessage(BaseModel):
    """ntfy's own message shape, which its clients read as success."""

    id: str
    time: int
    event: Literal["message"]
    topic: str
    title: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    model_config = ConfigDict(extra="allow")


class ErrorReply(BaseModel):
    error: ErrorBody


#: A sync cursor this database cannot have issued (server/cursors.py, ResyncRequired).
RESYNC_REQUIRED = {
    "model": ErrorReply,
    "description": "`resync_required`: the database no longer holds the change the cursor names"
    " (restored or rebuilt); sync from the beginning",
}

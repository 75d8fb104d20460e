"""What the API accepts and returns. Validation happens here, before any rule runs."""

import json
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from shared.models import Severity

MAX_RECIPIENTS = 10_000
MAX_IDS = 1_000
MAX_DATA_BYTES = 16_384


def storable(text: str) -> str:
    """Text PostgreSQL can store: no NUL character, no lone UTF-16 surrogate."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(storable)]
UserId = Annotated[Text, Field(min_length=1, max_length=200)]
Key = Annotated[Text, Field(min_length=1, max_length=200)]


def _storable_json(value: Any) -> None:
    if isinstance(value, str):
        storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)


# email-validator refuses special-use names such as `.local` (the usual Active Directory
# domain) even with its DNS checks off; removing them from its list is its documented way
# to allow them. Whether an address takes mail is the SMTP server's business, not ours.
email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()


def email_address(value: str) -> str:
    """Every syntactically valid address (RFC 5321), in its normalized form."""
    try:
        parts = email_validator.validate_email(
            value,
            check_deliverability=False,
            globally_deliverable=False,
            allow_quoted_local=True,
            allow_domain_literal=True,
        )
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"must be an email address: {exc}") from None
    return parts.normalized


EmailAddress = Annotated[
    str, Field(max_length=320, json_schema_extra={"format": "email"}), AfterValidator(email_address)
]


def safe_target_url(url: str) -> str:
    """http(s) URLs and site paths only: no `javascript:`, `data:` or `//host` links."""
    if re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url, flags=re.IGNORECASE):
        return url
    is_site_path = url.startswith("/") and not url.startswith(("//", "/\\"))
    if is_site_path and not any(c.isspace() for c in url):
        return url
    raise ValueError("must be an http(s) URL or a path starting with a single '/'")


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


class SendRequest(RequestModel):
    user_id: UserId | None = None
    user_ids: Annotated[list[UserId], Field(min_length=1, max_length=MAX_RECIPIENTS)] | None = None
    all_users: StrictBool = False
    event_name: Annotated[str, Field(pattern=r"^[a-z0-9._:-]{1,100}$")]
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    summary: Annotated[Text, Field(max_length=140)] | None = None
    body: Annotated[Text, Field(max_length=5000)] = ""
    target_url: Annotated[Text, Field(max_length=2000), AfterValidator(safe_target_url)] | None = (
        None
    )
    severity: Severity = Severity.INFO
    data: dict[str, Any] = Field(default_factory=dict)
    resource_id: Key | None = None
    idempotency_key: Key | None = None
    batch_key: Key | None = None

    @field_validator("data")
    @classmethod
    def _data_fits(cls, data: dict[str, Any]) -> dict[str, Any]:
        _storable_json(data)
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > MAX_DATA_BYTES:
            raise ValueError(f"must be at most {MAX_DATA_BYTES} bytes as JSON, not {size}")
        return data

    @model_validator(mode="after")
    def _one_recipient_form(self) -> "SendRequest":
        given = [self.user_id is not None, self.user_ids is not None, self.all_users]
        if sum(given) != 1:
            raise ValueError("give exactly one of user_id, user_ids or all_users: true")
        return self

    def recipients(self) -> list[str] | None:
        if self.all_users:
            return None
        return (
            [self.user_id] if self.user_id is not None else list(dict.fromkeys(self.user_ids or []))
        )


class IdsRequest(RequestModel):
    ids: Annotated[list[Annotated[Text, Field(max_length=100)]], Field(max_length=MAX_IDS)]


class ReadAllRequest(RequestModel):
    up_to: Annotated[Text, Field(max_length=200)] | None = None


def _clock(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("must be a time of day as HH:MM")
    return value


def _timezone(name: str) -> str:
    if name not in _TIMEZONES:
        raise ValueError("must be an IANA time zone such as Europe/Berlin")
    ZoneInfo(name)
    return name


_TIMEZONES = available_timezones() | {"UTC"}


class QuietHours(RequestModel):
    start: Annotated[str, AfterValidator(_clock)]
    end: Annotated[str, AfterValidator(_clock)]
    timezone: Annotated[str, Field(max_length=100), AfterValidator(_timezone)]


PushUrl = Annotated[
    Text, Field(min_length=3, max_length=2000, pattern=r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
]


class Preferences(BaseModel):
    in_app_enabled: bool
    email_enabled: bool
    push_enabled: bool
    digest_seconds: int
    email: str | None
    push_urls: list[str]
    quiet_hours: QuietHours | None


class PreferencesPatch(RequestModel):
    in_app_enabled: StrictBool | None = None
    email_enabled: StrictBool | None = None
    push_enabled: StrictBool | None = None
    digest_seconds: Annotated[StrictInt, Field(ge=0, le=86_400)] | None = None
    email: EmailAddress | None = None
    push_urls: Annotated[list[PushUrl], Field(max_length=20)] | None = None
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _no_null_switches(self) -> "PreferencesPatch":
        # email and quiet_hours may be cleared with null; the others always have a value.
        for name in (
            "in_app_enabled",
            "email_enabled",
            "push_enabled",
            "digest_seconds",
            "push_urls",
        ):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CreateUserRequest(RequestModel):
    user_id: Annotated[UserId, Field(pattern=r"^[^\s/]+$")]
    email: EmailAddress | None = None
    display_name: Annotated[Text, Field(max_length=200)] | None = None
    admin: StrictBool = False


class DeviceAuthorizeRequest(RequestModel):
    client_name: Annotated[Text, Field(min_length=1, max_length=100)]


class DeviceTokenRequest(RequestModel):
    device_code: Annotated[Text, Field(min_length=1, max_length=200)]


# ------------------------------------------------------------ replies (for the OpenAPI document)


class Notification(BaseModel):
    id: str
    user_id: str
    event_name: str
    title: str
    summary: str | None
    body: str
    target_url: str | None
    severity: Severity
    data: dict[str, Any]
    batch_key: str | None
    read_at: str | None
    archived_at: str | None
    created_at: str


class SendResult(BaseModel):
    user_id: str
    id: str | None
    inserted: bool
    suppressed: bool | None = None


class SendReply(BaseModel):
    results: list[SendResult]
    inserted: int
    duplicates: int


class NotificationList(BaseModel):
    notifications: list[Notification]
    next_before: str | None


class NotificationReply(BaseModel):
    notification: Notification


class UnreadReply(BaseModel):
    unread: int


class UpdatedReply(BaseModel):
    updated: int


class SyncReply(BaseModel):
    changes: list[Notification]
    cursor: str
    has_more: bool
    unread: int


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
    created_at: str
    last_used_at: str | None


class OwnTokenList(BaseModel):
    tokens: list[OwnToken]


class DeviceAuthorization(BaseModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceTokenReply(BaseModel):
    token: str
    token_id: str
    user_id: str


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


class DeliveryReply(BaseModel):
    delivery: Delivery


class ErrorBody(BaseModel):
    code: str
    message: str
    model_config = ConfigDict(extra="allow")


class ErrorReply(BaseModel):
    error: ErrorBody

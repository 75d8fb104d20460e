"""The ingest endpoints (contract, "Ingest"): each authenticates a source by its integration's
token, reads the source's own format (the mapping is server/ingest/<kind>.py), and answers in
the shape that source's clients take as success.

The ntfy topic routes (`PUT`/`POST /<topic>`) match any one-segment path, so the application
includes `topic_router` after every other route; a topic named like a page of this site can
only be published with the JSON form (`POST /`)."""

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ValidationError

from server.api.deps import IdempotencyKeyHeader
from server.api.errors import ApiError
from server.api.schemas import GotifyMessage, IngestReply, NtfyMessage
from server.audit import Actor
from server.dependencies import IntegrationsDep, actor_of, service_of
from server.ingest import Integration, Kind, alertmanager, gotify, ntfy
from server.integrations import Integrations

router = APIRouter(tags=["ingest"])
topic_router = APIRouter(tags=["ingest"])

#: Bits of a uuid kept as Gotify's integer ids: within JavaScript's exact integers.
_SAFE_INTEGER_BITS = 53


@dataclass(frozen=True)
class Source:
    integration: Integration
    actor: Actor


def _presented_token(request: Request) -> str | None:
    """The token as a source sends it: `Authorization: Bearer`, the password of
    `Authorization: Basic` (ntfy's clients, any user name), `X-Gotify-Key` or `?token=`."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return request.headers.get("x-gotify-key") or request.query_params.get("token") or None


def _source_of(kind: Kind) -> Callable[..., Coroutine[Any, Any, Source]]:
    async def source(request: Request, integrations: IntegrationsDep) -> Source:
        """The integration of this kind whose token came; any other token is 401."""
        token = _presented_token(request)
        caller = await service_of(request).authenticate(token) if token else None
        integration = await integrations.of_caller(caller, kind) if caller else None
        if caller is None or integration is None:
            raise ApiError(
                401, "unauthorized", f"Send the token of a {kind} integration (see /admin)."
            )
        return Source(integration, actor_of(request, caller))

    return source


AlertmanagerSource = Annotated[Source, Depends(_source_of("alertmanager"))]
GotifySource = Annotated[Source, Depends(_source_of("gotify"))]
NtfySource = Annotated[Source, Depends(_source_of("ntfy"))]


Model = TypeVar("Model", bound=BaseModel)


def _validated(model: type[Model], value: Any) -> Model:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None


def _body_of(model: type[BaseModel], form_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document's request body for a handler that reads the body itself: JSON, and form
    fields too when `form_fields` names the ones a form carries (a form holds no objects)."""
    schema = model.model_json_schema()
    content = {"application/json": {"schema": schema}}
    if form_fields:
        properties = {k: v for k, v in schema["properties"].items() if k in form_fields}
        form = {**schema, "properties": properties}
        content["application/x-www-form-urlencoded"] = {"schema": form}
    return {"requestBody": {"required": True, "content": content}}


@router.post("/hooks/alertmanager", response_model=IngestReply)
async def alertmanager_webhook(
    payload: alertmanager.Payload,
    source: AlertmanagerSource,
    integrations: IntegrationsDep,
) -> dict:
    """Alertmanager's (or Grafana's) webhook: one notification per alert and recipient."""
    outgoings = alertmanager.outgoings(payload, source.integration)
    stored = await integrations.send(source.integration, outgoings, source.actor)
    return {"stored": stored.stored, "duplicates": stored.duplicates}


@router.post(
    "/message",
    response_model=GotifyMessage,
    response_model_exclude_none=True,  # `extras` only when sent, as Gotify answers
    openapi_extra=_body_of(gotify.Message, gotify.FORM_FIELDS),
)
async def gotify_message(
    request: Request,
    source: GotifySource,
    integrations: IntegrationsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict:
    """Gotify's publish, as JSON or form fields."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        form: Any = parse_qsl(
            (await request.body()).decode("utf-8", "replace"), keep_blank_values=True
        )
    elif content_type == "multipart/form-data":
        form = [(k, v) for k, v in (await request.form()).items() if isinstance(v, str)]
    else:
        form = None
    if form is None:
        fields = await _json(request)
    else:
        fields = gotify.form_fields(form)
    message = _validated(gotify.Message, fields)
    outgoing = gotify.outgoing(message, source.integration, idempotency_key)
    stored = await integrations.send(source.integration, [outgoing], source.actor)
    reply: dict[str, Any] = {
        "id": _small_integer(stored.first_id),
        "appid": _small_integer(source.integration.integration_id),
        "message": message.message,
        "title": outgoing.title,
        "priority": gotify.DEFAULT_PRIORITY if message.priority is None else message.priority,
        "date": datetime.now(UTC).isoformat(),
    }
    if message.extras is not None:
        reply["extras"] = message.extras
    return reply


@router.post("/", response_model=NtfyMessage, openapi_extra=_body_of(ntfy.Publish))
async def ntfy_publish_json(
    request: Request,
    source: NtfySource,
    integrations: IntegrationsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict:
    """ntfy's JSON publish; the headers fill the fields the body leaves out."""
    published = _validated(ntfy.Publish, await _json(request))
    return await _publish(published, request, source, integrations, idempotency_key)


async def ntfy_publish(
    topic: str,
    request: Request,
    source: NtfySource,
    integrations: IntegrationsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> dict:
    """ntfy's plain publish: the message is the body, the rest are headers."""
    if topic in _site_pages(request):
        raise ApiError(
            405,
            "method_not_allowed",
            f"/{topic} is a page of this site: publish to topic {topic!r} with the JSON form"
            " (POST / with the topic in the body).",
        )
    message = (await request.body()).decode("utf-8", "replace")
    published = ntfy.publish(topic, message, ntfy.Fields.of_headers(request.headers))
    return await _publish(published, request, source, integrations, idempotency_key)


for _method in ("PUT", "POST"):
    topic_router.add_api_route(
        "/{topic}",
        ntfy_publish,
        methods=[_method],
        response_model=NtfyMessage,
        name=f"ntfy_publish_{_method.lower()}",
        openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )


async def _publish(
    published: ntfy.Publish,
    request: Request,
    source: Source,
    integrations: Integrations,
    idempotency_key: str | None,
) -> dict:
    headers = ntfy.Fields.of_headers(request.headers)
    outgoing = ntfy.outgoing(published, headers, source.integration, idempotency_key)
    stored = await integrations.send(source.integration, [outgoing], source.actor)
    return {
        "id": (stored.first_id or uuid.uuid4().hex).replace("-", "")[:12],
        "time": int(time.time()),
        "event": "message",
        "topic": published.topic,
        "title": outgoing.title,
        "message": published.message or "",
    }


def _small_integer(uuid_text: str | None) -> int:
    """A uuid as a positive integer a Gotify client reads exactly (0 for none)."""
    return uuid.UUID(uuid_text).int >> (128 - _SAFE_INTEGER_BITS) if uuid_text else 0


def _site_pages(request: Request) -> set[str]:
    """The first path segments of this site's other routes (`login`, `admin`, `n`, ...)."""
    segments = {
        context.path.split("/")[1]
        for context in iter_route_contexts(request.app.routes)
        if context.path  # FastAPI types it optional; every route here has one
    }
    return {s for s in segments if s and not s.startswith("{")}

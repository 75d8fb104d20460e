"""Bad input gets its documented 4xx and the contract's error body; never a 500."""

import logging

import httpx
import pytest

from tests.support.live import create_users_directly

GOOD = {"event_name": "build.failed", "title": "Build failed"}


def _send(live_server, **fields):
    with live_server.client(live_server.admin_token) as admin:
        return admin.post("/v1/notifications", json=fields)


@pytest.fixture
def recipient(live_server):
    return live_server.create_user()[0]


def _assert_error(reply, status, code):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,x",
        "//evil.example",
        "ftp://x",
        "relative/path",
        "/\\evil.example",
        "http://",
        " /x",
    ],
)
def test_unsafe_target_urls_are_422(live_server, recipient, url):
    """target_url is http(s) or a single-slash path: script, data, protocol-relative links fail."""
    _assert_error(
        _send(live_server, user_id=recipient, target_url=url, **GOOD), 422, "validation_failed"
    )


@pytest.mark.parametrize(
    "url", ["https://ci.example.com/builds/7?x=1#log", "/builds/7", "HTTP://a.b"]
)
def test_safe_target_urls_are_accepted(live_server, recipient, url):
    """http(s) URLs and paths starting with one slash are stored."""
    assert _send(live_server, user_id=recipient, target_url=url, **GOOD).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "x" * 201),
        ("title", ""),
        ("summary", "x" * 141),
        ("body", "x" * 5001),
        ("event_name", "Has Capitals"),
        ("event_name", "x" * 101),
        ("resource_id", "x" * 201),
        ("idempotency_key", "x" * 201),
        ("batch_key", "x" * 201),
        ("severity", "urgent"),
        ("data", ["not", "an", "object"]),
        ("data", {"big": "x" * 16_400}),
        ("title", "nul\x00byte"),
        ("data", {"k": "nul\x00byte"}),
        ("unexpected_field", 1),
    ],
)
def test_invalid_fields_are_422(live_server, recipient, field, value):
    """Every field's limit from the contract is enforced with 422 (NUL text included)."""
    _assert_error(
        _send(live_server, **({"user_id": recipient} | GOOD | {field: value})),
        422,
        "validation_failed",
    )


def test_field_limits_are_inclusive(live_server, recipient):
    """The documented maxima themselves are accepted."""
    reply = _send(
        live_server,
        user_id=recipient,
        event_name="a.b_c:d-e" + "x" * 91,
        title="t" * 200,
        summary="s" * 140,
        body="b" * 5000,
        resource_id="r" * 200,
        batch_key="k" * 200,
        data={"d": "x" * 16_000},
    )
    assert reply.status_code == 201, reply.text


@pytest.mark.parametrize(
    "recipients",
    [
        {},
        {"all_users": False},
        {"user_id": "a", "user_ids": ["a"]},
        {"user_id": "a", "all_users": True},
        {"user_ids": []},
        {"user_ids": ["u"] * 10_001},
    ],
)
def test_exactly_one_recipient_form(live_server, recipients):
    """Exactly one of user_id, user_ids, all_users: true; at most 10,000 ids."""
    _assert_error(_send(live_server, **recipients, **GOOD), 422, "validation_failed")


def test_malformed_json_is_400(live_server):
    """A body that is not JSON is 400 malformed_json."""
    with live_server.client(live_server.admin_token) as admin:
        for body in (b"{bad", b"\xff\xfe", b'{"a": 1', b"[1,]"):
            reply = admin.post(
                "/v1/notifications", content=body, headers={"Content-Type": "application/json"}
            )
            _assert_error(reply, 400, "malformed_json")


def _streamed(size: int):
    for _ in range(size // 4096 + 1):
        yield b" " * 4096


def test_body_over_64_kib_is_413(live_server):
    """A request body over 65,536 bytes is 413, declared or streamed (a send excepted)."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        declared = client.post("/v1/notifications/read", json={"ids": ["x" * 100] * 700})
        _assert_error(declared, 413, "body_too_large")
        streamed = client.patch(
            "/v1/preferences",
            content=_streamed(70_000),
            headers={"Content-Type": "application/json"},
        )
        _assert_error(streamed, 413, "body_too_large")


def test_send_body_over_1_mib_is_413(live_server, recipient):
    """A send may be up to 1,048,576 bytes; over that it is 413, declared or streamed."""
    with live_server.client(live_server.admin_token) as admin:
        under = admin.post(
            "/v1/notifications",
            json=GOOD | {"user_id": recipient, "data": {}, "body": "x" * 70_000},
        )
        _assert_error(under, 422, "validation_failed")  # past the size limit: body too long
        declared = admin.post(
            "/v1/notifications", json=GOOD | {"user_id": recipient, "body": "x" * 1_048_576}
        )
        _assert_error(declared, 413, "body_too_large")
        streamed = admin.post(
            "/v1/notifications",
            content=_streamed(1_048_577),
            headers={"Content-Type": "application/json"},
        )
        _assert_error(streamed, 413, "body_too_large")


@pytest.mark.timeout(120)
def test_ten_thousand_recipients_of_ordinary_length_fit_in_one_send(live_server, database_url):
    """The contract allows 10,000 user_ids; ids of ordinary length (here 31 characters, the
    shape of an email address) fit in one send and are all stored."""
    user_ids = [f"employee-{n:05d}@corp.example.com" for n in range(10_000)]
    create_users_directly(database_url, user_ids)
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.post("/v1/notifications", json=GOOD | {"user_ids": user_ids})
    assert reply.status_code == 201, reply.text[:300]
    assert len(reply.request.content) > 65_536
    assert reply.json()["inserted"] == 10_000


def test_too_many_ids_in_bulk_read_is_422(live_server):
    """POST /read takes at most 1,000 ids."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        _assert_error(
            client.post("/v1/notifications/read", json={"ids": ["x"] * 1001}),
            422,
            "validation_failed",
        )
        _assert_error(
            client.post("/v1/notifications/read", json={"ids": "x"}), 422, "validation_failed"
        )


@pytest.mark.parametrize(
    "patch",
    [
        {"digest_seconds": -1},
        {"digest_seconds": 86_401},
        {"email": "not-an-address"},
        {"quiet_hours": {"start": "25:00", "end": "07:00", "timezone": "Europe/Berlin"}},
        {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}},
        {"push_urls": ["no scheme"]},
        {"email_enabled": None},
        {"in_app_enabled": "maybe"},
    ],
)
def test_invalid_preferences_are_422(live_server, patch):
    """Preferences validate like everything else and change nothing when refused."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        before = client.get("/v1/preferences").json()
        _assert_error(client.patch("/v1/preferences", json=patch), 422, "validation_failed")
        assert client.get("/v1/preferences").json() == before


@pytest.mark.parametrize(
    "address",
    [
        "alice@acme.local",
        "ops@corp.internal",
        "root@mailhost",
        '"j doe"@example.com',
    ],
)
def test_every_syntactically_valid_email_address_is_accepted(live_server, address):
    """Internal company addresses (the usual Active Directory `.local`, dotless hosts) are
    valid: whether they take mail is the SMTP server's business. (Domain literals are not:
    tests/e2e/test_security.py.)"""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        reply = client.patch("/v1/preferences", json={"email": address})
        assert reply.status_code == 200, reply.text
        assert reply.json()["email"] == address
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.post(
            "/v1/admin/users", json={"user_id": f"user-{len(address)}", "email": address}
        )
        assert reply.status_code == 201, reply.text


@pytest.mark.parametrize("address", ["alice", "alice@", "@acme.local", "a@b..c", "a\r\nBcc: x@y.z"])
def test_an_email_that_is_not_an_address_is_422(live_server, address):
    """Only the syntax is judged, but the syntax is: a line break or a missing part fails."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        _assert_error(
            client.patch("/v1/preferences", json={"email": address}), 422, "validation_failed"
        )


def test_preferences_patch_takes_any_subset(live_server):
    """PATCH changes only the fields given and replies with the whole object; null clears."""
    _, token = live_server.create_user()
    quiet = {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
    with live_server.client(token) as client:
        assert client.get("/v1/preferences").json() == {
            "in_app_enabled": True,
            "email_enabled": False,
            "push_enabled": False,
            "digest_seconds": 300,
            "email": None,
            "push_urls": [],
            "quiet_hours": None,
            "timezone": None,
            "language": None,
            "topics": {},
        }
        reply = client.patch(
            "/v1/preferences", json={"quiet_hours": quiet, "email": "a@example.com"}
        )
        assert reply.json()["quiet_hours"] == quiet and reply.json()["digest_seconds"] == 300
        reply = client.patch("/v1/preferences", json={"digest_seconds": 0, "quiet_hours": None})
        assert reply.json()["quiet_hours"] is None and reply.json()["email"] == "a@example.com"
        assert reply.json()["digest_seconds"] == 0


def test_unknown_route_and_method_use_the_error_body(live_server):
    """Even the framework's own 404 and 405 answer with the contract's error body."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        _assert_error(client.get("/v1/nope"), 404, "not_found")
        _assert_error(client.delete("/v1/notifications/unread-count"), 405, "method_not_allowed")


def test_a_method_not_allowed_names_every_method_of_the_path(live_server):
    """405's Allow lists every method the path takes, not only those of its first route."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        for method, path, allowed in [
            ("OPTIONS", "/v1/preferences", "GET, PATCH"),
            ("DELETE", "/v1/notifications", "GET, POST"),
            ("PUT", "/v1/notifications/read-all", "POST"),
        ]:
            reply = client.request(method, path)
            _assert_error(reply, 405, "method_not_allowed")
            assert reply.headers["Allow"] == allowed, (method, path)


def test_health_and_openapi_need_no_token(live_server):
    """/healthz, /readyz and /openapi.json are public."""
    with live_server.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert "/v1/sync" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_value_the_database_refuses_is_422_without_the_drivers_text(
    live_server, recipient, number, caplog
):
    """What PostgreSQL says about a refused value (here a number JSON cannot hold, which
    Python's parser lets through) goes to the log with the request, never to the client."""
    body = (
        f'{{"event_name": "x", "title": "t", "user_id": "{recipient}", "data": {{"n": {number}}}}}'
    )
    with caplog.at_level(logging.WARNING, logger="server.api.errors"):
        reply = httpx.post(
            live_server.url + "/v1/notifications",
            content=body,
            headers={
                "Authorization": f"Bearer {live_server.admin_token}",
                "Content-Type": "application/json",
            },
        )
    _assert_error(reply, 422, "invalid_value")
    for driver_word in ("json", "syntax", "DETAIL", "Token", "SQLSTATE"):
        assert driver_word not in reply.text
    [logged] = [r.getMessage() for r in caplog.records if "refused a value" in r.getMessage()]
    assert logged.startswith("POST /v1/notifications: ") and "invalid input syntax" in logged

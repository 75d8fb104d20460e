"""Fuzzing the live API from its own OpenAPI document: no 5xx, no reply that breaks the schema."""

import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_error_and_no_schema_break(live_server):
    """Any input a client can send gets a documented reply: never a 500, never off-schema."""
    user, _ = live_server.create_user("fuzz-target")
    live_server.send(user, title="for the fuzzer", severity="warning")
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "run",
            live_server.url + "/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {live_server.admin_token}",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "40",
            "--seed",
            "20261124",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-8000:]
    assert "generated" in result.stdout

"""Schemathesis fuzzes every operation of the OpenAPI spec, signed in as a supervisor.

A bounded budget (a few examples per operation, no shrinking past that) keeps this quick;
the checks are: no 5xx, documented status codes, documented content types and responses
that match their schemas.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.alerts.web_fixtures import api_login, build

TEAM = build(Path(tempfile.mkdtemp(prefix="carepulse-fuzz-")))
with TestClient(TEAM.app) as _client:
    TOKEN = api_login(_client, "sam")
    COOKIE = "; ".join(f"{k}={v}" for k, v in _client.cookies.items())

# Signing in and out and the CSV export have their own tests; the event stream never ends.
# The spec is for signed-in users, so it is fetched with the session too.
schema = schemathesis.openapi.from_asgi(
    "/api/openapi.json", TEAM.app, headers={"Cookie": COOKIE}
).exclude(path_regex=r"^/api/v1/(events|session|export/cases\.csv)$")


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_spec(case: schemathesis.Case[Any]) -> None:
    """No server errors; status codes, content types and bodies as documented."""
    case.call_and_validate(
        headers={"Cookie": COOKIE, "X-CSRF-Token": TOKEN},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_the_fuzzed_app_is_still_consistent() -> None:
    """After the fuzzing, the audit log is still append-only and readable."""
    assert TEAM.store.audit_entries(TEAM.store.viewer(TEAM.ids["sam"]))  # type: ignore[arg-type]


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:schemathesis")

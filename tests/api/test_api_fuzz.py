"""Property-based fuzzing of the whole OpenAPI schema with Schemathesis against the real
server: no 5xx, responses conform to the schema, and no patient-level field in any answer
to a stakeholder. Bounded (a few examples per operation) to stay fast; jobs are submitted
in test_api_jobs (a fuzzed job would occupy the cluster)."""

from __future__ import annotations

import pytest
import schemathesis
from api_fixtures import PATIENT_FIELDS, keys_of
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]


@pytest.fixture(scope="module")
def tokens(api):
    return {c: api.token(c) for c in ("modeler-app", "stakeholder-app")}


def test_fuzz_schema(api, tokens):
    with api.http() as http:
        spec = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:
        if (operation.method.upper(), operation.path) == ("POST", "/v1/jobs"):
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=3, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case):
            for client, token in tokens.items():
                response = case.call(
                    base_url=api.url,
                    headers={"Authorization": f"Bearer {token}"},
                    verify=str(api.ca),
                )
                case.validate_response(response, checks=CHECKS)
                ctype = response.headers.get("content-type", "")
                if client == "stakeholder-app" and response.status_code < 300:
                    assert "json" in str(ctype), ctype
                    assert not PATIENT_FIELDS & set(keys_of(response.json()))

        check()

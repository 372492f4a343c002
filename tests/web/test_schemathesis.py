"""Property-based run of the published OpenAPI schema: no operation answers with a server error.

Driven through Hypothesis directly (one bounded run per operation) against the app in process.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.web.conftest import WebEnv

EXAMPLES = 20


@pytest.fixture(scope="module")
def operations(web_env: WebEnv) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", web_env.app)
    found = list(schema.get_all_operations())
    assert all(hasattr(result, "ok") for result in found), "the published schema is invalid"
    return [result.ok() for result in found]  # type: ignore[union-attr]


def test_schema_lists_every_api_operation(operations: list[schemathesis.APIOperation]) -> None:
    labels = {op.label for op in operations}
    assert {
        "GET /api/series",
        "POST /api/jobs/{job_id}/retry",
        "POST /api/rules/test",
        "GET /metrics",
    } <= labels


@pytest.mark.parametrize("authorized", [True, False], ids=["token", "anonymous"])
def test_no_server_errors(
    web_env: WebEnv, operations: list[schemathesis.APIOperation], authorized: bool
) -> None:
    headers = web_env.auth() if authorized else {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        run()

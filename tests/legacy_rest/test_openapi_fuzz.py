"""Schemathesis against the app's own OpenAPI document: no 500s, and every response conforms.

Cases are generated first (Hypothesis, a bounded number per operation, valid and invalid
data), then sent through the test's own ASGI client, so the app's engine stays on the test's
event loop. Skipped when schemathesis is not installed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from resolvers._resource import all_resources
from tests.legacy_rest.conftest import Rest

schemathesis = pytest.importorskip(
    "schemathesis",
    reason="schemathesis is not installed (it belongs in the test extra: schemathesis>=4.32,<5)",
)
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis import checks as st_checks  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi import checks as openapi_checks  # noqa: E402

# Per operation and generation mode (42 operations x 2 modes). The default run is bounded and
# derandomized; set ZALO_OA_FUZZ_EXAMPLES for a longer, randomized hunt.
DEEP = os.environ.get("ZALO_OA_FUZZ_EXAMPLES")
EXAMPLES = int(DEEP or 6)
CHECKS = [
    st_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
REST_PATHS = tuple(f"/v4/zalo-oa/{r.rest_path}" for r in all_resources())


def _cases(operation: Any, mode: Any) -> list[Any]:
    found: list[Any] = []

    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        derandomize=DEEP is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def collect(case: Any) -> None:
        found.append(case)

    collect()
    return found


def _request(case: Any, token: str) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url="http://test")
    params = dict(kwargs.get("params") or {})
    params.pop("token", None)  # the fuzzer's random tokens would only ever reach the 401
    headers = {
        k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"
    }
    headers["Authorization"] = f"Bearer {token}"
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": params,
        "headers": headers,
    }
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    return request


async def test_rest_conforms_to_its_openapi_document(people: Rest) -> None:
    api = people.api
    document = (await api.client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith(REST_PATHS)
    ]
    assert len(operations) == 7 * len(REST_PATHS)
    failures: list[str] = []
    sent = 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for case in _cases(operation, mode):
                response = await api.client.request(**_request(case, api.tokens["admin"]))
                sent += 1
                print(
                    "FUZZ",
                    operation.label,
                    mode,
                    response.status_code,
                    response.text[:300]
                    if mode == "positive" and response.status_code in (400, 422)
                    else "",
                )
                try:
                    case.validate_response(response, checks=CHECKS)
                except Exception as exc:  # collect them all, report once
                    failures.append(f"{operation.label} [{mode}]: {exc}")
    assert sent >= len(operations), sent
    assert not failures, "\n\n".join(failures[:5])

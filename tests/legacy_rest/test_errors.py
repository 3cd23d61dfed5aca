"""The one error mapping: GraphQL error codes and bulk payload errors → status and REST body."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError

from legacy_rest.errors import from_graphql, from_payload
from resolvers import _crud
from resolvers.resources import FOLLOWERS, MESSAGES
from tests.conftest import Api
from tests.legacy_rest.conftest import Rest


@pytest.mark.parametrize(
    ("code", "problems", "status"),
    [
        ("BAD_USER_INPUT", [{"message": "m", "field": "limit", "index": None}], 400),
        ("BAD_USER_INPUT", [{"message": "m", "field": "zaloOaCode", "index": 2}], 422),
        ("UNAUTHENTICATED", None, 401),
        ("FORBIDDEN", None, 403),
        ("NOT_FOUND", [{"message": "m", "field": "codes", "index": None}], 404),
        ("CONFLICT", [{"message": "m", "field": "messages", "index": None}], 409),
        ("ZALO_ERROR", None, 502),
        ("INTERNAL", None, 500),
        ("SOMETHING_NEW", None, 500),
    ],
)
def test_graphql_codes_map_to_statuses(
    code: str, problems: list[dict[str, Any]] | None, status: int
) -> None:
    extensions: dict[str, Any] = {"code": code, "requestId": "r1"}
    if problems:
        extensions["problems"] = problems
    if code == "ZALO_ERROR":
        extensions |= {"zaloError": -216, "zaloMessage": "Access token is invalid"}
    error = from_graphql(FOLLOWERS, [GraphQLError("it failed", extensions=extensions)], "r2")
    assert error.status == status
    body = bytes(error.response().body)
    assert body.startswith(b'{"error":{"code":')
    if status == 500:
        assert error.code == "INTERNAL" and "r1" in error.message and "failed" not in error.message
    if code == "ZALO_ERROR":
        assert "-216" in error.message
    named = [d.field for d in error.details]
    expected = {"limit": ["limit"], "zaloOaCode": ["ZaloOa"], "codes": ["Code"]}
    if problems and problems[0]["field"] in expected:
        assert named == expected[problems[0]["field"]]
    if code == "CONFLICT":
        assert named == ["Messages"]  # a relation is named by the REST resource it leads to


def test_payload_errors_take_the_most_telling_status() -> None:
    conflict = {"code": "CONFLICT", "message": "taken", "field": "code", "index": 0}
    missing = {"code": "NOT_FOUND", "message": "none", "field": "code", "index": 1}
    invalid = {"code": "BAD_USER_INPUT", "message": "bad", "field": "templateData.otp", "index": 2}
    assert from_payload(FOLLOWERS, [missing]).status == 404
    assert from_payload(FOLLOWERS, [missing, conflict]).status == 409
    both = from_payload(MESSAGES, [missing, conflict, invalid])
    assert (both.status, both.code) == (422, "BAD_USER_INPUT")
    assert [(d.index, d.field) for d in both.details] == [
        (1, "Code"),
        (0, "Code"),
        (2, "TemplateData.otp"),
    ]


async def test_unexpected_errors_are_masked_500s(
    people: Rest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(_crud, "fetch_page", broken)
    with caplog.at_level("ERROR"):
        reply = await people.get("/followers")
    assert reply.status == 500 and reply.error["code"] == "INTERNAL"
    assert "SELECT" not in reply.error["message"] and "request" in reply.error["message"]


async def test_a_bug_in_the_shim_is_a_json_500(
    people: Rest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("oops")

    monkeypatch.setattr("legacy_rest.routes.document", broken)
    with caplog.at_level("ERROR"):
        reply = await people.get("/followers")
    assert reply.status == 500 and reply.error["code"] == "INTERNAL"
    assert "oops" not in reply.error["message"]


async def test_unknown_endpoints_use_the_error_body(api: Api) -> None:
    missing = await api.client.get("/v4/zalo-oa/nothing-here", params={"token": api.tokens["read"]})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = await api.client.patch("/v4/zalo-oa/followers", params={"token": api.tokens["read"]})
    assert wrong.status_code == 405 and wrong.json()["error"]["details"] == []

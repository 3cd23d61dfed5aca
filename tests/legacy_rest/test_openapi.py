"""The OpenAPI document describes the shim truthfully: every documented parameter is taken."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers._resource import Resource, all_resources, pascal
from tests.conftest import Api
from tests.legacy_rest.conftest import Rest

SAMPLES = {"integer": "1", "number": "1.5", "string": "x"}
BATCH = 40  # under the filter's cap of 50 conditions per request


async def _document(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        _, kind, name = node["$ref"].removeprefix("#/").split("/")
        node = document["components"][kind][name]
    return node


def _sample(schema: dict[str, Any]) -> str:
    if schema.get("type") == "array":
        return _sample(schema["items"])
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    return SAMPLES[schema["type"]]


async def test_paths_and_envelopes(api: Api) -> None:
    document = await _document(api)
    assert document["openapi"].startswith("3.1")
    assert not [p for p in document["paths"] if p.startswith("/graphql")]
    assert not {"/healthz", "/readyz"} & set(document["paths"])
    for resource in all_resources():
        base = f"/v4/zalo-oa/{resource.rest_path}"
        assert set(document["paths"][base]) == {"get", "post", "put", "delete"}
        assert set(document["paths"][base + "/{Code}"]) >= {"get", "put", "delete"}
        name = pascal(resource.key)
        item = document["components"]["schemas"][name]
        assert list(item["properties"]) == [f.rest for f in resource.fields]
        listing = document["paths"][base]["get"]["responses"]
        assert set(listing["200"]["content"]["application/json"]["schema"]["required"]) == {
            "data",
            "total",
            "offset",
            "limit",
        }
        assert listing["400"] == {"$ref": "#/components/responses/BadRequest"}
        created = document["paths"][base]["post"]["responses"]
        assert {"201", "400", "401", "403", "409", "413", "422"} <= set(created)
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message", "details"]


def _list_params(document: dict[str, Any], resource: Resource) -> list[dict[str, Any]]:
    operation = document["paths"][f"/v4/zalo-oa/{resource.rest_path}"]["get"]
    return [_resolve(document, p) for p in operation["parameters"]]


def _followers() -> Resource:
    return next(r for r in all_resources() if r.key == "followers")


async def test_parameters_are_typed_as_their_fields(api: Api) -> None:
    document = await _document(api)
    params = {p["name"]: p for p in _list_params(document, _followers())}
    assert params["lt_RewardPoints"]["schema"]["type"] == "number"
    assert params["eq_BranchId"]["schema"] == {
        "type": "array",
        "items": {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
        "minItems": 1,
    }
    assert params["eq_BranchId"]["explode"] is True
    assert params["ge_FollowedAt"]["schema"]["format"] == "date-time"
    assert "filter_BranchId" not in params and "lt_IsDeleted" in params
    assert not [n for n in params if n.endswith("_SipPassword")]  # secrets cannot be filtered
    assert {"token", "offset", "limit", "fields", "order_by", "id0", "id9"} <= set(params)
    assert params["limit"]["schema"]["maximum"] == api.backend.settings.max_page_size


@pytest.mark.parametrize("resource", all_resources(), ids=lambda r: r.key)
async def test_every_documented_parameter_is_accepted(
    rest: Rest, api: Api, resource: Resource
) -> None:
    document = await _document(api)
    params = [
        (p["name"], _sample(p["schema"]))
        for p in _list_params(document, resource)
        if p["name"] not in ("token", "fields", "order_by")
    ]
    for start in range(0, len(params), BATCH):
        batch = params[start : start + BATCH]
        reply = await rest.get("/" + resource.rest_path, batch)
        assert reply.status == 200, (batch, reply.body)


async def test_swagger_page_is_served(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text

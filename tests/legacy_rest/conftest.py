"""A REST client for the tests: the real app over ASGI, with a token of a chosen scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Api

BASE = "/v4/zalo-oa"


@dataclass
class Reply:
    status: int
    body: Any

    @property
    def data(self) -> Any:
        assert "data" in self.body, self.body
        return self.body["data"]

    @property
    def error(self) -> dict[str, Any]:
        assert "error" in self.body, self.body
        error: dict[str, Any] = self.body["error"]
        return error

    def named(self) -> list[tuple[int | None, str | None]]:
        """(index, field) of every error detail."""
        return [(d["index"], d["field"]) for d in self.error["details"]]


class Rest:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def call(
        self,
        method: str,
        path: str,
        params: Any = None,
        *,
        json: Any = None,
        content: bytes | None = None,
        scope: str | None = "admin",
    ) -> Reply:
        headers = {"Authorization": f"Bearer {self.api.tokens[scope]}"} if scope else {}
        response: httpx.Response = await self.api.client.request(
            method, BASE + path, params=params, json=json, content=content, headers=headers
        )
        assert response.headers["content-type"].startswith("application/json"), response.text
        return Reply(response.status_code, response.json())

    async def get(self, path: str, params: Any = None, **kw: Any) -> Reply:
        return await self.call("GET", path, params, **kw)

    async def post(self, path: str, json: Any = None, params: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, params, json=json, **kw)

    async def put(self, path: str, json: Any = None, params: Any = None, **kw: Any) -> Reply:
        return await self.call("PUT", path, params, json=json, **kw)

    async def delete(self, path: str, params: Any = None, **kw: Any) -> Reply:
        return await self.call("DELETE", path, params, **kw)

    async def codes(self, path: str, params: Any = None) -> list[str]:
        reply = await self.get(path, params)
        assert reply.status == 200, reply.body
        return [item["Code"] for item in reply.data]


@pytest.fixture
def rest(api: Api) -> Rest:
    return Rest(api)

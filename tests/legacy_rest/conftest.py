"""A REST client for the tests: the real app over ASGI, with a token of a chosen scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import Api
from tests.factories import insert, oa

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


# Five followers of two OAs: Vietnamese, literal % and _, nulls, and every type.
PEOPLE: list[dict[str, Any]] = [
    {
        "code": "F1",
        "zalo_oa": "OA1",
        "name": "Nguyễn Văn An",
        "branch_id": 9,
        "reward_points": Decimal("9"),
        "followed_at": datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        "email": "an@shop.vn",
    },
    {
        "code": "F2",
        "zalo_oa": "OA1",
        "name": "ĐẶNG THỊ ẤN",
        "branch_id": 10,
        "reward_points": Decimal("10.5"),
        "followed_at": datetime(2026, 2, 1, 0, 0, tzinfo=UTC),
    },
    {
        "code": "F3",
        "zalo_oa": "OA1",
        "name": "100% _real_",
        "branch_id": 100,
        "reward_points": Decimal("100"),
        "followed_at": datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    },
    {"code": "F4", "zalo_oa": "OA1", "name": "1000 xreal"},
    {
        "code": "F5",
        "zalo_oa": "OA2",
        "branch_id": 2,
        "reward_points": Decimal("2"),
        "followed_at": datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
    },
]


@pytest.fixture
async def people(api: Api) -> Rest:
    await oa(api.backend.database, "OA1", is_default=True)
    await oa(api.backend.database, "OA2", is_default=False, name="Other")
    await insert(api.backend.database, "followers", PEOPLE)
    return Rest(api)

"""Rows for tests, written through the service layer (the same code the API uses)."""

from __future__ import annotations

from typing import Any

from resolvers import _crud
from resolvers._resource import get
from resolvers.caller import SYSTEM
from zalo_oa.db import Database


async def insert(database: Database, resource_key: str, items: list[dict[str, Any]]) -> None:
    async with database.sessions() as session:
        result = await _crud.create_many(session, get(resource_key), items, SYSTEM)
        assert result.ok, result.problems
        await session.commit()


async def oa(database: Database, code: str = "OA1", **values: Any) -> None:
    await insert(
        database,
        "official_accounts",
        [{"code": code, "name": f"Shop {code}", "status": 1, **values}],
    )

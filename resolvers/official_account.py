"""Rules of OfficialAccounts beyond the generic CRUD: defaults and the single default OA."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import models
from resolvers.errors import Problem

Items = list[tuple[int, dict[str, Any]]]


async def _one_default(session: AsyncSession, items: Items) -> dict[int, list[Problem]]:
    problems: dict[int, list[Problem]] = {}
    defaults = [i for i, v in items if v.get("is_default")]
    for index in defaults[1:]:
        problems[index] = [
            Problem(
                f"only one account can be the default (item {defaults[0]} is)", "isDefault", index
            )
        ]
    if defaults:
        table = models.OfficialAccount.__table__  # type: ignore[attr-defined]
        await session.execute(
            sa.update(table).where(table.c.is_default.is_(True)).values(is_default=False)
        )
    return problems


async def prepare_create(session: AsyncSession, items: Items) -> dict[int, list[Problem]]:
    for _, values in items:
        values.setdefault("status", 0)
        values.setdefault("is_enabled", True)
        values.setdefault("is_default", False)
    return await _one_default(session, items)


async def prepare_update(session: AsyncSession, items: Items) -> dict[int, list[Problem]]:
    return await _one_default(session, items)


async def default_code(session: AsyncSession) -> str | None:
    table = models.OfficialAccount.__table__  # type: ignore[attr-defined]
    result = await session.execute(sa.select(table.c.code).where(table.c.is_default.is_(True)))
    return result.scalar_one_or_none()

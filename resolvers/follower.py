"""Rules of Followers beyond the generic CRUD: the default OA on create."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from resolvers import official_account
from resolvers.errors import Problem

Items = list[tuple[int, dict[str, Any]]]


async def prepare_create(session: AsyncSession, items: Items) -> dict[int, list[Problem]]:
    """A create without ``zaloOaCode`` goes to the default OA, so legacy callers keep working."""
    problems: dict[int, list[Problem]] = {}
    for _, values in items:
        values.setdefault("is_deleted", 0)
        values.setdefault("is_follower", 0)
    missing = [(i, v) for i, v in items if v.get("zalo_oa") is None]
    if not missing:
        return problems
    default = await official_account.default_code(session)
    for index, values in missing:
        if default is None:
            problems[index] = [
                Problem("no default official account: give zaloOaCode", "zaloOaCode", index)
            ]
        else:
            values["zalo_oa"] = default
    return problems

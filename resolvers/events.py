"""The outbox: events are rows committed with the change that caused them, and delivered
later by the forwarder, so none is lost to a crash."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import models
from resolvers._crud import utcnow

_table = models.Event.__table__  # type: ignore[attr-defined]

MODULE_EVENTS = (
    "message.sent",
    "message.failed",
    "message.delivered",
    "message.seen",
    "follower.followed",
    "follower.unfollowed",
    "token.refreshed",
    "token.refresh_failed",
    "sync.finished",
)


async def emit(
    session: AsyncSession, kind: str, oa_code: str | None, payload: Any, source: str = "module"
) -> int:
    result = await session.execute(
        sa.insert(_table)
        .values(source=source, kind=kind, oa_code=oa_code, payload=payload, created=utcnow())
        .returning(_table.c.id)
    )
    return int(result.scalar_one())

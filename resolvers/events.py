"""The outbox: events are rows committed with the change that caused them, and delivered
later by the forwarder, so none is lost to a crash.

`emit` is the one publish point: the forwarder turns every committed event into deliveries
to matching Callback routes, and `resolvers.live` announces it to the ``messageEvents``
subscribers of every process.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import models
from resolvers import live
from resolvers._crud import utcnow

_table = models.Event.__table__  # type: ignore[attr-defined]
_INSERT = sa.insert(_table).returning(_table.c.id)  # one statement object: compiled once

# The module's own events that Callback routes can subscribe to (SPEC §7).
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
# An inbound message was recorded. Only the live subscription sees it: SPEC §7 gives
# Callback routes no such event (modules that want inbound messages use a Webhook route on
# ``user_send_*``), so the forwarder never delivers it.
MESSAGE_RECEIVED = "message.received"


async def emit(
    session: AsyncSession, kind: str, oa_code: str | None, payload: Any, source: str = "module"
) -> int:
    result = await session.execute(
        _INSERT,
        {
            "source": source,
            "kind": kind,
            "oa_code": oa_code,
            "payload": payload,
            "created": utcnow(),
        },
    )
    event_id = int(result.scalar_one())
    live.announce(session, event_id)
    return event_id


async def load(session: AsyncSession, event_id: int) -> Any:
    """One outbox row (id, source, kind, oa_code, payload, created), or ``None``."""
    stmt = sa.select(
        _table.c.id,
        _table.c.source,
        _table.c.kind,
        _table.c.oa_code,
        _table.c.payload,
        _table.c.created,
    ).where(_table.c.id == event_id)
    return (await session.execute(stmt)).first()

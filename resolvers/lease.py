"""Named, expiring locks in the database, so that every process (and every instance on one
PostgreSQL) agrees on who may do a piece of background work or spend a refresh token.

A lease outlives its holder only until ``expires``: a crashed holder blocks nobody for
longer than the lease it took, and the next holder reads the note it left behind.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from resolvers._crud import utcnow

_table = models.Lease.__table__  # type: ignore[attr-defined]


def process_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Held:
    name: str
    holder: str
    previous_note: str | None  # what an earlier holder left (e.g. an interrupted refresh)
    note: str | None = None  # what this holder wrote while it works


async def try_acquire(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    holder: str,
    ttl: timedelta,
    note: str | None = None,
) -> Held | None:
    """Take the lease if it is free or expired; commits at once so others see it."""
    now = utcnow()
    async with sessions() as session:
        previous = (
            await session.execute(sa.select(_table.c.note).where(_table.c.name == name))
        ).first()
        if previous is None:
            try:
                await session.execute(
                    sa.insert(_table).values(name=name, holder=holder, expires=now + ttl, note=note)
                )
                await session.commit()
            except IntegrityError:
                return None
            return Held(name, holder, None, note)
        taken = await session.execute(
            sa.update(_table)
            .where(
                _table.c.name == name,
                sa.or_(
                    _table.c.expires.is_(None), _table.c.expires < now, _table.c.holder == holder
                ),
            )
            .values(holder=holder, expires=now + ttl, note=note)
        )
        await session.commit()
        if not taken.rowcount:  # type: ignore[attr-defined]
            return None
        return Held(name, holder, previous.note, note)


async def release(session: AsyncSession, held: Held, note: str | None = None) -> None:
    """Give the lease back inside the caller's transaction (so it commits with the work)."""
    await session.execute(
        sa.update(_table)
        .where(_table.c.name == held.name, _table.c.holder == held.holder)
        .values(holder=None, expires=None, note=note)
    )


async def expires_at(session: AsyncSession, name: str) -> datetime | None:
    row = (await session.execute(sa.select(_table.c.expires).where(_table.c.name == name))).first()
    return None if row is None else row.expires

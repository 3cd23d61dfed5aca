"""API tokens: created once and shown once, stored as SHA-256 hashes, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import models
from resolvers._crud import utcnow
from resolvers.caller import Caller, Scope
from resolvers.errors import BadInput, NotFound

PREFIX = "zoa_"
_table = models.ApiToken.__table__  # type: ignore[attr-defined]
_TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scope(value: str) -> Scope:
    try:
        return Scope[value.upper()]
    except KeyError:
        raise BadInput(f"scope must be read, write or admin, not {value!r}", "scope") from None


async def create(session: AsyncSession, module: str, scope: Scope) -> tuple[str, int]:
    """A new token for ``module``; the plain token is returned here and nowhere else."""
    if not module.strip():
        raise BadInput("module cannot be empty", "module")
    token = PREFIX + secrets.token_urlsafe(32)
    result = await session.execute(
        sa.insert(_table)
        .values(
            token_hash=_hash(token),
            prefix=token[:12],
            module=module.strip(),
            scope=scope.name.lower(),
            created=utcnow(),
        )
        .returning(_table.c.id)
    )
    return token, int(result.scalar_one())


async def authenticate(session: AsyncSession, token: str) -> Caller | None:
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = (
        await session.execute(sa.select(_table).where(_table.c.token_hash == _hash(token)))
    ).first()
    if row is None or row.revoked is not None:
        return None
    now = utcnow()
    if row.last_used is None or now - row.last_used > _TOUCH_EVERY:
        await session.execute(sa.update(_table).where(_table.c.id == row.id).values(last_used=now))
    return Caller(row.module, Scope[row.scope.upper()], row.id)


async def revoke(session: AsyncSession, token_id: int) -> None:
    result = await session.execute(
        sa.update(_table)
        .where(_table.c.id == token_id, _table.c.revoked.is_(None))
        .values(revoked=utcnow())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no active token with id {token_id}", "id")


async def list_all(session: AsyncSession) -> Sequence[sa.Row[object]]:
    return (await session.execute(sa.select(_table).order_by(_table.c.id))).all()


async def any_exist(session: AsyncSession) -> bool:
    return (await session.execute(sa.select(sa.func.count()).select_from(_table))).scalar_one() > 0

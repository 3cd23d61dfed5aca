"""API tokens: created once and shown once, stored as SHA-256 hashes, revocable."""

from __future__ import annotations

import hashlib
import secrets
import time
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


class TokenCache:
    """Tokens this process accepted in the last ``ttl`` seconds, so a request costs no
    look-up. A revocation in this process takes effect at once; one made elsewhere (the CLI,
    another instance) within ``ttl`` seconds. ``ttl`` 0 turns the cache off."""

    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._found: dict[str, tuple[float, Caller]] = {}
        self._revoked: set[int] = set()

    def get(self, token: str) -> Caller | None:
        hit = self._found.get(_hash(token))
        if hit is None or time.monotonic() >= hit[0]:
            return None
        return hit[1]

    def put(self, token: str, caller: Caller) -> None:
        if self.ttl <= 0 or caller.token_id in self._revoked:
            return
        if len(self._found) >= self.size:
            self._found.clear()
        self._found[_hash(token)] = (time.monotonic() + self.ttl, caller)

    def forget(self, token_id: int) -> None:
        self._revoked.add(token_id)
        for key in [k for k, (_, c) in self._found.items() if c.token_id == token_id]:
            del self._found[key]


CACHE = TokenCache()


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
    CACHE.forget(token_id)
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

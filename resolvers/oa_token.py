"""Keeping each OA's access token fresh (SPEC §6).

Zalo's refresh tokens are single use, so a refresh is single-flight twice over: an asyncio
lock per OA inside a process, and a database lease per OA across processes, whose lifetime
exceeds the HTTP timeout. The new pair is committed in the same transaction that records the
spent token and releases the lease. A refresh cut short after Zalo answered (a crash, a
read timeout) leaves a note on the lease; the next attempt that finds the old token refused
marks the account for re-authorization and says why.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from resolvers import events, lease
from resolvers._crud import iso, utcnow
from resolvers.errors import BadInput, NotFound, UpstreamZalo
from zalo.client import ZaloClient
from zalo.errors import ZaloAuthError, ZaloError, ZaloTokenError

log = logging.getLogger("zalo_oa.tokens")
_table = models.OfficialAccount.__table__  # type: ignore[attr-defined]
T = TypeVar("T")

NOT_AUTHORIZED, AUTHORIZED, NEEDS_REAUTHORIZATION, DISABLED_BY_ZALO = 0, 1, 2, 3
ACCESS_LIFETIME = timedelta(hours=25)  # when Zalo omits expires_in
REFRESH_LIFETIME = timedelta(days=90)
INTERRUPTED = "refreshing "


def parse_moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Account:
    """What a Zalo call needs from an OfficialAccount row (secrets decrypted)."""

    code: str
    oa_id: str | None
    app_id: str | None
    app_secret: str | None
    access_token: str | None
    refresh_token: str | None
    access_expires: datetime | None
    api_url: str | None
    status: int | None
    is_enabled: bool | None
    oa_secret_key: str | None

    @classmethod
    def from_row(cls, row: Any) -> Account:
        return cls(
            code=row.code,
            oa_id=row.oa_id,
            app_id=row.app_id,
            app_secret=row.app_secret,
            access_token=row.access_token,
            refresh_token=row.refresh_token,
            access_expires=parse_moment(row.access_token_expired),
            api_url=row.api_url,
            status=row.status,
            is_enabled=row.is_enabled,
            oa_secret_key=row.oa_secret_key,
        )


async def load_account(session: AsyncSession, code: str) -> Account:
    row = (await session.execute(sa.select(_table).where(_table.c.code == code))).first()
    if row is None:
        raise NotFound(f"no OfficialAccount with code {code!r}", "oaCode")
    return Account.from_row(row)


def token_values(pair: Any, previous_refresh: str | None, now: datetime) -> dict[str, Any]:
    """Column values for a newly issued token pair."""
    access_for = timedelta(seconds=pair.expires_in) if pair.expires_in else ACCESS_LIFETIME
    refresh_for = (
        timedelta(seconds=pair.refresh_token_expires_in)
        if pair.refresh_token_expires_in
        else REFRESH_LIFETIME
    )
    values: dict[str, Any] = {
        "access_token": pair.access_token,
        "access_token_expired": iso(now + access_for),
        "last_refreshed": now,
        "status": AUTHORIZED,
        "modified": now,
    }
    if pair.refresh_token:
        values["refresh_token"] = pair.refresh_token
        values["refresh_token_expired"] = now + refresh_for
    if previous_refresh is not None:
        values["last_refresh_token"] = previous_refresh
    return values


class TokenKeeper:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: ZaloClient,
        *,
        http_timeout: float,
        margin: timedelta = timedelta(hours=1),
        holder: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.margin = margin
        self.holder = holder or lease.process_holder()
        # Longer than any refresh call can take, so a live holder never loses its lease.
        self.lease_ttl = timedelta(seconds=http_timeout * 2 + 1)
        self._locks: dict[str, asyncio.Lock] = {}
        self.refreshes = 0

    def _due(self, account: Account, now: datetime) -> bool:
        return account.access_expires is None or account.access_expires - now < self.margin

    async def account(self, code: str) -> Account:
        """The account with a usable access token, refreshing first when it is due."""
        async with self.sessions() as session:
            account = await load_account(session, code)
        if account.is_enabled is False:
            raise BadInput(f"official account {code} is disabled", "oaCode")
        if not account.refresh_token and not account.access_token:
            raise BadInput(
                f"official account {code} is not authorized yet (authorizeOfficialAccount)",
                "oaCode",
            )
        if account.refresh_token and self._due(account, utcnow()):
            account = await self.refresh(code)
        return account

    async def call(self, code: str, work: Callable[[Account], Awaitable[T]]) -> T:
        """Run a Zalo call; on an invalid-token answer refresh once and retry once."""
        account = await self.account(code)
        try:
            return await work(account)
        except ZaloAuthError:
            account = await self.refresh(code, seen=account.access_token)
            return await work(account)

    async def refresh(self, code: str, *, seen: str | None = None, force: bool = False) -> Account:
        """Refresh unless someone already did: ``seen`` is the token the caller found bad."""
        lock = self._locks.setdefault(code, asyncio.Lock())
        async with lock:
            while True:
                async with self.sessions() as session:
                    account = await load_account(session, code)
                if self._fresh_enough(account, seen, force):
                    return account
                held = await lease.try_acquire(
                    self.sessions,
                    f"oa-token:{code}",
                    self.holder,
                    self.lease_ttl,
                    note=INTERRUPTED + _fingerprint(account.refresh_token or ""),
                )
                if held is not None:
                    return await self._refresh_holding(code, held, seen, force)
                await asyncio.sleep(0.1)  # another process is refreshing: wait for its result

    def _fresh_enough(self, account: Account, seen: str | None, force: bool) -> bool:
        if seen is not None:
            return account.access_token != seen  # someone refreshed since the caller read it
        return not force and not self._due(account, utcnow())

    async def _refresh_holding(
        self, code: str, held: lease.Held, seen: str | None, force: bool
    ) -> Account:
        async with self.sessions() as session:
            account = await load_account(session, code)
            if self._fresh_enough(account, seen, force):
                await lease.release(session, held)
                await session.commit()
                return account
            if not (account.app_id and account.app_secret and account.refresh_token):
                await lease.release(session, held)
                await session.commit()
                raise BadInput(
                    f"official account {code} has no refresh token: authorize it", "oaCode"
                )
            interrupted = held.previous_note == INTERRUPTED + _fingerprint(account.refresh_token)
            try:
                pair = await self.client.refresh_token(
                    account.app_id, account.app_secret, account.refresh_token
                )
            except ZaloTokenError as exc:
                if exc.transient:
                    # The token may or may not have been spent: leave the note for the next try.
                    await lease.release(session, held, note=held.note)
                    await session.commit()
                    raise UpstreamZalo(
                        f"token refresh did not complete: {exc.message}", exc.zalo_error
                    ) from exc
                reason = exc.message
                if interrupted:
                    reason = (
                        "an earlier refresh was interrupted after Zalo had rotated the "
                        f"token, so the saved refresh token is spent ({exc.message}); "
                        "authorize the account again"
                    )
                await self._failed(session, code, reason, exc.zalo_error)
                await lease.release(session, held)
                await session.commit()
                raise UpstreamZalo(f"token refresh failed: {reason}", exc.zalo_error) from exc
            now = utcnow()
            values = token_values(pair, account.refresh_token, now)
            await session.execute(sa.update(_table).where(_table.c.code == code).values(**values))
            await events.emit(
                session,
                "token.refreshed",
                code,
                {"code": code, "accessTokenExpired": values["access_token_expired"]},
            )
            await lease.release(session, held)
            await session.commit()
            self.refreshes += 1
            log.info("refreshed the access token of %s", code)
            return await load_account(session, code)

    async def _failed(self, session: AsyncSession, code: str, reason: str, error: int) -> None:
        await session.execute(
            sa.update(_table)
            .where(_table.c.code == code)
            .values(status=NEEDS_REAUTHORIZATION, modified=utcnow())
        )
        await events.emit(
            session, "token.refresh_failed", code, {"code": code, "error": error, "message": reason}
        )
        log.warning("token refresh of %s failed: %s", code, reason)

    async def refresh_due(self) -> dict[str, str]:
        """One proactive pass: refresh every authorized account whose token is due."""
        horizon = iso(utcnow() + self.margin)
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    sa.select(_table.c.code).where(
                        _table.c.status == AUTHORIZED,
                        sa.or_(_table.c.is_enabled.is_(None), _table.c.is_enabled.is_(True)),
                        _table.c.refresh_token.is_not(None),
                        sa.or_(
                            _table.c.access_token_expired.is_(None),
                            _table.c.access_token_expired < horizon,
                        ),
                    )
                )
            ).all()
        outcome: dict[str, str] = {}
        for (code,) in rows:
            try:
                await self.refresh(code)
                outcome[code] = "refreshed"
            except (UpstreamZalo, ZaloError, BadInput) as exc:
                outcome[code] = f"failed: {exc}"
        return outcome

    async def run(self, every: float = 300.0) -> None:
        """The background task of ``serve``: a pass every ``every`` seconds."""
        while True:
            try:
                await self.refresh_due()
            except Exception:  # keep the loop alive; the next pass retries
                log.exception("proactive token refresh pass failed")
            await asyncio.sleep(every)

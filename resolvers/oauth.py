"""Authorizing an OA with Zalo's OAuth v4 + PKCE (SPEC §6)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import models
from resolvers._crud import utcnow
from resolvers.errors import BadInput, DomainError
from resolvers.oa_token import load_account, token_values
from zalo import pkce
from zalo.client import ZaloClient
from zalo.errors import ZaloError

_states = models.OAuthState.__table__  # type: ignore[attr-defined]
_accounts = models.OfficialAccount.__table__  # type: ignore[attr-defined]
STATE_LIFETIME = timedelta(minutes=10)  # Zalo's authorization codes live 10 minutes too


class AuthorizationFailed(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], "BAD_USER_INPUT")


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str


async def start(
    session: AsyncSession, client: ZaloClient, code: str, redirect_uri: str | None
) -> Authorization:
    """A permission URL with a fresh PKCE pair and a one-time state."""
    account = await load_account(session, code)
    if not account.app_id:
        raise BadInput(f"official account {code} has no appId", "appId")
    row = (
        await session.execute(sa.select(_accounts.c.callback_url).where(_accounts.c.code == code))
    ).one()
    redirect = redirect_uri or row.callback_url
    if not redirect:
        raise BadInput("give redirectUri or set the account's callbackUrl", "redirectUri")
    verifier = pkce.new_verifier()
    challenge = pkce.challenge(verifier)
    state = pkce.new_state()
    now = utcnow()
    await session.execute(
        sa.insert(_states).values(
            state_hash=_hash(state),
            oa_code=code,
            redirect_uri=redirect,
            verifier=verifier,
            created=now,
        )
    )
    await session.execute(
        sa.update(_accounts)
        .where(_accounts.c.code == code)
        .values(verifier_code=verifier, challenge_code=challenge, modified=now)
    )
    url = client.permission_url(account.app_id, redirect, challenge, state)
    return Authorization(url, state)


async def finish(
    session: AsyncSession,
    client: ZaloClient,
    *,
    code: str | None,
    state: str | None,
    oa_id: str | None,
) -> str:
    """Exchange Zalo's code for tokens; returns the account code. Nothing is stored on error."""
    if not state:
        raise AuthorizationFailed("the callback has no state")
    if not code:
        raise AuthorizationFailed("the callback has no code (was the permission denied?)")
    now = utcnow()
    pending = (
        await session.execute(sa.select(_states).where(_states.c.state_hash == _hash(state)))
    ).first()
    if pending is None:
        raise AuthorizationFailed("unknown state: start the authorization again")
    if pending.used is not None:
        raise AuthorizationFailed("this authorization was already completed (state used)")
    if now - pending.created > STATE_LIFETIME:
        raise AuthorizationFailed("the authorization expired: start it again")
    account = await load_account(session, pending.oa_code)
    if account.oa_id and oa_id and account.oa_id != oa_id:
        raise AuthorizationFailed(
            f"Zalo authorized OA {oa_id}, but account {account.code} is OA {account.oa_id}"
        )
    if not account.app_id or not account.app_secret:
        raise AuthorizationFailed(f"account {account.code} has no appId/appSecret")
    try:
        pair = await client.exchange_code(
            account.app_id, account.app_secret, code, pending.verifier
        )
    except ZaloError as exc:
        raise AuthorizationFailed(
            f"Zalo refused the code: {exc.message} ({exc.zalo_error})"
        ) from exc
    values = token_values(pair, None, now)
    if oa_id and not account.oa_id:
        values["oa_id"] = oa_id
    # Mark the state used only if it is still unused: a parallel callback loses here.
    used = await session.execute(
        sa.update(_states)
        .where(_states.c.id == pending.id, _states.c.used.is_(None))
        .values(used=now)
    )
    if not used.rowcount:  # type: ignore[attr-defined]
        raise AuthorizationFailed("this authorization was already completed (state used)")
    await session.execute(
        sa.update(_accounts).where(_accounts.c.code == account.code).values(**values)
    )
    return account.code

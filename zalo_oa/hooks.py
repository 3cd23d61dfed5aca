"""The Zalo webhook receiver (SPEC §7): verify, record, answer 200, and apply later.

``POST /v4/zalo-oa/hooks/{OaCode}`` and ``POST /v4/zalo-oa/hooks`` (routed by the event's
OA id, then by its app id). Checks, in order: a JSON object with an ``event_name`` (else
400), a known OA (404), its ``WebhookUserToken`` as ``?token=`` when one is set (401), the
``X-ZEvent-Signature`` (401) and the replay window on the body's ``timestamp`` (400). The
last two follow ``ZALO_OA_WEBHOOK_SIGNATURE``: ``strict`` refuses, ``log_only`` logs and
accepts, ``off`` skips them. The raw bytes are then committed as an ``events`` row (a
duplicate is a no-op that still answers 200) and the applier is woken; nothing else
happens before the answer, which keeps it far inside Zalo's 2 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import Response

import models
from resolvers import inbound
from resolvers._crud import utcnow
from zalo.signature import verify_webhook_signature
from zalo_oa.services import Services
from zalo_oa.settings import SignatureMode

log = logging.getLogger("zalo_oa.hooks")
_accounts = models.OfficialAccount.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    _accounts.c.code,
    _accounts.c.oa_id,
    _accounts.c.app_id,
    _accounts.c.oa_secret_key,
    _accounts.c.webhook_user_token,
    _accounts.c.webhook_user_token_expired,
)


class Refused(Exception):
    """An event the receiver does not accept: the status to answer and why (no secrets)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class _Account:
    code: str
    app_id: str | None
    oa_secret_key: str | None
    token: str | None
    token_expired: Any


def _answer(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _refusal(refused: Refused) -> Response:
    error = {"code": refused.code, "message": refused.message, "details": []}
    return _answer(refused.status, {"error": error})


def _cache_key(oa_code: str | None, payload: dict[str, Any]) -> tuple[str, str]:
    """What routes the event: the hook URL's code, else the event's OA id, else its app id."""
    if oa_code:
        return ("code", oa_code)
    oa_id = inbound.oa_id_of(payload)
    return ("oa_id", oa_id) if oa_id else ("app_id", str(payload.get("app_id") or ""))


class Receiver:
    # Accounts are kept this long between look-ups (the hot path reads one per event), so a
    # changed OaSecretKey or WebhookUserToken takes effect within that many seconds.
    CACHE_SECONDS = 2.0

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self._cache: dict[tuple[str, str], tuple[float, _Account]] = {}
        self.recorder = inbound.Recorder(services.database.sessions, services.applier.gate)

    def forget(self) -> None:
        """Drop the cached accounts (after changing an OA's secrets, in tests)."""
        self._cache.clear()

    async def receive(self, request: Request, oa_code: str | None) -> Response:
        raw = await request.body()
        name = "?"
        try:
            payload = self._parse(raw)
            name = payload["event_name"]
            account = await self._account(oa_code, payload)
            self._check_token(account, request.query_params.get("token"))
            self._check_signature(account, payload, raw, request.headers.get("x-zevent-signature"))
        except Refused as refused:
            log.warning(
                "webhook refused (%s %s) for %s, event %s: %s",
                refused.status,
                refused.code,
                oa_code or "(no code)",
                name,
                refused.message,
            )
            return _refusal(refused)
        key = inbound.dedupe_key(account.code, payload, raw)
        event_id = await self.recorder.record(account.code, name, raw, key)
        if event_id is None:
            log.info("duplicate webhook %s for %s ignored", name, account.code)
        else:
            self.services.applier.wake()
        return _answer(200, {"ok": True, "duplicate": event_id is None})

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Refused(400, "BAD_USER_INPUT", "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise Refused(400, "BAD_USER_INPUT", "the body is not a JSON object")
        name = payload.get("event_name")
        if not isinstance(name, str) or not name or len(name) > 100:
            raise Refused(400, "BAD_USER_INPUT", "event_name is missing or invalid")
        return payload

    async def _account(self, oa_code: str | None, payload: dict[str, Any]) -> _Account:
        key = _cache_key(oa_code, payload)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.CACHE_SECONDS:
            return cached[1]
        account = await self._load_account(oa_code, payload)
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[key] = (now, account)
        return account

    async def _load_account(self, oa_code: str | None, payload: dict[str, Any]) -> _Account:
        async with self.services.database.sessions() as session:
            if oa_code is not None:
                rows = (
                    await session.execute(sa.select(*_COLUMNS).where(_accounts.c.code == oa_code))
                ).all()
            else:
                rows = await self._route(session, payload)
        if len(rows) != 1:
            where = f"OA {oa_code!r}" if oa_code else "the event's OA id or app id"
            raise Refused(404, "NOT_FOUND", f"no official account matches {where}")
        row = rows[0]
        return _Account(
            row.code,
            row.app_id,
            row.oa_secret_key,
            row.webhook_user_token,
            row.webhook_user_token_expired,
        )

    async def _route(self, session: Any, payload: dict[str, Any]) -> list[Any]:
        oa_id = inbound.oa_id_of(payload)
        if oa_id is not None:
            rows = (
                await session.execute(sa.select(*_COLUMNS).where(_accounts.c.oa_id == oa_id))
            ).all()
            if rows:
                return list(rows)
        app_id = payload.get("app_id")
        if not app_id:
            return []
        # By app id only where the OA id cannot decide: the event has none, or the account
        # does not know its own yet. An app serves several OAs; a stranger's event is a 404.
        stmt = sa.select(*_COLUMNS).where(_accounts.c.app_id == str(app_id))
        if oa_id is not None:
            stmt = stmt.where(_accounts.c.oa_id.is_(None))
        return list((await session.execute(stmt.limit(2))).all())

    def _check_token(self, account: _Account, given: str | None) -> None:
        if not account.token:
            return
        if not given or not hmac.compare_digest(given.encode(), account.token.encode()):
            raise Refused(401, "UNAUTHENTICATED", "the hook URL's token is missing or wrong")
        if account.token_expired is not None and account.token_expired < utcnow():
            raise Refused(401, "UNAUTHENTICATED", "the hook URL's token has expired")

    def _check_signature(
        self, account: _Account, payload: dict[str, Any], raw: bytes, header: str | None
    ) -> None:
        mode = self.settings.webhook_signature
        if mode is SignatureMode.off:
            return
        timestamp = str(payload.get("timestamp", ""))
        problem: Refused | None = None
        if not (account.app_id and account.oa_secret_key):
            problem = Refused(401, "UNAUTHENTICATED", "the OA has no app id or OaSecretKey")
        elif not verify_webhook_signature(
            header, account.app_id, raw, timestamp, account.oa_secret_key
        ):
            reason = "missing" if not header else "wrong"
            problem = Refused(401, "UNAUTHENTICATED", f"the X-ZEvent-Signature is {reason}")
        else:
            problem = self._stale(timestamp)
        if problem is None:
            return
        if mode is SignatureMode.strict:
            raise problem
        log.warning("webhook for %s accepted (log_only): %s", account.code, problem.message)

    def _stale(self, timestamp: str) -> Refused | None:
        window = self.settings.webhook_replay_window_seconds
        if not window:
            return None
        if not timestamp.isdigit():
            return Refused(400, "BAD_USER_INPUT", "timestamp is missing or not a number")
        skew = abs(time.time() * 1000 - int(timestamp)) / 1000
        if skew > window:
            return Refused(
                400, "BAD_USER_INPUT", f"timestamp is {skew:.0f}s away (window {window}s)"
            )
        return None


def router(receiver: Receiver) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.post("/v4/zalo-oa/hooks/{oa_code}")
    async def hook_for_account(oa_code: str, request: Request) -> Response:
        """Zalo's events for the OA with this code."""
        return await receiver.receive(request, oa_code)

    @api.post("/v4/zalo-oa/hooks")
    async def hook(request: Request) -> Response:
        """Zalo's events, routed by the event's OA id (one URL per Zalo app)."""
        return await receiver.receive(request, None)

    return api


@contextlib.asynccontextmanager
async def background(services: Services) -> AsyncIterator[None]:
    """``serve``'s receiving side: the applier, the forwarder and the live listener."""
    tasks = [
        asyncio.create_task(services.applier.run(), name="zalo-oa applier"),
        asyncio.create_task(services.forwarder.run(), name="zalo-oa forwarder"),
        asyncio.create_task(services.bus.run(), name="zalo-oa live bus"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

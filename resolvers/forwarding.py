"""Forwarding events to other modules (SPEC §7): one durable outbox, delivered at least once.

Two steps, each its own transaction, so a crash between them loses nothing:

1. **dispatch** turns every committed, not yet dispatched event into ``deliveries`` rows:
   a Zalo event the applier has processed → each matching active Webhook route and the
   OA's ``Forward`` URL; a module event listed in `events.MODULE_EVENTS` → each matching Callback route. The
   exact body (with its ``delivery`` id) and its signature are stored, so every retry and
   every ``redeliver`` sends the same bytes.
2. **deliver** claims due deliveries (``claimed_until``, plus ``SKIP LOCKED`` on
   PostgreSQL), POSTs them, and records every attempt; a failure is retried from
   ``retry_base`` doubling with jitter (capped at 1 h) until ``give_up_after`` (24 h), then
   the delivery is ``DEAD``. Any 2xx is success.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from resolvers import events
from resolvers._crud import iso, utcnow
from resolvers.inbound import WriteGate

log = logging.getLogger("zalo_oa.forwarding")
_events = models.Event.__table__  # type: ignore[attr-defined]
_deliveries = models.Delivery.__table__  # type: ignore[attr-defined]
_attempts = models.DeliveryAttempt.__table__  # type: ignore[attr-defined]
_accounts = models.OfficialAccount.__table__  # type: ignore[attr-defined]
_webhooks = models.Webhook.__table__  # type: ignore[attr-defined]
_callbacks = models.Callback.__table__  # type: ignore[attr-defined]

WEBHOOK, CALLBACK, FORWARD = "WEBHOOK", "CALLBACK", "FORWARD"
PENDING, FAILED, DELIVERED, DEAD = "PENDING", "FAILED", "DELIVERED", "DEAD"
MAX_DELAY = 3600.0
HTTP_TYPES = (None, "", "http", "https")
# Headers a route's ExtendData.headers cannot replace.
_RESERVED = {"content-type", "content-length", "host", "authorization", "user-agent"}
USER_AGENT = "zalo-oa-forwarder/1"


# ---------------------------------------------------------------- routes


def feature_matches(feature: str | None, name: str) -> bool:
    """``Feature`` is an event name, ``*``, or a prefix pattern such as ``user_send_*``."""
    pattern = (feature or "").strip()
    if not pattern:
        return False
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def _extend(route: Any) -> dict[str, Any]:
    data = route.extend_data
    if isinstance(data, str):  # legacy callers store JSON in a string
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {}
    return data if isinstance(data, dict) else {}


def in_scope(route: Any, oa_code: str | None, oa_id: str | None) -> bool:
    """``IsPublic = 1``: every OA; else the OAs (codes or Zalo ids) in ``ExtendData.oa``.

    A route that sets neither serves every OA.
    """
    if route.is_public == 1:
        return True
    listed = _extend(route).get("oa")
    if isinstance(listed, str | int):
        listed = [listed]
    if isinstance(listed, list):
        names = {str(x) for x in listed}
        return oa_code in names or (oa_id is not None and oa_id in names)
    return route.is_public is None


def is_active(route: Any) -> bool:
    """``IsApplied = 0`` switches a route off; an http ``Type`` and URL are required."""
    url = route.value or ""
    return (
        route.is_applied != 0
        and route.type in HTTP_TYPES
        and url.startswith(("http://", "https://"))
    )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _headers(kind: str, key: str, route: Any | None, body: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    extend = _extend(route) if route is not None else {}
    extra = extend.get("headers")
    if isinstance(extra, dict):
        headers.update(
            {
                str(k): str(v)
                for k, v in extra.items()
                if str(k).lower() not in _RESERVED and not str(k).lower().startswith("x-zalooa-")
            }
        )
    headers["X-ZaloOa-Event"] = kind
    headers["X-ZaloOa-Delivery"] = key
    secret = extend.get("secret")
    if isinstance(secret, str) and secret:
        headers["X-ZaloOa-Signature"] = sign(secret, body)
    return headers


# ---------------------------------------------------------------- dispatch


@dataclass
class _Routes:
    webhooks: list[Any]
    callbacks: list[Any]
    accounts: dict[str, Any]  # code → (oa_id, forward)


def _webhook_body(event: Any, key: str) -> bytes:
    """SPEC §7: ``data`` is the Zalo event as received, spliced in byte for byte."""
    head = orjson.dumps(
        {
            "event": event.kind,
            "oa": event.oa_code,
            "delivery": key,
            "receivedAt": iso(event.created),
        }
    )
    return head[:-1] + b',"data":' + event.raw.encode() + b"}"


def _callback_body(event: Any, key: str) -> bytes:
    return orjson.dumps(
        {
            "event": event.kind,
            "oa": event.oa_code,
            "delivery": key,
            "occurredAt": iso(event.created),
            "data": event.payload,
        }
    )


def deliveries_for(event: Any, routes: _Routes, now: datetime) -> list[dict[str, Any]]:
    """The delivery rows one committed event turns into."""
    account = routes.accounts.get(event.oa_code)
    oa_id = None if account is None else account.oa_id
    rows: list[dict[str, Any]] = []

    def add(kind: str, route: Any | None, url: str, body: bytes, key: str) -> None:
        rows.append(
            {
                "key": key,
                "event_id": event.id,
                "route_kind": kind,
                "route_code": event.oa_code if route is None else route.code,
                "url": url,
                "event": event.kind,
                "oa_code": event.oa_code,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "body": body.decode(),
                "headers": _headers(event.kind, key, route, body),
                "created": now,
            }
        )

    if event.source == "zalo":
        for route in routes.webhooks:
            if feature_matches(route.feature, event.kind) and in_scope(route, event.oa_code, oa_id):
                key = uuid.uuid4().hex
                add(WEBHOOK, route, route.value, _webhook_body(event, key), key)
        if account is not None and (account.forward or "").startswith(("http://", "https://")):
            add(FORWARD, None, account.forward, event.raw.encode(), uuid.uuid4().hex)
    elif event.kind in events.MODULE_EVENTS:
        for route in routes.callbacks:
            if feature_matches(route.feature, event.kind) and in_scope(route, event.oa_code, oa_id):
                key = uuid.uuid4().hex
                add(CALLBACK, route, route.value, _callback_body(event, key), key)
    return rows


async def _routes(session: AsyncSession, oa_codes: Iterable[str | None]) -> _Routes:
    webhooks = [r for r in (await session.execute(sa.select(_webhooks))).all() if is_active(r)]
    callbacks = [r for r in (await session.execute(sa.select(_callbacks))).all() if is_active(r)]
    codes = [c for c in set(oa_codes) if c is not None]
    found = await session.execute(
        sa.select(_accounts.c.code, _accounts.c.oa_id, _accounts.c.forward).where(
            _accounts.c.code.in_(codes)
        )
    )
    return _Routes(webhooks, callbacks, {r.code: r for r in found})


async def dispatch_batch(
    session: AsyncSession, *, is_postgres: bool, limit: int = 200, ids: Sequence[int] = ()
) -> int:
    """Turn up to ``limit`` undispatched events (only those of ``ids`` when given) into
    deliveries; returns how many events."""
    # A Zalo event goes out once the applier has seen it: applied, or waiting for a message
    # the sender has not recorded yet (its receivers need not wait for our bookkeeping).
    ready = sa.and_(
        _events.c.dispatched.is_(None),
        sa.or_(
            _events.c.source == "module",
            _events.c.applied.is_not(None),
            _events.c.attempts > 0,
        ),
    )
    candidates = sa.select(_events.c.id).where(ready).order_by(_events.c.id).limit(limit)
    if ids:
        candidates = candidates.where(_events.c.id.in_(list(ids)))
    if is_postgres:
        candidates = candidates.with_for_update(skip_locked=True)
    found = list((await session.execute(candidates)).scalars())
    if not found:
        return 0
    now = utcnow()
    # Claiming by the update itself: a second dispatcher (another process) gets no rows.
    result = (
        await session.execute(
            sa.update(_events)
            .where(_events.c.id.in_(found), _events.c.dispatched.is_(None))
            .values(dispatched=now)
            .returning(
                _events.c.id,
                _events.c.source,
                _events.c.kind,
                _events.c.oa_code,
                _events.c.payload,
                _events.c.raw,
                _events.c.created,
            )
        )
    ).all()
    claimed = sorted(result, key=lambda r: r.id)
    routes = await _routes(session, (e.oa_code for e in claimed))
    rows = [d for event in claimed for d in deliveries_for(event, routes, now)]
    if rows:
        await session.execute(sa.insert(_deliveries), rows)
    return len(claimed)


# ---------------------------------------------------------------- deliver


@dataclass(frozen=True)
class Claim:
    id: int
    key: str
    url: str
    body: str
    headers: dict[str, str]
    route_kind: str
    attempts: int
    created: datetime


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempts: int, base: float) -> float:
    """Seconds before try ``attempts + 1``: ``base`` doubling per failure, jittered, ≤ 1 h."""
    return min(MAX_DELAY, base * 2 ** max(attempts - 1, 0) * random.uniform(0.8, 1.2))


async def redeliver(session: AsyncSession, key: str) -> Any:
    """Schedule a delivery (same id, same body) again now; ``None`` when there is none."""
    result = await session.execute(
        sa.update(_deliveries)
        .where(_deliveries.c.key == key)
        .values(status=PENDING, next_attempt_at=utcnow(), claimed_until=None)
        .returning(_deliveries.c.id)
    )
    if result.scalar_one_or_none() is None:
        return None
    return (await session.execute(sa.select(_deliveries).where(_deliveries.c.key == key))).one()


class Forwarder:
    """Dispatches events and delivers due deliveries for this process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        is_postgres: bool,
        retry_base: float,
        timeout: float = 10.0,
        give_up_after: timedelta = timedelta(hours=24),
        concurrency: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
        gate: WriteGate | None = None,
    ) -> None:
        self.sessions = sessions
        self.is_postgres = is_postgres
        self.gate = gate or WriteGate(sqlite=not is_postgres)
        self.retry_base = retry_base
        self.timeout = timeout
        self.give_up_after = give_up_after
        self.concurrency = concurrency
        self.coalesce = 0.05
        self.http = httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport)
        self._wake = asyncio.Event()
        self._hinted: set[int] = set()
        self._in_flight: set[asyncio.Task[None]] = set()
        # A full scan walks past every event still waiting to be applied, so it runs on this
        # period only; new events arrive as hints (ids from the bus and the applier).
        self.scan_every = 5.0

    def wake(self) -> None:
        self._wake.set()

    def hint(self, ids: Iterable[int]) -> None:
        """These events were just committed: dispatch them by id, without scanning."""
        self._hinted.update(ids)
        self._wake.set()

    async def close(self) -> None:
        await self.http.aclose()

    async def dispatch_hinted(self) -> int:
        """Dispatch the events named by `hint` (those not ready yet wait for a scan)."""
        ids, self._hinted = sorted(self._hinted), set()
        total = 0
        for start in range(0, len(ids), 500):
            async with self.gate.turn(), self.sessions() as session:
                total += await dispatch_batch(
                    session, is_postgres=self.is_postgres, limit=500, ids=ids[start : start + 500]
                )
                await session.commit()
        return total

    async def dispatch_pending(self, max_batches: int | None = None) -> int:
        """Dispatch until no committed event is left undispatched (or ``max_batches`` of
        them were done); returns how many events."""
        total = batches = 0
        while max_batches is None or batches < max_batches:
            async with self.gate.turn(), self.sessions() as session:
                n = await dispatch_batch(session, is_postgres=self.is_postgres)
                await session.commit()
            total += n
            batches += 1
            if n == 0:
                break
        return total

    async def deliver_due(self, limit: int | None = None) -> int:
        """Claim what is due now and try each once (all awaited); returns how many tried."""
        claims = await self._claim(limit or self.concurrency)
        await asyncio.gather(*(self._attempt(c) for c in claims))
        return len(claims)

    async def run(self, poll: float = 1.0) -> None:
        """The background task of ``serve``: dispatch, deliver, sleep until woken or due."""
        scanned = 0.0
        try:
            while True:
                try:
                    if self._hinted:
                        await self.dispatch_hinted()
                    if time.monotonic() - scanned >= self.scan_every:
                        scanned = time.monotonic()
                        # Bounded, so a large backlog cannot starve the deliveries.
                        if await self.dispatch_pending(max_batches=5):
                            scanned = 0.0
                    free = self.concurrency - len(self._in_flight)
                    for claim in await self._claim(free) if free > 0 else []:
                        task = asyncio.create_task(self._attempt(claim))
                        self._in_flight.add(task)
                        task.add_done_callback(self._done)
                except Exception:  # keep forwarding; the outbox rows wait
                    log.exception("forwarding pass failed")
                try:
                    await asyncio.wait_for(self._wake.wait(), poll)
                    # Every commit anywhere wakes us: gather a moment's worth into one pass.
                    await asyncio.sleep(self.coalesce)
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _claim(self, limit: int) -> list[Claim]:
        now = utcnow()
        unclaimed = sa.or_(_deliveries.c.claimed_until.is_(None), _deliveries.c.claimed_until < now)
        due = (
            sa.select(_deliveries.c.id)
            .where(
                _deliveries.c.status.in_((PENDING, FAILED)),
                _deliveries.c.next_attempt_at <= now,
                unclaimed,
            )
            .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id)
            .limit(limit)
        )
        if self.is_postgres:
            due = due.with_for_update(skip_locked=True)
        async with self.gate.turn(), self.sessions() as session:
            ids = list((await session.execute(due)).scalars())
            if not ids:
                return []
            # Longer than one attempt can take, so a live worker keeps its claim.
            until = now + timedelta(seconds=self.timeout * 2 + 5)
            rows = (
                await session.execute(
                    sa.update(_deliveries)
                    .where(_deliveries.c.id.in_(ids), unclaimed)
                    .values(claimed_until=until)
                    .returning(
                        _deliveries.c.id,
                        _deliveries.c.key,
                        _deliveries.c.url,
                        _deliveries.c.body,
                        _deliveries.c.headers,
                        _deliveries.c.route_kind,
                        _deliveries.c.oa_code,
                        _deliveries.c.attempts,
                        _deliveries.c.created,
                    )
                )
            ).all()
            tokens = await self._forward_tokens(
                session, {r.oa_code for r in rows if r.route_kind == FORWARD}
            )
            await session.commit()
        claims = []
        for r in sorted(rows, key=lambda r: r.id):
            headers = dict(r.headers or {})
            if r.route_kind == FORWARD and tokens.get(r.oa_code):
                # The Forward token is a secret: added at send time, never stored with the row.
                headers["Authorization"] = f"Bearer {tokens[r.oa_code]}"
            claims.append(
                Claim(r.id, r.key, r.url, r.body, headers, r.route_kind, r.attempts, r.created)
            )
        return claims

    async def _forward_tokens(self, session: AsyncSession, codes: set[str]) -> dict[str, str]:
        if not codes:
            return {}
        found = await session.execute(
            sa.select(_accounts.c.code, _accounts.c.forward_user_token).where(
                _accounts.c.code.in_(list(codes))
            )
        )
        return {r.code: r.forward_user_token for r in found if r.forward_user_token}

    async def _post(self, claim: Claim) -> Outcome:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **claim.headers}
        started = time.perf_counter()
        try:
            response = await self.http.post(claim.url, content=claim.body.encode(), headers=headers)
            status: int | None = response.status_code
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            detail = str(exc)
            status, error = (
                None,
                f"{type(exc).__name__}: {detail}"[:300] if detail else type(exc).__name__,
            )
        return Outcome(status, error, int((time.perf_counter() - started) * 1000))

    async def _attempt(self, claim: Claim) -> None:
        try:
            await self._try(claim)
        except Exception:  # the claim expires and the delivery is tried again
            log.exception("recording delivery %s failed", claim.key)

    async def _try(self, claim: Claim) -> None:
        outcome = await self._post(claim)
        now = utcnow()
        attempts = claim.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
            "claimed_until": None,
        }
        if outcome.ok:
            values.update(status=DELIVERED, delivered_at=now, next_attempt_at=None)
        else:
            deadline = claim.created + self.give_up_after
            if now >= deadline:
                values.update(status=DEAD, next_attempt_at=None)
            else:
                retry_at = now + timedelta(seconds=backoff(attempts, self.retry_base))
                values.update(status=FAILED, next_attempt_at=min(retry_at, deadline))
            log.info(
                "delivery %s to %s failed (%s), attempt %s",
                claim.key,
                claim.route_kind,
                outcome.error,
                attempts,
            )
        async with self.gate.turn(), self.sessions() as session:
            await session.execute(
                sa.insert(_attempts).values(
                    delivery_id=claim.id,
                    at=now,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                )
            )
            await session.execute(
                sa.update(_deliveries).where(_deliveries.c.id == claim.id).values(**values)
            )
            await session.commit()

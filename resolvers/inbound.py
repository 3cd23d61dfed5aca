"""Inbound Zalo events: recorded raw and deduplicated by the receiver, applied afterwards.

The receiver (``zalo_oa.hooks``) only commits an ``events`` row (source ``zalo``) and wakes
the `Applier`; the applier takes pending rows (``applied IS NULL``) in id order and runs
each through its handler (`resolvers.zalo_events`) inside a savepoint, marking it applied
in the same transaction. A process killed after answering Zalo leaves the row pending, and
the applier of the next start (or of another instance) applies it.

An event whose handler asks to wait (a receipt for a message whose ZaloMessageId is not
recorded yet) stays pending with ``attempts`` and ``error`` set, and is tried again on a
schedule derived from ``created`` and ``attempts`` (so it survives restarts); after
``give_up_after`` it is applied as far as it can be, with the reason kept in ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from resolvers import zalo_events
from resolvers._crud import utcnow
from resolvers.caller import Caller, Scope

log = logging.getLogger("zalo_oa.inbound")
_events = models.Event.__table__  # type: ignore[attr-defined]
_accounts = models.OfficialAccount.__table__  # type: ignore[attr-defined]
DEFAULT_WEBHOOK_USER = "zalo-webhook"
# Receipts sent by the OA: the OA is the sender, not the recipient (zalo-api.md §4.3).
_OA_SENDS = ("user_received_message", "user_seen_message")


# ---------------------------------------------------------------- receiving


def oa_id_of(payload: dict[str, Any]) -> str | None:
    """The Zalo OA id an event belongs to (for the hook URL without an OA code)."""
    if payload.get("oa_id"):
        return str(payload["oa_id"])
    name = str(payload.get("event_name") or "")
    side = "recipient" if name.startswith(("user_", "anonymous_")) else "sender"
    if name in _OA_SENDS:
        side = "sender"
    party = payload.get(side)
    found = party.get("id") if isinstance(party, dict) else None
    return None if found in (None, "") else str(found)


def _subject(payload: dict[str, Any]) -> str:
    for key in ("follower", "sender", "recipient"):
        party = payload.get(key)
        if isinstance(party, dict) and party.get("id"):
            return str(party["id"])
    return str(payload.get("user_id") or payload.get("oa_id") or "")


def dedupe_key(oa_code: str, payload: dict[str, Any], raw: bytes) -> str:
    """Zalo's message id where the event has one, else name + timestamp + subject, else a
    hash of the body; Zalo's retries and duplicate deliveries map to the same key."""
    name = str(payload.get("event_name") or "")
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    assert isinstance(message, dict)
    ids = message.get("msg_ids")
    if message.get("msg_id"):
        basis = f"{name}:{message['msg_id']}"
    elif payload.get("timestamp") and _subject(payload):
        basis = f"{name}:{payload['timestamp']}:{_subject(payload)}"
        if isinstance(ids, list):
            basis += ":" + hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()
    else:
        basis = "sha256:" + hashlib.sha256(raw).hexdigest()
    key = f"{oa_code}:{basis}"
    return (
        key if len(key) <= 200 else f"{oa_code}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    )


class WriteGate:
    """Turns for this process's busy writers (recorder, applier, forwarder) on SQLite, and
    the receiver's right of way.

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
    growing steps (its busy handler), which under load stalls the receiver for tens of
    milliseconds at a time. Waiting here instead, in the event loop, hands the lock over the
    moment it is free. On PostgreSQL the lock is open.

    The recorder marks every write; while it has written recently, the applier works at a
    fraction of the process (`Applier.share`), so answering Zalo goes first.
    """

    def __init__(self, sqlite: bool) -> None:
        self._lock = asyncio.Lock() if sqlite else None
        self._ingested = 0.0

    def ingest(self) -> None:
        self._ingested = time.monotonic()

    def ingesting(self, within: float = 0.25) -> bool:
        return time.monotonic() - self._ingested < within

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield


class Recorder:
    """Commits raw events for many concurrent requests together (group commit).

    A request's event is written by the next flush, and its caller resumes after the commit
    (so a 200 always means stored). The first event goes at once; events that arrive while a
    commit is in flight share the next one, so under load one commit serves many requests
    and SQLite's single writer is not the bottleneck.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], gate: WriteGate, max_batch: int = 200
    ) -> None:
        self.sessions = sessions
        self.gate = gate
        self.max_batch = max_batch
        self._queue: list[tuple[dict[str, Any], asyncio.Future[int | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, oa_code: str, name: str, raw: bytes, key: str) -> int | None:
        """The new event's id, or ``None`` when its dedupe key is already stored."""
        values = {
            "source": "zalo",
            "kind": name,
            "oa_code": oa_code,
            "raw": raw.decode(),
            "dedupe_key": key,
            "attempts": 0,
        }
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append((values, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                ids = await self._write([values for values, _ in batch])
            except Exception as exc:  # every waiting request answers 500; Zalo retries
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            claimed: set[str] = set()
            for values, done in batch:
                key = values["dedupe_key"]
                found = ids.get(key) if key not in claimed else None
                claimed.add(key)
                if not done.done():
                    done.set_result(found)

    async def _write(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        now = utcnow()
        self.gate.ingest()
        async with self.gate.turn(), self.sessions() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            stmt = (
                dialect.insert(_events)
                .values([{**r, "created": now} for r in rows])
                .on_conflict_do_nothing(index_elements=["dedupe_key"])
                .returning(_events.c.id, _events.c.dedupe_key)
            )
            inserted = {r.dedupe_key: r.id for r in (await session.execute(stmt)).all()}
            await session.commit()
        return inserted


# ---------------------------------------------------------------- applying


def retry_delay(attempts: int) -> timedelta:
    """How long after ``created`` a waiting event is due again: 0.5 s doubling, gaps ≤ 60 s."""
    seconds = sum(min(0.5 * 2**i, 60.0) for i in range(attempts))
    return timedelta(seconds=seconds)


class Applier:
    """Applies pending inbound events, in order, in this process (one per process)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        is_postgres: bool,
        gate: WriteGate | None = None,
        batch: int = 10,
        share: float = 0.25,
        give_up_after: timedelta = timedelta(hours=1),
        on_applied: Callable[[list[int]], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.is_postgres = is_postgres
        self.gate = gate or WriteGate(sqlite=not is_postgres)
        self.batch = batch
        self.share = share
        self.give_up_after = give_up_after
        self.on_applied = on_applied
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, poll: float = 2.0) -> None:
        """The background task of ``serve``: apply whatever is pending, then wait for more."""
        while True:
            try:
                await self.apply_pending()
            except Exception:  # keep the loop alive; the rows stay pending
                log.exception("applying inbound events failed")
            try:
                await asyncio.wait_for(self._wake.wait(), poll)
            except TimeoutError:
                pass
            self._wake.clear()

    async def apply_pending(self) -> int:
        """Apply every event that is due now; returns how many were applied."""
        applied = 0
        checked = 0.0
        while True:
            # Waiting events: at the start of a pass and twice a second while fresh ones come.
            include_waiting = time.monotonic() - checked >= 0.5
            if include_waiting:
                checked = time.monotonic()
            ids = await self._due(include_waiting)
            if not ids:
                return applied
            started = time.monotonic()
            applied += await self._apply_batch(ids)
            if self.on_applied is not None:
                self.on_applied(ids)  # processed (applied or waiting): ready to forward
            if self.gate.ingesting():
                # Zalo is sending: rest long enough to use only `share` of the process.
                busy = time.monotonic() - started
                await asyncio.sleep(min(busy * (1 - self.share) / self.share, 0.5))

    async def _due(self, include_waiting: bool) -> list[int]:
        pending = sa.and_(_events.c.source == "zalo", _events.c.applied.is_(None))
        # Small batches while Zalo is sending (each holds SQLite's lock), larger ones after.
        size = self.batch if self.gate.ingesting() else self.batch * 5
        async with self.sessions() as session:
            fresh = await session.execute(
                sa.select(_events.c.id)
                .where(pending, _events.c.attempts == 0)
                .order_by(_events.c.id)
                .limit(size)
            )
            ids = list(fresh.scalars())
            now = utcnow()
            if include_waiting:
                waiting = await session.execute(
                    sa.select(_events.c.id, _events.c.attempts, _events.c.created)
                    .where(pending, _events.c.attempts > 0)
                    .order_by(_events.c.id)
                    .limit(500)
                )
                ids += [
                    row.id
                    for row in waiting
                    if now >= row.created + retry_delay(row.attempts)
                    or now - row.created >= self.give_up_after
                ][:size]
        return sorted(ids)

    async def _apply_batch(self, ids: list[int]) -> int:
        """One transaction for the batch; if any event fails, the batch is rolled back and
        its events are applied one by one, each in a savepoint, so one bad event costs its
        own retry only."""
        try:
            return await self._run(ids, isolate=False)
        except Exception:
            log.warning("a batch of %s inbound events failed; applying one by one", len(ids))
        applied = 0
        for event_id in ids:
            applied += await self._run([event_id], isolate=True)
        return applied

    async def _run(self, ids: list[int], *, isolate: bool) -> int:
        async with self.gate.turn(), self.sessions() as session:
            if self.is_postgres:
                claim = (
                    sa.select(_events.c.id)
                    .where(_events.c.id.in_(ids), _events.c.applied.is_(None))
                    .with_for_update(skip_locked=True)
                )
                ids = list((await session.execute(claim)).scalars())
            else:
                # A write first: it takes SQLite's lock for the whole batch (another process
                # waits), and makes savepoints nest inside one transaction.
                await session.execute(
                    sa.update(_events)
                    .where(_events.c.id.in_(ids), _events.c.applied.is_(None))
                    .values(attempts=_events.c.attempts)
                )
            if not ids:
                return 0
            rows = (
                await session.execute(
                    sa.select(_events)
                    .where(_events.c.id.in_(ids), _events.c.applied.is_(None))
                    .order_by(_events.c.id)
                )
            ).all()
            callers = await self._callers(session, {r.oa_code for r in rows})
            now = utcnow()
            done: list[int] = []
            finished = 0  # applied as far as they can be, with a note in ``error``
            for row in rows:
                last_try = now - row.created >= self.give_up_after
                if isolate:
                    try:
                        async with session.begin_nested():
                            waiting = await self._handle(session, row, callers, last_try)
                    except Exception as exc:
                        log.exception("inbound event %s (%s) failed", row.id, row.kind)
                        waiting = f"{type(exc).__name__}: {exc}"[:500]
                        if last_try:
                            await self._mark(session, row, now, f"failed: {waiting}")
                            finished += 1
                            continue
                else:
                    waiting = await self._handle(session, row, callers, last_try)
                if waiting is not None:
                    await self._mark(session, row, None, waiting)
                elif last_try and row.error:
                    await self._mark(session, row, now, f"gave up waiting: {row.error}")
                    finished += 1
                else:
                    done.append(row.id)
            if done:
                await session.execute(
                    sa.update(_events)
                    .where(_events.c.id.in_(done))
                    .values(attempts=_events.c.attempts + 1, applied=now, error=None)
                )
            await session.commit()
        return len(done) + finished

    async def _callers(self, session: AsyncSession, codes: set[str]) -> dict[str, Caller]:
        """Who writes what each OA's events change: its WebhookUser."""
        found = await session.execute(
            sa.select(_accounts.c.code, _accounts.c.webhook_user).where(
                _accounts.c.code.in_(list(codes))
            )
        )
        return {r.code: Caller(r.webhook_user or DEFAULT_WEBHOOK_USER, Scope.WRITE) for r in found}

    async def _handle(
        self, session: AsyncSession, row: Any, callers: dict[str, Caller], last_try: bool
    ) -> str | None:
        """Run the event's handler; ``None`` when done, else why it must wait."""
        handler = zalo_events.handler_for(row.kind)
        if handler is None or row.oa_code not in callers:
            return None  # stored and forwarded; changes nothing here
        payload = orjson.loads(row.raw)
        inbound = zalo_events.Inbound(
            session=session,
            oa_code=row.oa_code,
            name=row.kind,
            payload=payload,
            at=zalo_events.moment(payload.get("timestamp")) or row.created,
            caller=callers[row.oa_code],
            last_try=last_try,
        )
        return await handler(inbound)

    async def _mark(
        self, session: AsyncSession, row: Any, applied: datetime | None, error: str
    ) -> None:
        await session.execute(
            sa.update(_events)
            .where(_events.c.id == row.id)
            .values(attempts=row.attempts + 1, applied=applied, error=error)
        )

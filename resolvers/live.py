"""Telling everyone in every process that an event was committed (the live side of the outbox).

`resolvers.events.emit` calls `announce` inside the caller's transaction; the ids wait on the
session. On PostgreSQL one ``pg_notify`` carrying them is sent just before the commit, and
PostgreSQL delivers it to every listening process when (and only if) the transaction
commits. On SQLite the ids are handed to this process's `EventBus` after the commit. Either
way a listener gets ids of committed rows and loads what it needs, so notifications stay
small and never carry secrets.

Notifications are a wake-up, not the record: the outbox rows are. A subscriber that misses
one (a dropped LISTEN connection) misses a live update; the forwarder, which polls the
outbox as well, misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from functools import partial
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger("zalo_oa.live")

CHANNEL = "zalo_oa_events"
_PENDING = "zalo_oa.live.pending"
# Buses by the (sync) engine their sessions are bound to, for SQLite's after-commit hand-off.
_buses: weakref.WeakKeyDictionary[Engine, EventBus] = weakref.WeakKeyDictionary()


NOTIFY_IDS = 500  # ids per notification (PostgreSQL caps a payload at 8000 bytes)


def announce(session: AsyncSession, event_id: int) -> None:
    """Make ``event_id`` known to every process once the session's transaction commits."""
    session.sync_session.info.setdefault(_PENDING, []).append(event_id)


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    ids = session.info.get(_PENDING)
    if not ids or _engine(session).dialect.name != "postgresql":
        return
    # Runs inside the commit (in the async session's greenlet): one statement per batch.
    for start in range(0, len(ids), NOTIFY_IDS):
        payload = ",".join(map(str, ids[start : start + NOTIFY_IDS]))
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if not ids:
        return
    engine = _engine(session)
    bus = _buses.get(engine)
    if bus is not None and engine.dialect.name != "postgresql":
        bus.deliver(ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _set(flag: asyncio.Event, *_: Any) -> None:
    flag.set()


class EventBus:
    """One per process and database: fans committed event ids out to subscribers and wakers."""

    def __init__(self, engine: AsyncEngine, queue_size: int = 10_000) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self.queue_size = queue_size
        self._queues: set[asyncio.Queue[int]] = set()
        self._wakers: list[Callable[[list[int]], None]] = []
        self._memo: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._persistent = False
        _buses[engine.sync_engine] = self

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def on_event(self, wake: Callable[[list[int]], None]) -> None:
        """Call ``wake(ids)`` (cheap, synchronous) whenever events were committed anywhere."""
        self._wakers.append(wake)

    def deliver(self, ids: list[int]) -> None:
        for queue in self._queues:
            for event_id in ids:
                try:
                    queue.put_nowait(event_id)
                except asyncio.QueueFull:
                    log.warning("a live subscriber is too slow; dropped event %s", event_id)
        for wake in self._wakers:
            wake(ids)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[int]]:
        """A queue of committed event ids for as long as the block runs."""
        queue: asyncio.Queue[int] = asyncio.Queue(self.queue_size)
        self._queues.add(queue)
        try:
            if self.is_postgres:
                await self._ensure_listening()
            yield queue
        finally:
            self._queues.discard(queue)
            if not self._queues and not self._persistent:
                await self._stop_listening()

    async def shared(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """``await load()`` once per key for every subscriber of this process (recent keys)."""
        found = self._memo.get(key)
        if found is not None and found.done() and found.exception() is not None:
            found = None  # a failed load is tried again, not shared
        if found is None:
            found = asyncio.ensure_future(load())
            self._memo[key] = found
            while len(self._memo) > 512:
                self._memo.popitem(last=False)
        return await asyncio.shield(found)

    async def run(self) -> None:
        """The background task of ``serve``: keep listening (PostgreSQL) until cancelled."""
        self._persistent = True
        if not self.is_postgres:
            return
        try:
            await self._ensure_listening()
            await asyncio.Event().wait()
        finally:
            self._persistent = False
            await self._stop_listening()

    async def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(), name="zalo-oa live listener")
        await self._listening.wait()

    async def _stop_listening(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        """A dedicated connection that LISTENs, reconnecting with backoff when it drops."""
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        delay = 0.5
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(partial(_set, lost))
                await connection.add_listener(CHANNEL, self._notified)
                self._listening.set()
                delay = 0.5
                await lost.wait()
                log.warning("the LISTEN connection closed; reconnecting")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN failed (%s); retrying in %.1fs", type(exc).__name__, delay)
                self._listening.set()  # do not hold subscribers up while the database is away
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                if connection is not None and not connection.is_closed():
                    await connection.close()

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        ids = [int(part) for part in payload.split(",") if part.isdigit()]
        if ids:
            self.deliver(ids)

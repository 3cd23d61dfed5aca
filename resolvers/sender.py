"""The sender: delivers queued outbound messages to Zalo, each exactly once (SPEC §6).

A message is committed ``queued`` before any network call. A sender claims a few with a short
transaction (``sending``, ``claimed_by``, ``claimed_until``; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so instances share the queue; on SQLite one process at a time holds the
``sender`` lease), calls Zalo, and records ``sent`` + ``ZaloMessageId`` or ``failed`` +
Zalo's error in the transaction that emits ``message.sent`` / ``message.failed``. Live claims
are extended by a heartbeat, so only a dead (or frozen) sender's claims expire.

When the outcome of a send is unknown — the process died after Zalo got the request, or the
answer was lost — the message is never simply sent again:

- an OA message is *reconciled* first: the user's recent conversation is read and, if the
  message is there (same content, sent by the OA, an id no other message has), it is
  recorded ``sent`` with that id; only otherwise is it sent;
- a ZNS message cannot be looked up (Zalo has no search by ``tracking_id``), so it is
  recorded ``failed`` with an "outcome unknown" error instead of risking a second charge.

Transient failures (``-32`` rate limit, ``-100``, HTTP 5xx, Zalo unreachable, a token refresh
that did not complete, a lost answer to an OA send) go back to ``queued`` with exponential
backoff from ``retry_base_seconds`` with jitter, for up to a day; others fail at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resolvers import events, lease
from resolvers._crud import utcnow
from resolvers.errors import DomainError, UpstreamZalo
from resolvers.message import DEVELOPMENT
from resolvers.oa_token import Account, TokenKeeper
from resolvers.resources import MESSAGES, TEMPLATES
from resolvers.rest_form import rest_item
from zalo.client import ZaloClient
from zalo.errors import ZaloError, ZaloRateLimited, ZaloTransientError
from zalo.types import ChatMessage

log = logging.getLogger("zalo_oa.sender")
_table = MESSAGES.table
LEASE = "sender"
GIVE_UP_AFTER = timedelta(hours=24)
BACKOFF_CAP_SECONDS = 3600.0
RECONCILE_PAGES = 10  # conversation pages (10 rows each) searched for a lost send
CLOCK_SLACK = timedelta(minutes=5)  # between our clock and Zalo's
# Failures where the request provably never reached Zalo.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
UNKNOWN_ZNS = (
    "outcome unknown: the ZNS request may have reached Zalo ({why}); not resent, because Zalo "
    "cannot be asked whether it arrived and a second send is charged twice"
)
_doorbells: set[asyncio.Event] = set()


def ring() -> None:
    """Wake the senders of this process now (a message was just committed ``queued``)."""
    for bell in list(_doorbells):
        bell.set()


def backoff(base: float, attempts: int) -> float:
    """Seconds before try ``attempts + 1``: doubling from ``base``, capped, ±25 % jitter."""
    delay = min(BACKOFF_CAP_SECONDS, base * 2 ** max(attempts - 1, 0))
    return delay * random.uniform(0.75, 1.25)


@dataclass
class Outcome:
    """What one try came to: ``sent``, ``failed``, or ``queued`` again for a retry."""

    status: str
    error: str | None = None
    zalo_message_id: str | None = None
    sent_at: datetime | None = None

    @classmethod
    def sent(cls, message_id: str, sent_ms: int | None) -> Outcome:
        moment = datetime.fromtimestamp(sent_ms / 1000, UTC) if sent_ms else utcnow()
        return cls(
            "sent", None, message_id, moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        )


def _zalo_error(exc: ZaloError) -> str:
    return f"Zalo error {exc.zalo_error}: {exc.message}"


def _classify(exc: Exception, channel: str) -> Outcome:
    """Which failures may be retried, and which leave the outcome unknown."""
    if isinstance(exc, ZaloRateLimited):
        return Outcome("queued", _zalo_error(exc))
    if isinstance(exc, ZaloTransientError):
        definite = (
            exc.zalo_error == -100  # Zalo's own "unknown error, retry"
            or (exc.http_status is not None and exc.http_status >= 500)
            or isinstance(exc.__cause__, NEVER_SENT)
        )
        if definite or channel == "oa":  # an OA send is reconciled before it is repeated
            return Outcome("queued", _zalo_error(exc))
        return Outcome("failed", UNKNOWN_ZNS.format(why=_zalo_error(exc)))
    if isinstance(exc, ZaloError):
        return Outcome("failed", _zalo_error(exc))
    if isinstance(exc, UpstreamZalo):  # the token refresh failed; re-authorizing fixes it
        return Outcome("queued", exc.message)
    if isinstance(exc, DomainError):  # the account was disabled or removed meanwhile
        return Outcome("failed", exc.message)
    raise exc


def _same_content(chat: ChatMessage, row: Any) -> bool:
    if chat.from_user:
        return False
    if row.type == "text":
        return chat.type == "text" and (chat.message or "") == (row.text or "")
    payload = ((row.attachments or [{}])[0] or {}).get("payload") or {}
    if row.type == "image":
        url = payload.get("url")
        return chat.type in ("photo", "image", "gif") and (url is None or chat.url == url)
    return chat.type == row.type


class Sender:
    """One process's sender. ``start()`` runs it as a task; ``stop()`` ends it cleanly."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        zalo: ZaloClient,
        tokens: TokenKeeper,
        *,
        single: bool,
        lease_seconds: float,
        retry_base_seconds: float,
        concurrency: int = 8,
        poll_seconds: float = 0.5,
        settle_seconds: float = 0.0,
        holder: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.zalo = zalo
        self.tokens = tokens
        self.single = single  # SQLite: one sender at a time, by lease
        self.ttl = timedelta(seconds=lease_seconds)
        # A lapsed claim is taken over only this much later: a send its holder had begun
        # (while the claim held) has finished by then, and shows in the conversation.
        self.settle = timedelta(seconds=settle_seconds)
        self.retry_base = retry_base_seconds
        self.concurrency = concurrency
        self.poll = poll_seconds
        self.holder = holder or lease.process_holder()
        self.counts: dict[str, int] = {"sent": 0, "failed": 0, "retried": 0, "reconciled": 0}
        # Claimed message id → until when this sender's claim on it is known to hold.
        self._inflight: dict[int, datetime] = {}
        # This sender's own write transactions take turns: on SQLite (one writer at a time)
        # here rather than in its busy handler, which sleeps; on PostgreSQL so that a
        # heartbeat and a batch of outcomes never lock the same rows in opposite orders.
        self._turns = asyncio.Lock()
        self._outcomes: list[tuple[Row[Any], dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._bell = asyncio.Event()
        self._stopping = False
        self._lease_until: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A session for one write transaction, taking turns with this sender's others."""
        async with self._turns, self.sessions() as session:
            yield session

    # ------------------------------------------------------------ lifecycle

    def start(self) -> asyncio.Task[None]:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name=f"sender {self.holder}")
        return self._task

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, let sends in flight finish (up to ``grace``), give back the rest."""
        self._stopping = True
        self._bell.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace + 1)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    async def run(self) -> None:
        _doorbells.add(self._bell)
        deliveries: set[asyncio.Task[None]] = set()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self._stopping:
                self._bell.clear()
                try:
                    free = self.concurrency - len(self._inflight)
                    # Claim in batches (half the slots at least), not one by one: on SQLite
                    # every transaction counts.
                    wanted = free >= max(1, self.concurrency // 2) or not self._inflight
                    if free > 0 and wanted and await self._may_send():
                        for group in await self._claim(free):
                            task = asyncio.create_task(self._deliver(group))
                            deliveries.add(task)
                            task.add_done_callback(deliveries.discard)
                            task.add_done_callback(lambda _: self._bell.set())
                except Exception:  # the database or Zalo hiccuped: try again after a pause
                    log.exception("sender pass failed")
                try:
                    await asyncio.wait_for(self._bell.wait(), self.poll)
                except TimeoutError:
                    pass
        finally:
            _doorbells.discard(self._bell)
            if deliveries:
                await asyncio.wait(deliveries, timeout=5.0)
            for task in deliveries:
                task.cancel()
            heartbeat.cancel()
            await self._release_lease()

    # ------------------------------------------------------------ claiming

    async def _may_send(self) -> bool:
        if not self.single:
            return True
        now = utcnow()
        if self._lease_until is not None and self._lease_until - now > self.ttl / 2:
            return True
        await self._renew_lease()
        return self._lease_until is not None

    async def _renew_lease(self) -> None:
        now = utcnow()
        async with self._turns:
            held = await lease.try_acquire(self.sessions, LEASE, self.holder, self.ttl)
        self._lease_until = now + self.ttl if held is not None else None

    async def _release_lease(self) -> None:
        if not self.single or self._lease_until is None:
            return
        async with self._writing() as session:
            await lease.release(session, lease.Held(LEASE, self.holder, None))
            await session.commit()
        self._lease_until = None

    def _due(self, stale: bool, now: datetime) -> Any:
        t = _table
        if stale:  # claimed by a sender that stopped renewing its claim: a crash
            mine = list(self._inflight)  # never a claim this sender is still working on
            return sa.and_(
                t.c.status == "sending",
                t.c.claimed_until < now - self.settle,
                sa.not_(t.c.id.in_(mine)) if mine else sa.true(),
            )
        busy = _table.alias("busy")
        # Uncorrelated, so it is evaluated once (a correlated one made SQLite scan the OA's
        # messages for every candidate). A Zalo user id seen on another OA only waits too.
        recipients_busy = sa.select(busy.c.zalo_user_id).where(
            busy.c.status == "sending", busy.c.zalo_user_id.is_not(None)
        )
        return sa.and_(
            t.c.status == "queued",
            t.c.direction == "out",
            sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now),
            # One message at a time per recipient, so a chat arrives in order.
            sa.or_(t.c.channel != "oa", t.c.zalo_user_id.not_in(recipients_busy)),
        )

    async def _claim(self, limit: int) -> list[list[tuple[Row[Any], bool]]]:
        """Claim up to ``limit`` messages: crashed claims first, then due ones, oldest first.

        Returns them grouped by recipient; each item says whether the claim was stale.
        """
        now = utcnow()
        claimed: list[tuple[Row[Any], bool]] = []
        async with self._writing() as session:
            for stale in (True, False):
                if len(claimed) >= limit:
                    break
                ids = (
                    sa.select(_table.c.id)
                    .where(self._due(stale, now))
                    .order_by(_table.c.id)
                    .limit(limit - len(claimed))
                    .with_for_update(skip_locked=True)
                )
                values: dict[str, Any] = {
                    "status": "sending",
                    "claimed_by": self.holder,
                    "claimed_until": now + self.ttl,
                }
                if not stale:
                    values["attempts"] = sa.func.coalesce(_table.c.attempts, 0) + 1
                rows = await session.execute(
                    sa.update(_table)
                    .where(_table.c.id.in_(ids.scalar_subquery()))
                    .values(**values)
                    .returning(*_table.c)
                )
                claimed.extend((row, stale) for row in rows.all())
            await session.commit()
        claimed.sort(key=lambda item: item[0].id)
        self._inflight.update((row.id, now + self.ttl) for row, _ in claimed)
        groups: dict[Any, list[tuple[Row[Any], bool]]] = {}
        for row, stale in claimed:
            key = (row.zalo_oa, row.zalo_user_id) if row.channel == "oa" else row.id
            groups.setdefault(key, []).append((row, stale))
        return list(groups.values())

    async def _heartbeat(self) -> None:
        """Extend the claims (and the SQLite lease) of this live sender."""
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 4)
            if self.single and self._lease_until is not None:
                try:
                    await self._renew_lease()
                except Exception:
                    log.exception("sender lease renewal failed")
            try:
                await self._extend_claims()
            except Exception:
                log.exception("sender heartbeat failed")

    async def _extend_claims(self) -> None:
        ids = list(self._inflight)
        if not ids:
            return
        until = utcnow() + self.ttl
        async with self._writing() as session:
            await session.execute(
                sa.update(_table)
                .where(
                    _table.c.id.in_(ids),
                    _table.c.claimed_by == self.holder,
                    _table.c.status == "sending",
                )
                .values(claimed_until=until)
            )
            await session.commit()
        for message_id in ids:
            if message_id in self._inflight:
                self._inflight[message_id] = until

    # ------------------------------------------------------------ delivering

    async def _deliver(self, group: Iterable[tuple[Row[Any], bool]]) -> None:
        for row, stale in group:
            try:
                left = self._inflight.get(row.id, utcnow()) - utcnow()
                if self._stopping or left < self.ttl / 4:
                    # Stopping, or the claim may be about to lapse (the heartbeat could not
                    # renew it): another sender could take it over, so do not send now.
                    await self._give_back(row, stale)
                    continue
                outcome = await self._attempt(row, stale)
                await self._record(row, outcome)
            except Exception:
                log.exception("sending message %s failed unexpectedly", row.code)
            finally:
                self._inflight.pop(row.id, None)

    async def _attempt(self, row: Row[Any], stale: bool) -> Outcome:
        if row.channel == "zns":
            if stale:
                return Outcome("failed", UNKNOWN_ZNS.format(why="the sender stopped mid-send"))
            return await self._try(row, self._send_zns)
        if stale or (row.attempts or 0) > 1:
            try:
                found = await self._reconcile(row)
            except (ZaloError, DomainError) as exc:
                return _classify(exc, "oa")
            if found is not None:
                self.counts["reconciled"] += 1
                return found
            if stale:
                await self._count_attempt(row)
        return await self._try(row, self._send_oa)

    async def _try(self, row: Row[Any], send: Any) -> Outcome:
        if self._inflight.get(row.id, utcnow()) - utcnow() < self.ttl / 4:
            # The claim may lapse before the send ends (the heartbeat is behind): try later.
            return Outcome("queued", "the claim ran short before sending")
        try:
            return await send(row)
        except (ZaloError, DomainError) as exc:
            return _classify(exc, row.channel)

    async def _send_oa(self, row: Row[Any]) -> Outcome:
        payload = ((row.attachments or [{}])[0] or {}).get("payload") or {}

        async def work(a: Account) -> Any:
            token, user = a.access_token or "", row.zalo_user_id
            where = {"app_id": a.app_id, "api_url": a.api_url}
            if row.type == "image":
                return await self.zalo.send_image(
                    token, user, payload.get("url"), payload.get("attachment_id"), row.text, **where
                )
            if row.type == "file":
                return await self.zalo.send_file(token, user, payload["token"], **where)
            return await self.zalo.send_text(token, user, row.text, row.quote_message_id, **where)

        sent = await self.tokens.call(row.zalo_oa, work)
        return Outcome.sent(sent.message_id, sent.sent_time)

    async def _send_zns(self, row: Row[Any]) -> Outcome:
        templates = TEMPLATES.table
        async with self.sessions() as session:
            template_id = (
                await session.execute(
                    sa.select(templates.c.template_id).where(templates.c.code == row.template)
                )
            ).scalar_one_or_none()
        if not template_id:
            return Outcome("failed", f"template {row.template} is gone")

        async def work(a: Account) -> Any:
            return await self.zalo.send_zns(
                a.access_token or "",
                row.phone,
                template_id,
                row.template_data or {},
                row.tracking_id or row.code,
                development=row.attachments == DEVELOPMENT,
                app_id=a.app_id,
            )

        sent = await self.tokens.call(row.zalo_oa, work)
        return Outcome.sent(sent.msg_id, sent.sent_time)

    async def _reconcile(self, row: Row[Any]) -> Outcome | None:
        """Find a send whose answer was lost in the user's conversation (newest first)."""
        since_ms = int(((row.created or utcnow()) - CLOCK_SLACK).timestamp() * 1000)
        candidates: list[ChatMessage] = []
        for page in range(RECONCILE_PAGES):

            async def work(a: Account, offset: int = page * 10) -> list[ChatMessage]:
                return await self.zalo.conversation(
                    a.access_token or "",
                    row.zalo_user_id,
                    offset,
                    10,
                    app_id=a.app_id,
                    api_url=a.api_url,
                )

            chats = await self.tokens.call(row.zalo_oa, work)
            candidates += [c for c in chats if c.time >= since_ms and _same_content(c, row)]
            if len(chats) < 10 or min(c.time for c in chats) < since_ms:
                break
        if not candidates:
            return None
        async with self.sessions() as session:
            taken = set(
                (
                    await session.execute(
                        sa.select(_table.c.zalo_message_id).where(
                            _table.c.zalo_oa == row.zalo_oa,
                            _table.c.zalo_message_id.in_([c.message_id for c in candidates]),
                        )
                    )
                ).scalars()
            )
        free = [c for c in candidates if c.message_id not in taken]
        if not free:
            return None
        first = min(free, key=lambda c: c.time)  # the earliest unclaimed match is ours
        log.info("message %s was sent before the sender stopped: %s", row.code, first.message_id)
        return Outcome.sent(first.message_id, first.time)

    async def _count_attempt(self, row: Row[Any]) -> None:
        async with self._writing() as session:
            await session.execute(
                sa.update(_table)
                .where(_table.c.id == row.id, _table.c.claimed_by == self.holder)
                .values(attempts=sa.func.coalesce(_table.c.attempts, 0) + 1)
            )
            await session.commit()

    async def _give_back(self, row: Row[Any], stale: bool) -> None:
        """A claim taken but not tried before stopping goes back to the queue as it was."""
        # A stale claim stays stale (reconciled by whoever takes it next).
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": utcnow()}
        if not stale:
            values.update(status="queued", attempts=_table.c.attempts - 1)
        async with self._writing() as session:
            await session.execute(
                sa.update(_table)
                .where(_table.c.id == row.id, _table.c.claimed_by == self.holder)
                .values(**values)
            )
            await session.commit()

    # ------------------------------------------------------------ recording

    async def _record(self, row: Row[Any], outcome: Outcome) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "status": outcome.status,
            "error": outcome.error,
            "claimed_by": None,
            "claimed_until": None,
            "next_attempt_at": None,
        }
        if outcome.status == "sent":
            values.update(zalo_message_id=outcome.zalo_message_id, sent_at=outcome.sent_at)
        elif outcome.status == "queued":
            if row.created is not None and now - row.created > GIVE_UP_AFTER:
                values.update(status="failed", error=f"gave up after 24 h: {outcome.error}")
            else:
                delay = backoff(self.retry_base, row.attempts or 1)
                values.update(
                    next_attempt_at=now + timedelta(seconds=delay),
                    error=f"retrying: {outcome.error}",
                )
        for pause in (0.1, 0.5, 2.0, None):  # a brief database outage must not lose the result
            try:
                await self._write(row, values)
                break
            except Exception:
                if pause is None:
                    log.exception("could not record message %s; it will be reconciled", row.code)
                    return
                await asyncio.sleep(pause)
        key = {"sent": "sent", "failed": "failed"}.get(values["status"], "retried")
        self.counts[key] += 1

    async def _write(self, row: Row[Any], values: dict[str, Any]) -> None:
        """Record one outcome; outcomes arriving together share one transaction."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((row, values, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes[:100], self._outcomes[100:]
            try:
                async with self._writing() as session:
                    for row, values, _ in batch:
                        await self._write_one(session, row, values)
                    await session.commit()
            except Exception as exc:
                for _, _, done in batch:
                    done.set_exception(exc)
            else:
                for _, _, done in batch:
                    done.set_result(None)

    async def _write_one(
        self, session: AsyncSession, row: Row[Any], values: dict[str, Any]
    ) -> None:
        done = await session.execute(
            sa.update(_table)
            .where(
                _table.c.id == row.id,
                _table.c.claimed_by == self.holder,
                _table.c.status == "sending",
            )
            .values(**values)
            .returning(*_table.c)
        )
        stored = done.first()
        if stored is None:  # our claim was taken over (we were frozen past its expiry)
            log.warning("lost the claim on message %s before recording it", row.code)
            return
        if stored.status in ("sent", "failed"):
            await events.emit(
                session, f"message.{stored.status}", stored.zalo_oa, rest_item(MESSAGES, stored)
            )

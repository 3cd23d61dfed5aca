"""Long-running jobs (follower and template sync): a row with counts, a cursor and a holder.

A job is ``QUEUED`` when created and ``RUNNING`` while a process holds it: the holder writes a
heartbeat, and a job whose heartbeat is older than the lease is free for any process to take
over, from its cursor (a crash resumes, it does not restart). Each step of a job commits its
rows together with the new cursor and counts, so a step is either wholly done or not at all.
``SUCCEEDED`` and ``FAILED`` are final and emit ``sync.finished`` with the job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from resolvers import events, lease
from resolvers._crud import utcnow

log = logging.getLogger("zalo_oa.jobs")
_table = models.Job.__table__  # type: ignore[attr-defined]
QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
UNFINISHED = (QUEUED, RUNNING)
Progress = Callable[[Row[Any]], None]


class Lost(Exception):
    """Another process took the job over (this one was silent for longer than the lease)."""


async def get(session: AsyncSession, job_id: int) -> Row[Any] | None:
    return (await session.execute(sa.select(_table).where(_table.c.id == job_id))).first()


async def unfinished(session: AsyncSession, kind: str, oa_code: str) -> Row[Any] | None:
    stmt = (
        sa.select(_table)
        .where(_table.c.kind == kind, _table.c.oa_code == oa_code, _table.c.status.in_(UNFINISHED))
        .order_by(_table.c.id.desc())
    )
    return (await session.execute(stmt)).first()


async def create(session: AsyncSession, kind: str, oa_code: str) -> Row[Any]:
    """A new queued job, or the unfinished one of the same kind and OA (one at a time)."""
    found = await unfinished(session, kind, oa_code)
    if found is not None:
        return found
    result = await session.execute(
        sa.insert(_table)
        .values(kind=kind, oa_code=oa_code, status=QUEUED, created_at=utcnow())
        .returning(*_table.c)
    )
    return result.one()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def rest_form(job: Row[Any]) -> dict[str, Any]:
    """The job as ``sync.finished`` carries it (REST-style names, like other payloads)."""
    return {
        "Id": job.id,
        "Kind": job.kind,
        "OaCode": job.oa_code,
        "Status": job.status,
        "Total": job.total,
        "Done": job.done,
        "Created": job.created_count,
        "Updated": job.updated_count,
        "Failed": job.failed_count,
        "Error": job.error,
        "StartedAt": _iso(job.started_at),
        "FinishedAt": _iso(job.finished_at),
    }


class Step:
    """What a job body uses to commit a step and report progress, as long as it holds the job."""

    def __init__(self, runner: JobRunner, job: Row[Any], progress: Progress | None) -> None:
        self.runner = runner
        self.job = job
        self.progress = progress

    @property
    def cursor(self) -> Any:
        return self.job.cursor

    async def commit(
        self,
        session: AsyncSession,
        *,
        cursor: Any,
        total: int | None,
        done: int,
        created: int = 0,
        updated: int = 0,
        failed: int = 0,
    ) -> None:
        """Advance the job in ``session`` (which holds the step's rows) and commit both."""
        t = _table
        result = await session.execute(
            sa.update(t)
            .where(t.c.id == self.job.id, t.c.holder == self.runner.holder)
            .values(
                cursor=cursor,
                total=total,
                done=t.c.done + done,
                created_count=t.c.created_count + created,
                updated_count=t.c.updated_count + updated,
                failed_count=t.c.failed_count + failed,
                heartbeat=utcnow(),
            )
            .returning(*t.c)
        )
        job = result.first()
        if job is None:
            await session.rollback()
            raise Lost
        await session.commit()
        self.job = job
        if self.progress is not None:
            self.progress(job)


Body = Callable[[Step], Awaitable[None]]


class JobRunner:
    """Runs jobs in this process; ``bodies`` maps a job kind to the coroutine that does it."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bodies: dict[str, Body],
        *,
        lease_seconds: float,
        holder: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.bodies = bodies
        self.ttl = timedelta(seconds=lease_seconds)
        self.holder = holder or lease.process_holder()
        self._tasks: set[asyncio.Task[Row[Any] | None]] = set()

    async def _claim(self, job_id: int) -> Row[Any] | None:
        now = utcnow()
        t = _table
        async with self.sessions() as session:
            result = await session.execute(
                sa.update(t)
                .where(
                    t.c.id == job_id,
                    t.c.status.in_(UNFINISHED),
                    sa.or_(
                        t.c.holder.is_(None),
                        t.c.holder == self.holder,
                        t.c.heartbeat.is_(None),
                        t.c.heartbeat < now - self.ttl,
                    ),
                )
                .values(
                    holder=self.holder,
                    heartbeat=now,
                    status=RUNNING,
                    started_at=sa.func.coalesce(t.c.started_at, now),
                )
                .returning(*t.c)
            )
            job = result.first()
            await session.commit()
        return job

    async def run(self, job_id: int, progress: Progress | None = None) -> Row[Any] | None:
        """Run the job to its end here, unless a live process holds it (then return it as is)."""
        job = await self._claim(job_id)
        if job is None:
            async with self.sessions() as session:
                return await get(session, job_id)
        log.info("job %s (%s %s) started by %s", job.id, job.kind, job.oa_code, self.holder)
        step = Step(self, job, progress)
        beat = asyncio.create_task(self._heartbeat(job.id))
        try:
            await self.bodies[job.kind](step)
        except Lost:
            log.warning("job %s was taken over by another process", job.id)
            return None
        except asyncio.CancelledError:
            await self._let_go(job.id)  # shutting down: another process may resume it at once
            raise
        except Exception as exc:
            log.exception("job %s failed", job.id)
            return await self._finish(job.id, FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            beat.cancel()
        return await self._finish(job.id, SUCCEEDED, None)

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            try:
                async with self.sessions() as session:
                    await session.execute(
                        sa.update(_table)
                        .where(_table.c.id == job_id, _table.c.holder == self.holder)
                        .values(heartbeat=utcnow())
                    )
                    await session.commit()
            except Exception:
                log.exception("job %s heartbeat failed", job_id)

    async def _let_go(self, job_id: int) -> None:
        async with self.sessions() as session:
            await session.execute(
                sa.update(_table)
                .where(_table.c.id == job_id, _table.c.holder == self.holder)
                .values(holder=None, heartbeat=None)
            )
            await session.commit()

    async def _finish(self, job_id: int, status: str, error: str | None) -> Row[Any] | None:
        async with self.sessions() as session:
            result = await session.execute(
                sa.update(_table)
                .where(_table.c.id == job_id, _table.c.holder == self.holder)
                .values(status=status, error=error, finished_at=utcnow(), holder=None)
                .returning(*_table.c)
            )
            job = result.first()
            if job is not None:
                await events.emit(session, "sync.finished", job.oa_code, rest_form(job))
            await session.commit()
        if job is not None:
            log.info("job %s %s: %s done", job.id, status.lower(), job.done)
        return job

    def spawn(self, job_id: int) -> asyncio.Task[Row[Any] | None]:
        """Run a job in the background of this process."""
        task = asyncio.create_task(self.run(job_id), name=f"job {job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def resume_orphans(self) -> list[int]:
        """Spawn every unfinished job nobody holds (its process died or shut down)."""
        stale = utcnow() - self.ttl
        async with self.sessions() as session:
            ids = (
                await session.execute(
                    sa.select(_table.c.id).where(
                        _table.c.status.in_(UNFINISHED),
                        sa.or_(
                            sa.and_(_table.c.holder.is_(None), _table.c.created_at < stale),
                            _table.c.heartbeat < stale,
                        ),
                    )
                )
            ).scalars()
            found = list(ids)
        for job_id in found:
            self.spawn(job_id)
        return found

    async def follow(
        self, job_id: int, progress: Progress | None = None, every: float = 0.5
    ) -> Row[Any] | None:
        """Wait for a job another process runs; take it over if that process dies."""
        while True:
            async with self.sessions() as session:
                job = await get(session, job_id)
            if job is None or job.status not in UNFINISHED:
                return job
            if progress is not None:
                progress(job)
            stale = job.heartbeat is None or job.heartbeat < utcnow() - self.ttl
            if stale:
                result = await self.run(job_id, progress)
                if result is not None and result.status not in UNFINISHED:
                    return result
            await asyncio.sleep(every)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

"""Jobs (SPEC §4): ``job(id)``, ``syncFollowers`` and ``syncTemplates``."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from gql.context import Context
from gql.scalars import DateTime
from resolvers import jobs, sync
from resolvers.caller import Scope


@strawberry.enum(description="Where a job is: waiting, running in some process, or finished.")
class JobStatus(Enum):
    QUEUED = jobs.QUEUED
    RUNNING = jobs.RUNNING
    SUCCEEDED = jobs.SUCCEEDED
    FAILED = jobs.FAILED


@strawberry.type(
    description="A long-running task with its progress; created/updated/failed count rows "
    "(updated: rows whose values changed)."
)
class Job:
    id: strawberry.ID
    kind: str = strawberry.field(description="sync_followers or sync_templates.")
    oa_code: str | None
    status: JobStatus
    total: int | None = strawberry.field(description="Items Zalo reported; null until known.")
    done: int = strawberry.field(description="Items processed so far.")
    created: int
    updated: int
    failed: int
    error: str | None
    started_at: DateTime | None
    finished_at: DateTime | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            oa_code=row.oa_code,
            status=JobStatus(row.status),
            total=row.total,
            done=row.done,
            created=row.created_count,
            updated=row.updated_count,
            failed=row.failed_count,
            error=row.error,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


@strawberry.type
class JobQuery:
    @strawberry.field(description="One job by id (null when there is none).")
    async def job(self, info: strawberry.Info[Context], id: strawberry.ID) -> Job | None:
        ctx = info.context
        ctx.caller.require(Scope.READ, "reading")
        if not str(id).isdigit():
            return None
        async with ctx.db() as session:
            row = await jobs.get(session, int(id))
        return None if row is None else Job.from_row(row)


async def _start(info: strawberry.Info[Context], kind: str, oa: str | None) -> Job:
    ctx = info.context
    ctx.caller.require(Scope.WRITE, "starting a sync")
    services = ctx.zalo
    # The job row is committed at once, on its own, so the background run can see it.
    async with services.database.sessions() as session:
        row = await sync.start(session, kind, oa)
        await session.commit()
    services.jobs.spawn(row.id)  # a no-op when a live process already holds the job
    return Job.from_row(row)


@strawberry.type
class JobMutation:
    @strawberry.mutation(
        description="Sync the OA's followers from Zalo in the background (the default OA when "
        "oa is omitted); returns the job, or the one already under way. Poll job(id)."
    )
    async def sync_followers(self, info: strawberry.Info[Context], oa: str | None = None) -> Job:
        return await _start(info, sync.SYNC_FOLLOWERS, oa)

    @strawberry.mutation(
        description="Sync the OA's ZNS templates (list + detail: params, status, quality, "
        "tag, price, preview) in the background; returns the job."
    )
    async def sync_templates(self, info: strawberry.Info[Context], oa: str | None = None) -> Job:
        return await _start(info, sync.SYNC_TEMPLATES, oa)

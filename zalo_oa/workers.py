"""``serve``'s sending side: the message sender and the resumption of interrupted sync jobs.

One of each per process; with ``background_workers`` off only jobs started in this process
(by a ``sync*`` mutation) run here, and they are stopped on shutdown all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from resolvers.jobs import JobRunner
from zalo_oa.services import Services

log = logging.getLogger("zalo_oa.workers")


async def _resume(jobs: JobRunner, every: float) -> None:
    while True:
        try:
            resumed = await jobs.resume_orphans()
            if resumed:
                log.info("resuming interrupted jobs %s", resumed)
        except Exception:  # the next pass tries again
            log.exception("looking for interrupted jobs failed")
        await asyncio.sleep(every)


@asynccontextmanager
async def background(services: Services) -> AsyncIterator[None]:
    settings = services.settings
    resume: asyncio.Task[None] | None = None
    if settings.background_workers:
        services.sender.start()
        every = max(settings.worker_lease_seconds / 2, 0.5)
        resume = asyncio.create_task(_resume(services.jobs, every), name="zalo-oa job resume")
    try:
        yield
    finally:
        if resume is not None:
            resume.cancel()
            await asyncio.gather(resume, return_exceptions=True)
        await services.sender.stop()
        await services.jobs.shutdown()

"""Sending and sync tests: an authorized demo OA, and senders and job runners driven here.

The app under test runs over ASGI without its lifespan, so the tests start the sender (or a
job) themselves, with short leases and retry delays; the behaviour is the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from resolvers import jobs, sync
from resolvers.oa_token import TokenKeeper
from resolvers.resources import MESSAGES
from resolvers.sender import Sender
from tests.conftest import Api
from tests.flows.serving import eventually
from tests.flows.test_authorization import authorized
from zalo.client import ZaloClient
from zalo.sandbox import SandboxControl, SandboxServer

LEASE_SECONDS = 2.0
RETRY_BASE_SECONDS = 0.05
USERS = [str(2_512_523_625_412_515 + i * 104_729) for i in range(120)]
# Demo users who wrote within 7 days (every 15th last wrote 10 days ago).
RECENT = [user for i, user in enumerate(USERS) if i % 15 != 14]
STALE_USER = USERS[14]


@pytest.fixture
async def demo(api: Api, fake: SandboxControl, sandbox: SandboxServer) -> Api:
    """The demo OA "DEMO", authorized through the real OAuth flow and the default OA."""
    await authorized(api, fake, sandbox)
    await api.data(
        'mutation { updateOfficialAccounts(input: [{code: "DEMO", isDefault: true}]) { affectedCount } }'
    )
    return api


def client(sandbox: SandboxServer, http_timeout: float = 2.0) -> ZaloClient:
    return ZaloClient(
        sandbox.oauth_base_url,
        sandbox.openapi_base_url,
        sandbox.zns_base_url,
        timeout=http_timeout,
        retry_wait_seconds=0.01,
    )


@asynccontextmanager
async def running_sender(
    api: Api, sandbox: SandboxServer, *, http_timeout: float = 2.0, holder: str = "test-sender"
) -> AsyncIterator[Sender]:
    """A sender of this test 'process', with its own Zalo client."""
    sessions = api.backend.database.sessions
    zalo = client(sandbox, http_timeout)
    tokens = TokenKeeper(sessions, zalo, http_timeout=http_timeout, holder=holder)
    sender = Sender(
        sessions,
        zalo,
        tokens,
        single=api.backend.database.is_sqlite,
        lease_seconds=LEASE_SECONDS,
        retry_base_seconds=RETRY_BASE_SECONDS,
        poll_seconds=0.05,
        holder=holder,
    )
    sender.start()
    try:
        yield sender
    finally:
        await sender.stop()
        await zalo.close()


@asynccontextmanager
async def job_runner(
    api: Api, sandbox: SandboxServer, holder: str = "test-jobs"
) -> AsyncIterator[jobs.JobRunner]:
    """A job runner of this test 'process' (short lease), with its own Zalo client."""
    sessions = api.backend.database.sessions
    zalo = client(sandbox)
    tokens = TokenKeeper(sessions, zalo, http_timeout=2.0, holder=holder)
    syncs = sync.Syncs(sessions, zalo, tokens, concurrency=8, retry_base_seconds=RETRY_BASE_SECONDS)
    try:
        yield jobs.JobRunner(sessions, syncs.bodies, lease_seconds=LEASE_SECONDS, holder=holder)
    finally:
        await zalo.close()


async def sync_now(api: Api, sandbox: SandboxServer, kind: str = sync.SYNC_FOLLOWERS) -> Any:
    """Run a sync to its end here (what the CLI does) and return the job row."""
    async with api.backend.database.sessions() as session:
        job = await sync.start(session, kind, "DEMO")
        await session.commit()
    async with job_runner(api, sandbox) as runner:
        final = await runner.run(job.id)
    assert final is not None and final.status == jobs.SUCCEEDED, final
    return final


async def messages(api: Api, **where: Any) -> list[Any]:
    table = MESSAGES.table
    stmt = sa.select(table).where(*(table.c[k] == v for k, v in where.items())).order_by(table.c.id)
    async with api.backend.database.sessions() as session:
        return list((await session.execute(stmt)).all())


until = eventually  # the flows' poller, under the name these tests use


async def follower_code(api: Api, zalo: str) -> str:
    """The code of the synced follower with this Zalo user id."""
    found = await api.data(
        "query($z: String!) { followers(filter: {zalo: {eq: $z}}) { items { code } } }", {"z": zalo}
    )
    code: str = found["followers"]["items"][0]["code"]
    return code

"""A module process killed right after accepting a webhook: the next start applies and
forwards it, nothing lost."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

import models
from tests.conftest import Api
from tests.flows.serving import (
    ModuleProcess,
    demo_oa,
    eventually,
    fresh_accounts,  # noqa: F401  (an autouse fixture)
    signed,
    user_text,
)
from zalo.sandbox import SandboxControl, SandboxServer

_events = models.Event.__table__  # type: ignore[attr-defined]
_messages = models.Message.__table__  # type: ignore[attr-defined]


async def test_killed_after_accepting_applies_after_restart(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await demo_oa(
        api.backend.database,
        forward=f"{sandbox.base_url}/__fake/webhook/inbox",
        forward_user_token="fw-secret",
    )
    body, headers = signed(user_text("Gửi giúp em báo giá", "crash-1"))
    crashed = ModuleProcess(api.backend.settings, hold=True)
    try:
        await crashed.ready()
        async with httpx.AsyncClient(base_url=crashed.base_url) as client:
            answer = await client.post("/v4/zalo-oa/hooks/DEMO", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    finally:
        crashed.kill()

    async with api.backend.database.sessions() as session:
        [row] = (await session.execute(sa.select(_events))).all()
        assert row.applied is None and row.raw.encode() == body
        assert (await session.execute(sa.select(_messages))).first() is None

    restarted = ModuleProcess(api.backend.settings)
    try:
        await restarted.ready()

        async def applied() -> list[str]:
            async with api.backend.database.sessions() as session:
                rows = await session.execute(sa.select(_messages.c.text))
                return list(rows.scalars())

        assert await eventually(applied) == ["Gửi giúp em báo giá"]

        async def forwarded() -> list[dict[str, object]]:
            return await fake.inbox()

        [item] = await eventually(forwarded)
        assert item["body"] == body.decode()
        assert item["headers"]["authorization"] == "Bearer fw-secret"
    finally:
        restarted.stop()

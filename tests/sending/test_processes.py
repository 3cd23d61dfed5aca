"""Crashes and scale-out with real ``serve`` processes: every message reaches Zalo once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from resolvers import _crud, message, sync
from resolvers.caller import SYSTEM
from resolvers.resources import MESSAGES
from tests.conftest import Api
from tests.sending.conftest import RECENT, messages, sync_now, until
from tests.sending.processes import serve
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_ADMIN_PHONE

OA_MESSAGES = 1000
ZNS_EVERY = 40  # a ZNS message among every 40 OA ones


async def queue(api: Api, items: list[dict[str, Any]]) -> None:
    """Through the create path of createMessages and REST POST (its checks included)."""
    async with api.backend.database.sessions() as session:
        result = await _crud.create_many(
            session, MESSAGES, items, SYSTEM, prepare=message.prepare_create
        )
        assert result.ok, result.problems[:3]
        await session.commit()


async def statuses(api: Api) -> Counter[str]:
    table = MESSAGES.table
    async with api.backend.database.sessions() as session:
        rows = await session.execute(
            sa.select(table.c.status, sa.func.count())
            .where(table.c.direction == "out")
            .group_by(table.c.status)
        )
        return Counter(dict(rows.all()))


async def settled(api: Api) -> Any:
    counts = await statuses(api)
    return counts if not (counts["queued"] or counts["sending"]) else None


async def test_a_killed_sender_restarts_and_sends_each_message_exactly_once(
    demo: Api, fake: SandboxControl, sandbox: SandboxServer, tmp_path: Path
) -> None:
    await sync_now(demo, sandbox)
    await sync_now(demo, sandbox, sync.SYNC_TEMPLATES)
    template = (
        await demo.data('{ znsTemplates(filter: {templateId: {eq: "250001"}}) { items { code } } }')
    )["znsTemplates"]["items"][0]["code"]
    items: list[dict[str, Any]] = []
    for i in range(OA_MESSAGES):
        items.append(
            {"code": f"oa-{i:04d}", "zalo_user_id": RECENT[i % len(RECENT)], "text": f"Tin số {i}"}
        )
        if i % ZNS_EVERY == 0:
            items.append(
                {
                    "code": f"zns-{i:04d}",
                    "template": template,
                    "phone": DEMO_ADMIN_PHONE,
                    "template_data": {"otp": f"{i:06d}"},
                    "attachments": {"mode": "development"},
                }
            )
    await queue(demo, items)
    zns_total = len(items) - OA_MESSAGES
    # Every call spends 20 ms at Zalo after it acted, so sends are in flight at any moment.
    await fake.knobs(slow_seconds=0.02)

    first = serve(demo, sandbox, tmp_path, "first")
    try:
        first.wait_ready()
        await until(lambda: _mid_send(demo, OA_MESSAGES // 3), within=60, every=0.01)
    finally:
        first.kill()
    in_flight = (await statuses(demo))["sending"]
    assert in_flight >= 1  # killed mid-send

    second = serve(demo, sandbox, tmp_path, "second")
    try:
        second.wait_ready()
        await until(lambda: settled(demo), within=90, every=0.2)
    finally:
        second.stop()

    state = await fake.state()
    counts = state["oa_message_counts"]
    assert len(counts) == OA_MESSAGES and set(counts.values()) == {1}, Counter(counts.values())
    assert len(state["oa_messages"]) == OA_MESSAGES
    rows = await messages(demo, channel="oa", direction="out")
    assert {r.status for r in rows} == {"sent"}
    by_id = {m["message_id"]: m for m in state["oa_messages"]}
    for row in rows:  # the id we recorded is the message Zalo received, text for text
        assert by_id[row.zalo_message_id]["text"] == row.text
    assert state["calls"].get("GET /openapi/v2.0/oa/conversation", 0) >= 1  # reconciled

    # ZNS cannot be looked up: one in flight at the crash is failed as unknown, never resent.
    zns = await messages(demo, channel="zns")
    assert len(zns) == zns_total
    zns_counts = state["zns_message_counts"]
    assert set(zns_counts.values()) == {1}
    for row in zns:
        if row.status == "sent":
            assert zns_counts[row.tracking_id] == 1
        else:
            assert row.status == "failed" and row.error.startswith("outcome unknown"), row
    assert sum(r.status == "failed" for r in zns) <= in_flight


async def _mid_send(api: Api, sent: int) -> bool:
    # Any send in flight will do: asking for several at one poll can miss the moment on a
    # loaded machine, and the assertion after the kill checks that one was cut short.
    counts = await statuses(api)
    return counts["sent"] >= sent and counts["sending"] >= 1


async def test_two_serve_processes_share_the_queue_without_double_sends(
    demo: Api, fake: SandboxControl, sandbox: SandboxServer, tmp_path: Path
) -> None:
    await sync_now(demo, sandbox)
    # Slow enough that one sender cannot drain the queue between two polls of the other.
    await fake.knobs(slow_seconds=0.05)
    processes = []
    holders: set[str] = set()
    try:
        for name in ("a", "b"):  # one after the other: each migrates SQLite on start
            processes.append(serve(demo, sandbox, tmp_path, name))
            processes[-1].wait_ready()
        total = 300
        await queue(
            demo,
            [
                {"zalo_user_id": RECENT[i % len(RECENT)], "text": f"Chia việc {i}"}
                for i in range(total)
            ],
        )
        table = MESSAGES.table

        async def done() -> Any:
            async with demo.backend.database.sessions() as session:
                holders.update(
                    h
                    for h in (
                        await session.execute(
                            sa.select(table.c.claimed_by).where(table.c.status == "sending")
                        )
                    ).scalars()
                    if h
                )
            return await settled(demo)

        counts = await until(done, within=60, every=0.02)
    finally:
        for process in processes:
            process.stop()
    assert counts == Counter({"sent": total})
    state = await fake.state()
    assert len(state["oa_message_counts"]) == total and set(
        state["oa_message_counts"].values()
    ) == {1}
    # PostgreSQL: both share the queue (SKIP LOCKED); SQLite: one holds the sender lease.
    assert len(holders) == (1 if demo.backend.database.is_sqlite else 2), holders

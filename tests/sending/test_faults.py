"""Zalo failing, slow or unreachable: messages wait and retry, none is lost or doubled."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers import sync
from tests.conftest import Api
from tests.sending.conftest import RECENT, messages, running_sender, sync_now, until
from zalo.sandbox import SandboxControl, SandboxServer

SEND = """mutation($i: SendMessageInput!) { sendMessage(input: $i) { code status } }"""
ZNS = """mutation($i: SendZnsInput!) { sendZns(input: $i) { code status } }"""
CONVERSATION = "GET /openapi/v2.0/oa/conversation"


@pytest.fixture
async def synced(demo: Api, sandbox: SandboxServer) -> Api:
    await sync_now(demo, sandbox)
    await sync_now(demo, sandbox, sync.SYNC_TEMPLATES)
    return demo


async def queue_texts(api: Api, texts: list[str]) -> list[str]:
    codes = []
    for i, text in enumerate(texts):
        made = await api.data(SEND, {"i": {"zaloUserId": RECENT[i % len(RECENT)], "text": text}})
        codes.append(made["sendMessage"]["code"])
    return codes


async def final(api: Api, code: str) -> Any:
    async def check() -> Any:
        rows = await messages(api, code=code)
        return rows[0] if rows and rows[0].status in ("sent", "failed") else None

    return await until(check)


@pytest.mark.parametrize("mode", ["-100", "http500"])
async def test_transient_failures_retry_with_backoff_and_send_once(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer, mode: str
) -> None:
    # The client repeats HTTP 500 itself (3 tries), the sender then backs off: 3 failures
    # are 2 sender attempts for http500, 4 for -100 (Zalo's "unknown error, retry").
    await fake.knobs(fail_next_sends=3, fail_mode=mode)
    [code] = await queue_texts(synced, ["Thử lại nhé"])
    async with running_sender(synced, sandbox):
        row = await final(synced, code)
    assert row.status == "sent" and row.error is None
    assert row.attempts == (4 if mode == "-100" else 2)
    state = await fake.state()
    assert state["oa_message_counts"] == {f"{RECENT[0]}:Thử lại nhé": 1}


async def test_zalo_down_keeps_messages_queued_then_sends_each_once(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await fake.knobs(fail_next_sends=10_000, fail_mode="http500")
    texts = [f"Đang chờ {i}" for i in range(6)]
    codes = await queue_texts(synced, texts)
    async with running_sender(synced, sandbox):

        async def retried() -> Any:
            rows = await messages(synced, direction="out")
            return all(r.attempts >= 2 and r.status in ("queued", "sending") for r in rows)

        await until(retried)
        rows = await messages(synced, direction="out")
        assert {r.status for r in rows} <= {"queued", "sending"}
        assert all("HTTP 500" in (r.error or "") for r in rows if r.status == "queued")
        await fake.knobs(fail_next_sends=0)  # Zalo is back
        for code in codes:
            assert (await final(synced, code)).status == "sent"
    counts = (await fake.state())["oa_message_counts"]
    assert counts == {f"{RECENT[i]}:{t}": 1 for i, t in enumerate(texts)}


async def test_a_lost_answer_is_reconciled_not_sent_again(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    """Zalo sent the message but the answer timed out: the conversation shows it was sent."""
    await fake.knobs(slow_seconds=0.6)
    [code] = await queue_texts(synced, ["Có đến không?"])
    async with running_sender(synced, sandbox, http_timeout=0.3):

        async def retrying() -> Any:
            rows = await messages(synced, code=code)
            return rows[0].status == "queued" and rows[0].attempts == 1 and rows[0].error

        await until(retrying)
        await fake.knobs(slow_seconds=0.0)
        row = await final(synced, code)
    state = await fake.state()
    assert state["oa_message_counts"] == {f"{RECENT[0]}:Có đến không?": 1}
    assert row.status == "sent" and row.zalo_message_id == state["oa_messages"][0]["message_id"]
    assert state["calls"][CONVERSATION] >= 1
    assert state["calls"]["POST /openapi/v3.0/oa/message/cs"] == 1


async def test_a_lost_zns_answer_fails_as_unknown_instead_of_charging_twice(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await fake.knobs(slow_seconds=0.6)
    made = await synced.data(
        ZNS, {"i": {"templateId": "250001", "phone": "0987654321", "templateData": {"otp": "42"}}}
    )
    async with running_sender(synced, sandbox, http_timeout=0.3):
        row = await final(synced, made["sendZns"]["code"])
    assert row.status == "failed" and row.error.startswith("outcome unknown")
    state = await fake.state()
    assert state["zns_message_counts"] == {row.tracking_id: 1}
    assert state["calls"]["POST /zns/message/template"] == 1

"""Zalo's webhooks over HTTP: verified, recorded once, applied to followers and messages."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import models
from tests.conftest import Api
from tests.factories import insert, oa
from tests.flows.serving import (
    USER,
    demo_oa,
    eventually,
    fresh_accounts,  # noqa: F401  (an autouse fixture)
    serving,
    signed,
    user_text,
)
from tests.flows.test_authorization import authorized
from tests.sending.conftest import running_sender
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_OA_ID, DEMO_OA_SECRET_KEY
from zalo.signature import verify_webhook_signature, webhook_signature
from zalo_oa.settings import SignatureMode

_events = models.Event.__table__  # type: ignore[attr-defined]
HOOK = "/v4/zalo-oa/hooks"
FOLLOWER = """query($zalo: String!) { followers(filter: {zalo: {eq: $zalo}}) { items {
  code zaloOaCode zalo isFollower followedAt unfollowedAt lastInteraction name phone address
  province creator } } }"""
MESSAGES = """query { messages(orderBy: [{id: ASC}]) { items { code zaloOaCode followerCode
  zaloUserId direction channel event type text attachments zaloMessageId status sentAt
  deliveredAt seenAt creator } } }"""


async def follower(api: Api, zalo: str = USER) -> dict[str, Any] | None:
    items = (await api.data(FOLLOWER, {"zalo": zalo}))["followers"]["items"]
    return items[0] if items else None


async def messages(api: Api) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (await api.data(MESSAGES))["messages"]["items"]
    return result


async def inbound_rows(api: Api) -> list[Any]:
    async with api.backend.database.sessions() as session:
        rows = await session.execute(sa.select(_events).where(_events.c.source == "zalo"))
        return list(rows.all())


async def age_events(api: Api, by: timedelta) -> None:
    """Move inbound events back in time, so a waiting one is due without sleeping."""
    async with api.backend.database.sessions() as session:
        rows = (await session.execute(sa.select(_events.c.id, _events.c.created))).all()
        for row in rows:
            await session.execute(
                sa.update(_events).where(_events.c.id == row.id).values(created=row.created - by)
            )
        await session.commit()


async def apply(api: Api) -> int:
    return await api.backend.services.applier.apply_pending()


async def test_signature_test_vector(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """zalo-api.md §4.2: the published vector verifies, with or without ``mac=``, over HTTP."""
    body = b'{"app_id":"1234567890","event_name":"user_send_text","timestamp":"1700000000000"}'
    expected = "acec9a97faf48961437053ecbfbfe0e357a5730e80a6ea0075989474138023a7"
    assert webhook_signature("1234567890", body, "1700000000000", "oa-secret") == expected
    assert verify_webhook_signature(
        f"mac={expected}", "1234567890", body, "1700000000000", "oa-secret"
    )
    await oa(api.backend.database, "VEC", app_id="1234567890", oa_secret_key="oa-secret")
    headers = {"Content-Type": "application/json"}

    # The vector's timestamp is from 2023: inside a replay window it is refused as stale...
    stale = await api.client.post(
        f"{HOOK}/VEC", content=body, headers={**headers, "X-ZEvent-Signature": f"mac={expected}"}
    )
    assert stale.status_code == 400 and "timestamp" in stale.json()["error"]["message"]
    # ...and with the window off, both spellings of the signature are accepted.
    monkeypatch.setattr(api.backend.settings, "webhook_replay_window_seconds", 0)
    for signature in (f"mac={expected}", expected.upper()):
        answer = await api.client.post(
            f"{HOOK}/VEC", content=body, headers={**headers, "X-ZEvent-Signature": signature}
        )
        assert answer.status_code == 200, answer.text
    wrong = await api.client.post(
        f"{HOOK}/VEC", content=body, headers={**headers, "X-ZEvent-Signature": "mac=" + "0" * 64}
    )
    assert wrong.status_code == 401
    [row] = await inbound_rows(api)  # the second copy was a duplicate
    assert row.raw.encode() == body and row.oa_code == "VEC" and row.applied is None


async def test_sandbox_events_become_followers_and_messages(api: Api, fake: SandboxControl) -> None:
    await demo_oa(api.backend.database)
    async with serving(api.backend.app) as url:
        await fake.webhook_target(f"{url}{HOOK}/DEMO")
        stranger = "7777000011112222"
        sent = await fake.emit(
            "user_send_text", oa_id=DEMO_OA_ID, user_id=stranger, text="Xin chào shop"
        )
        assert [d["status"] for d in sent["deliveries"]] == [200]
        image = {"type": "image", "payload": {"url": "https://example.com/a.jpg", "thumbnail": "t"}}
        await fake.emit("user_send_image", oa_id=DEMO_OA_ID, user_id=stranger, attachments=[image])
        # Without an OA code, the hook routes by the event's OA id.
        await fake.webhook_target(f"{url}{HOOK}")
        await fake.emit("follow", oa_id=DEMO_OA_ID, user_id=USER)
        info = {
            "name": "Nguyễn Văn An",
            "phone": "0912345678",
            "address": "12 Lê Lợi",
            "city": "Huế",
        }
        await fake.emit("user_submit_info", oa_id=DEMO_OA_ID, user_id=USER, info=info)
        await fake.emit("unfollow", oa_id=DEMO_OA_ID, user_id=USER)
        await fake.emit("change_oa_daily_quota", oa_id=DEMO_OA_ID, quota={"prev_value": "1"})
    assert await apply(api) == 6

    known = await follower(api, stranger)
    assert known is not None and known["zaloOaCode"] == "DEMO" and known["creator"] == "crm-webhook"
    assert known["lastInteraction"] is not None and known["isFollower"] == 0
    text, photo = await messages(api)
    assert text["direction"] == "in" and text["status"] == "received" and text["channel"] == "oa"
    assert (text["text"], text["type"], text["event"]) == (
        "Xin chào shop",
        "text",
        "user_send_text",
    )
    assert text["followerCode"] == known["code"] and text["zaloUserId"] == stranger
    assert text["zaloMessageId"] == sent["payload"]["message"]["msg_id"]
    assert text["creator"] == "crm-webhook" and text["sentAt"] is not None
    assert photo["type"] == "image" and photo["attachments"] == [image]

    demo = await follower(api)
    assert demo is not None and demo["isFollower"] == 0
    assert (
        demo["followedAt"] and demo["unfollowedAt"] and demo["unfollowedAt"] >= demo["followedAt"]
    ), (demo["followedAt"], demo["unfollowedAt"])
    assert (demo["name"], demo["phone"], demo["address"], demo["province"]) == (
        "Nguyễn Văn An",
        "84912345678",
        "12 Lê Lợi",
        "Huế",
    )
    rows = await inbound_rows(api)
    assert all(r.applied is not None and r.error is None for r in rows)
    assert {r.kind for r in rows} >= {"change_oa_daily_quota"}  # stored, changed nothing
    kinds = await module_events(api)
    assert kinds.count("message.received") == 2
    assert kinds.count("follower.followed") == 1 and kinds.count("follower.unfollowed") == 1


async def module_events(api: Api) -> list[str]:
    async with api.backend.database.sessions() as session:
        rows = await session.execute(
            sa.select(_events.c.kind).where(_events.c.source == "module").order_by(_events.c.id)
        )
        return list(rows.scalars())


async def test_refusals_apply_nothing_and_log_no_secret(
    api: Api, fake: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    await demo_oa(api.backend.database, webhook_user_token="hook-token-123")
    body, headers = signed(user_text("hi", "m-1"))
    caplog.set_level(logging.INFO)
    cases = [
        (f"{HOOK}/DEMO?token=hook-token-123", b"not json", headers, 400),
        (f"{HOOK}/DEMO?token=hook-token-123", b"[1, 2]", headers, 400),
        (f"{HOOK}/NOPE", body, headers, 404),
        (f"{HOOK}/DEMO", body, headers, 401),  # the hook URL's token is missing
        (f"{HOOK}/DEMO?token=wrong", body, headers, 401),
        (f"{HOOK}/DEMO?token=hook-token-123", body, {"Content-Type": "application/json"}, 401),
    ]
    for path, content, sent_headers, status in cases:
        answer = await api.client.post(path, content=content, headers=sent_headers)
        assert answer.status_code == status, (path, answer.text)
    unknown, unknown_headers = signed({**user_text("hi", "m-2"), "recipient": {"id": "42"}})
    assert (
        await api.client.post(HOOK, content=unknown, headers=unknown_headers)
    ).status_code == 404
    async with serving(api.backend.app) as url:
        await fake.webhook_target(f"{url}{HOOK}/DEMO?token=hook-token-123")
        for delivery, status in (
            ({"signature": "wrong_secret"}, 401),
            ({"signature": "none"}, 401),
            ({"stale": True}, 400),
        ):
            result = await fake.emit(
                "user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="x", delivery=delivery
            )
            assert [d["status"] for d in result["deliveries"]] == [status], delivery
        good = await fake.emit(
            "user_send_text",
            oa_id=DEMO_OA_ID,
            user_id=USER,
            text="ok",
            delivery={"signature": "bare"},
        )
        assert [d["status"] for d in good["deliveries"]] == [200]
    [accepted] = await inbound_rows(api)
    assert json.loads(accepted.raw)["message"]["text"] == "ok"
    # The module's own log lines (httpx, the test's client, logs the URLs it was given).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("zalo_oa"))
    assert "webhook refused" in logged
    for secret in ("hook-token-123", DEMO_OA_SECRET_KEY, headers["X-ZEvent-Signature"][4:]):
        assert secret not in logged


async def test_duplicates_are_applied_once(api: Api, fake: SandboxControl) -> None:
    await demo_oa(api.backend.database)
    async with serving(api.backend.app) as url:
        await fake.webhook_target(f"{url}{HOOK}/DEMO")
        twice = await fake.emit(
            "user_send_text",
            oa_id=DEMO_OA_ID,
            user_id=USER,
            text="một lần",
            delivery={"duplicate": True},
        )
        assert [d["status"] for d in twice["deliveries"]] == [200, 200]
    # Zalo's retry of the same message with a new timestamp is the same event too.
    again = {**twice["payload"], "timestamp": str(int(datetime.now(UTC).timestamp() * 1000))}
    body, headers = signed(again)
    answer = await api.client.post(f"{HOOK}/DEMO", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["duplicate"] is True
    await apply(api)
    await apply(api)
    assert [m["text"] for m in await messages(api)] == ["một lần"]
    assert len(await inbound_rows(api)) == 1


async def outbound(api: Api, code: str, **values: Any) -> None:
    await insert(
        api.backend.database,
        "messages",
        [
            {
                "code": code,
                "zalo_oa": "DEMO",
                "zalo_user_id": USER,
                "direction": "out",
                "channel": "oa",
                "type": "text",
                "text": code,
                "status": "sent",
                "attempts": 1,
                **values,
            }
        ],
    )


async def status_of(api: Api) -> dict[str, tuple[str, bool, bool]]:
    return {
        m["code"]: (m["status"], m["deliveredAt"] is not None, m["seenAt"] is not None)
        for m in await messages(api)
    }


async def test_receipts_out_of_order_end_right(api: Api, fake: SandboxControl) -> None:
    await demo_oa(api.backend.database)
    await outbound(api, "M1", zalo_message_id="z-1")
    await outbound(api, "M2", zalo_message_id="z-2", status="failed", error="timeout")
    await outbound(
        api,
        "Z1",
        channel="zns",
        type="zns",
        tracking_id="order-77",
        zalo_user_id=None,
        phone="84987654321",
    )
    async with serving(api.backend.app) as url:
        await fake.webhook_target(f"{url}{HOOK}")
        for name, extra in (
            ("user_received_message", {"msg_id": "z-1"}),
            ("user_seen_message", {"msg_ids": ["z-1"]}),
            ("user_received_message", {"msg_id": "z-2"}),
        ):
            await fake.emit(name, oa_id=DEMO_OA_ID, user_id=USER, hold=True, **extra)
        await fake.flush(order="reverse")  # seen before delivered
        await fake.emit(
            "user_received_message",
            oa_id=DEMO_OA_ID,
            zns=True,
            msg_id="zns-9",
            tracking_id="order-77",
        )
        # A receipt for a message whose ZaloMessageId the sender has not recorded yet.
        await fake.emit("user_received_message", oa_id=DEMO_OA_ID, user_id=USER, msg_id="z-3")
    await apply(api)
    assert await status_of(api) == {
        "M1": ("seen", True, True),
        "M2": ("delivered", True, False),  # proof of delivery beats a failure
        "Z1": ("delivered", True, False),
    }
    waiting = [r for r in await inbound_rows(api) if r.applied is None]
    assert len(waiting) == 1 and "z-3" in (waiting[0].error or "") and waiting[0].attempts == 1
    await outbound(api, "M3", zalo_message_id="z-3")
    await apply(api)  # not due yet
    await age_events(api, timedelta(seconds=1))
    await apply(api)
    assert (await status_of(api))["M3"] == ("delivered", True, False)
    assert [r for r in await inbound_rows(api) if r.applied is None] == []
    kinds = await module_events(api)
    assert kinds.count("message.seen") == 1 and kinds.count("message.delivered") == 3


async def test_echoes_are_recorded_once(api: Api, fake: SandboxControl) -> None:
    await demo_oa(api.backend.database)
    await outbound(api, "OWN", zalo_message_id="e-1")
    await outbound(api, "INFLIGHT", status="sending")
    async with serving(api.backend.app) as url:
        await fake.webhook_target(f"{url}{HOOK}")
        for msg_id, text in (
            ("e-1", "OWN"),
            ("e-2", "typed in the OA admin app"),
            ("e-3", "INFLIGHT"),
        ):
            await fake.emit(
                "oa_send_text", oa_id=DEMO_OA_ID, user_id=USER, msg_id=msg_id, text=text
            )
    await apply(api)
    rows = await messages(api)
    assert [m["code"] for m in rows if m["zaloMessageId"] == "e-1"] == ["OWN"]
    [admin] = [m for m in rows if m["zaloMessageId"] == "e-2"]
    assert (admin["direction"], admin["status"], admin["event"]) == ("out", "sent", "oa_send_text")
    assert admin["text"] == "typed in the OA admin app" and admin["creator"] == "crm-webhook"
    assert not [m for m in rows if m["zaloMessageId"] == "e-3"]  # waits for the sender
    async with api.backend.database.sessions() as session:
        table = models.Message.__table__  # type: ignore[attr-defined]
        await session.execute(
            sa.update(table)
            .where(table.c.code == "INFLIGHT")
            .values(status="sent", zalo_message_id="e-3")
        )
        await session.commit()
    await age_events(api, timedelta(seconds=1))
    await apply(api)
    rows = await messages(api)
    assert [m["code"] for m in rows if m["zaloMessageId"] == "e-3"] == ["INFLIGHT"]
    assert len(rows) == 3


@pytest.mark.parametrize("mode", ["log_only", "off"])
async def test_signature_modes_that_accept(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    await demo_oa(api.backend.database)
    monkeypatch.setattr(api.backend.settings, "webhook_signature", SignatureMode(mode))
    body, _ = signed(user_text("chữ ký sai", "bad-sig"))
    headers = {"Content-Type": "application/json", "X-ZEvent-Signature": "mac=" + "f" * 64}
    caplog.set_level(logging.WARNING, logger="zalo_oa.hooks")
    answer = await api.client.post(f"{HOOK}/DEMO", content=body, headers=headers)
    assert answer.status_code == 200
    await apply(api)
    assert [m["text"] for m in await messages(api)] == ["chữ ký sai"]
    warned = [r for r in caplog.records if "log_only" in r.getMessage()]
    assert bool(warned) is (mode == "log_only")


SEND = """mutation($i: SendMessageInput!) { sendMessage(input: $i, wait: true) {
  code status zaloMessageId } }"""


async def test_the_modules_own_send_and_its_echo_are_one_message(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    """The real sender sends; Zalo's echo and receipt of that send change that one message."""
    await authorized(api, fake, sandbox)
    await api.data(
        'mutation { updateOfficialAccounts(input: [{code: "DEMO", isDefault: true, '
        f'oaSecretKey: "{DEMO_OA_SECRET_KEY}"}}]) {{ affectedCount }} }}'
    )
    await fake.knobs(echo_webhooks=True)
    async with serving(api.backend.app) as url, running_sender(api, sandbox):
        await fake.webhook_target(f"{url}{HOOK}")
        # The user writes first (which makes them a known follower); the OA answers.
        await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="Có size L không?")
        await apply(api)
        sent = (await api.data(SEND, {"i": {"zaloUserId": USER, "text": "Dạ có ạ"}}))["sendMessage"]
        assert sent["status"] == "sent" and sent["zaloMessageId"]

        async def echoed() -> bool:
            return any(r.kind == "oa_send_text" for r in await inbound_rows(api))

        await eventually(echoed)
        await fake.emit(
            "user_received_message", oa_id=DEMO_OA_ID, user_id=USER, msg_id=sent["zaloMessageId"]
        )
    await apply(api)
    [message] = [m for m in await messages(api) if m["zaloMessageId"] == sent["zaloMessageId"]]
    assert (message["code"], message["status"]) == (sent["code"], "delivered")
    assert [m["direction"] for m in await messages(api)] == ["in", "out"]

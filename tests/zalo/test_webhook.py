from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from zalo.client import ZaloClient
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_OA_ID, DEMO_OA_SECRET_KEY
from zalo.signature import verify_webhook_signature

USER = "2512523625412515"
INBOX = "/__fake/webhook/inbox"


def _verified(item: dict[str, Any], secret: str = DEMO_OA_SECRET_KEY) -> bool:
    body = item["body"].encode()
    timestamp = json.loads(body)["timestamp"]
    header = item["headers"].get("x-zevent-signature")
    return verify_webhook_signature(header, DEMO_APP_ID, body, timestamp, secret)


async def _inbox(fake: SandboxControl, count: int) -> list[dict[str, Any]]:
    for _ in range(40):
        items = await fake.inbox()
        if len(items) >= count:
            return items
        await asyncio.sleep(0.05)
    return await fake.inbox()


async def test_emitted_event_is_signed_over_its_exact_bytes(
    sandbox: SandboxServer, fake: SandboxControl
) -> None:
    await fake.webhook_target(sandbox.base_url + INBOX)
    result = await fake.emit(
        "user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="Tôi muốn đặt hàng"
    )
    assert [d["status"] for d in result["deliveries"]] == [200]

    [item] = await fake.inbox()
    payload = json.loads(item["body"])
    assert payload["event_name"] == "user_send_text"
    assert payload["app_id"] == DEMO_APP_ID
    assert (payload["sender"]["id"], payload["recipient"]["id"]) == (USER, DEMO_OA_ID)
    assert payload["message"]["text"] == "Tôi muốn đặt hàng"
    assert payload["message"]["msg_id"]
    assert abs(int(payload["timestamp"]) - time.time() * 1000) < 60_000
    assert item["headers"]["x-zevent-signature"].startswith("mac=")
    assert _verified(item)
    assert not _verified(item, secret=DEMO_APP_SECRET)


async def test_signature_knobs(sandbox: SandboxServer, fake: SandboxControl) -> None:
    await fake.webhook_target(sandbox.base_url + INBOX)
    await fake.emit("follow", oa_id=DEMO_OA_ID, user_id=USER, delivery={"signature": "bare"})
    await fake.emit(
        "follow", oa_id=DEMO_OA_ID, user_id=USER, delivery={"signature": "wrong_secret"}
    )
    await fake.emit("follow", oa_id=DEMO_OA_ID, user_id=USER, delivery={"stale": True})
    bare, wrong, stale = await fake.inbox()

    assert not bare["headers"]["x-zevent-signature"].startswith("mac=")
    assert _verified(bare)
    assert not _verified(wrong)
    assert _verified(stale)
    assert time.time() * 1000 - int(json.loads(stale["body"])["timestamp"]) > 300_000


async def test_duplicate_delivery_and_retries(sandbox: SandboxServer, fake: SandboxControl) -> None:
    await fake.webhook_target(sandbox.base_url + INBOX)
    await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="một", shop="A")
    await fake.knobs(webhook_duplicate=True)
    await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="hai lần")
    once, twice, again = await fake.inbox()
    assert json.loads(once["body"])["shop"] == "A"  # unknown emit fields go into the payload
    assert twice["body"] == again["body"]

    await fake.knobs(webhook_duplicate=False)
    await fake.clear_inbox()
    await fake.webhook_target(sandbox.base_url + INBOX + "?status=500")
    result = await fake.emit("follow", oa_id=DEMO_OA_ID, user_id=USER, delivery={"retries": 2})
    assert [d["status"] for d in result["deliveries"]] == [500, 500, 500]
    retries = [item["headers"].get("num_retry") for item in await fake.inbox()]
    assert retries == [None, "1", "2"]


async def test_held_events_flush_out_of_order(sandbox: SandboxServer, fake: SandboxControl) -> None:
    await fake.webhook_target(sandbox.base_url + INBOX)
    for text in ("một", "hai", "ba"):
        await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text=text, hold=True)
    assert await fake.inbox() == []
    await fake.flush("reverse")
    texts = [json.loads(item["body"])["message"]["text"] for item in await fake.inbox()]
    assert texts == ["ba", "hai", "một"]


async def test_follow_events_change_followers(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await fake.emit("unfollow", oa_id=DEMO_OA_ID, user_id=USER)
    assert (await client.list_followers(token, is_follower=True)).total == 119
    assert not (await client.user_detail(token, USER)).user_is_follower
    await fake.emit("follow", oa_id=DEMO_OA_ID, user_id="9999", display_name="Lý Thị Thu")
    assert (await client.user_detail(token, "9999")).display_name == "Lý Thị Thu"
    assert (await client.list_followers(token, is_follower=True)).total == 120


async def test_sends_echo_and_zns_delivery_webhooks(
    sandbox: SandboxServer, client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await fake.webhook_target(sandbox.base_url + INBOX)
    await fake.knobs(echo_webhooks=True, zns_delivery_webhooks=True)
    sent = await client.send_text(token, USER, "Cảm ơn quý khách")
    zns = await client.send_zns(token, "84912345678", "250001", {"otp": "654321"}, "otp-9")

    echo, delivered = await _inbox(fake, 2)
    echoed = json.loads(echo["body"])
    assert echoed["event_name"] == "oa_send_text"
    assert echoed["message"] == {"msg_id": sent.message_id, "text": "Cảm ơn quý khách"}
    assert _verified(echo)
    assert delivered["headers"]["x-zevent-server"] == "ZNS"
    receipt = json.loads(delivered["body"])
    assert receipt["event_name"] == "user_received_message"
    assert receipt["message"]["msg_id"] == zns.msg_id
    assert receipt["message"]["tracking_id"] == "otp-9"
    assert _verified(delivered)

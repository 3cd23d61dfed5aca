"""sendMessage, sendZns, createMessages and REST POST: checks first, then exactly one send."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import models
from resolvers import sync
from resolvers._crud import utcnow
from resolvers.resources import FOLLOWERS
from tests.conftest import Api
from tests.legacy_rest.conftest import Rest
from tests.sending.conftest import (
    RECENT,
    STALE_USER,
    follower_code,
    messages,
    running_sender,
    sync_now,
    until,
)
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_ADMIN_PHONE

MESSAGE = "code status direction channel type text zaloUserId followerCode zaloOaCode zaloMessageId sentAt attempts error phone trackingId templateCode attachments"
SEND = "mutation($i: SendMessageInput!, $w: Boolean) { sendMessage(input: $i, wait: $w) { "
SEND += MESSAGE + " } }"
ZNS = (
    "mutation($i: SendZnsInput!, $w: Boolean) { sendZns(input: $i, wait: $w) { " + MESSAGE + " } }"
)


@pytest.fixture
async def synced(demo: Api, sandbox: SandboxServer) -> Api:
    """The demo OA with its followers and templates synced."""
    await sync_now(demo, sandbox)
    await sync_now(demo, sandbox, sync.SYNC_TEMPLATES)
    return demo


async def kinds(api: Api) -> list[tuple[str, Any]]:
    table = models.Event.__table__  # type: ignore[attr-defined]
    async with api.backend.database.sessions() as session:
        rows = await session.execute(sa.select(table.c.kind, table.c.payload).order_by(table.c.id))
        return [(k, p) for k, p in rows.all() if k.startswith("message.")]


async def test_send_text_waits_for_sent_once_and_is_idempotent(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    code = await follower_code(synced, RECENT[0])
    async with running_sender(synced, sandbox):
        sent = (
            await synced.data(
                SEND, {"i": {"followerCode": code, "text": "Xin chào", "code": "K1"}, "w": True}
            )
        )["sendMessage"]
        assert (sent["status"], sent["direction"], sent["channel"], sent["type"]) == (
            "sent",
            "out",
            "oa",
            "text",
        )
        assert sent["zaloMessageId"] and sent["sentAt"] and sent["attempts"] == 1
        assert (sent["zaloUserId"], sent["zaloOaCode"]) == (RECENT[0], "DEMO")
        again = (
            await synced.data(
                SEND, {"i": {"followerCode": code, "text": "Xin chào", "code": "K1"}, "w": True}
            )
        )["sendMessage"]
        assert again == sent
    state = await fake.state()
    assert state["oa_message_counts"] == {f"{RECENT[0]}:Xin chào": 1}
    assert state["oa_messages"][0]["message_id"] == sent["zaloMessageId"]
    # The status change is published once, with the message in its REST form.
    published = await kinds(synced)
    assert [k for k, _ in published] == ["message.sent"]
    assert published[0][1]["Code"] == "K1" and published[0][1]["Status"] == "sent"
    assert published[0][1]["ZaloMessageId"] == sent["zaloMessageId"]


async def test_image_file_quote_and_zalo_user_id(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    services = synced.backend.services
    upload = await services.tokens.call(
        "DEMO",
        lambda a: services.zalo.upload_file(a.access_token or "", "bang-gia.pdf", b"%PDF-1.4 demo"),
    )
    user = RECENT[1]
    async with running_sender(synced, sandbox):
        first = (
            await synced.data(
                SEND, {"i": {"zaloUserId": user, "text": "Đây là bảng giá"}, "w": True}
            )
        )["sendMessage"]
        image = (
            await synced.data(
                SEND,
                {
                    "i": {
                        "zaloUserId": user,
                        "type": "image",
                        "imageUrl": "https://example.com/a.jpg",
                        "text": "Ảnh",
                    },
                    "w": True,
                },
            )
        )["sendMessage"]
        file = (
            await synced.data(
                SEND,
                {"i": {"zaloUserId": user, "type": "file", "fileToken": upload.token}, "w": True},
            )
        )["sendMessage"]
        quote = (
            await synced.data(
                SEND,
                {
                    "i": {
                        "zaloUserId": user,
                        "text": "Trả lời",
                        "quoteMessageId": first["zaloMessageId"],
                    },
                    "w": True,
                },
            )
        )["sendMessage"]
    assert [m["status"] for m in (first, image, file, quote)] == ["sent"] * 4, (
        first,
        image,
        file,
        quote,
    )
    assert first["followerCode"] == await follower_code(synced, user)
    assert image["attachments"] == [
        {"type": "image", "payload": {"url": "https://example.com/a.jpg"}}
    ]
    sent = {m["message_id"]: m for m in (await fake.state())["oa_messages"]}
    assert sent[image["zaloMessageId"]]["type"] == "photo"
    assert sent[file["zaloMessageId"]]["type"] == "file"
    assert sent[quote["zaloMessageId"]]["message"]["quote_message_id"] == first["zaloMessageId"]


async def test_zns_by_template_code_and_id(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    template = (
        await synced.data(
            '{ znsTemplates(filter: {templateId: {eq: "250001"}}) { items { code } } }'
        )
    )["znsTemplates"]["items"][0]["code"]
    async with running_sender(synced, sandbox):
        by_code = (
            await synced.data(
                ZNS,
                {
                    "i": {
                        "templateCode": template,
                        "phone": "0987 654 321",
                        "templateData": {"otp": "123456"},
                        "development": True,
                    },
                    "w": True,
                },
            )
        )["sendZns"]
        by_id = (
            await synced.data(
                ZNS,
                {
                    "i": {
                        "templateId": "250002",
                        "phone": "+84987654321",
                        "trackingId": "order-77",
                        "templateData": {
                            "customer_name": "An",
                            "order_code": "DH77",
                            "amount": 150000,
                            "order_date": "01/12/2026",
                        },
                    },
                    "w": True,
                },
            )
        )["sendZns"]
    assert (by_code["status"], by_code["type"], by_code["channel"], by_code["phone"]) == (
        "sent",
        "zns",
        "zns",
        DEMO_ADMIN_PHONE,
    )
    assert by_code["trackingId"] == by_code["code"] and by_code["attachments"] == {
        "mode": "development"
    }
    assert (by_id["status"], by_id["trackingId"]) == ("sent", "order-77")
    state = await fake.state()
    assert state["zns_message_counts"] == {by_code["code"]: 1, "order-77": 1}
    zns = {m["tracking_id"]: m for m in state["zns_messages"]}
    assert (
        zns[by_code["code"]]["development"] is True and zns["order-77"]["template_id"] == "250002"
    )
    assert zns["order-77"]["msg_id"] == by_id["zaloMessageId"]


BAD: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (mutation, case, input, field, words in the message)
    (
        "oa",
        "unknown follower",
        {"followerCode": "NOPE", "text": "x"},
        "followerCode",
        "unknown Follower",
    ),
    ("oa", "unknown zalo id", {"zaloUserId": "123", "text": "x"}, "zaloUserId", "no follower"),
    ("oa", "no recipient", {"text": "x"}, "followerCode", "followerCode or zaloUserId"),
    ("oa", "text too long", {"zaloUserId": RECENT[0], "text": "a" * 2001}, "text", "2000"),
    ("oa", "no text", {"zaloUserId": RECENT[0]}, "text", "needs text"),
    ("oa", "image without url", {"zaloUserId": RECENT[0], "type": "image"}, "imageUrl", "url"),
    ("oa", "bad type", {"zaloUserId": RECENT[0], "type": "video", "text": "x"}, "type", "type"),
    ("oa", "7-day window", {"zaloUserId": STALE_USER, "text": "x"}, "zaloUserId", "7 days"),
    (
        "oa",
        "unknown OA",
        {"oaCode": "NOPE", "zaloUserId": RECENT[0], "text": "x"},
        "oaCode",
        "NOPE",
    ),
    (
        "zns",
        "missing param",
        {"templateId": "250001", "phone": "0987654321"},
        "templateData.otp",
        "required",
    ),
    (
        "zns",
        "param too long",
        {"templateId": "250001", "phone": "0987654321", "templateData": {"otp": "1234567"}},
        "templateData.otp",
        "longer than 6",
    ),
    (
        "zns",
        "unknown param",
        {"templateId": "250001", "phone": "0987654321", "templateData": {"otp": "1", "x": 1}},
        "templateData.x",
        "not a param",
    ),
    (
        "zns",
        "unknown template id",
        {"templateId": "999", "phone": "0987654321"},
        "templateId",
        "no ZNS template",
    ),
    (
        "zns",
        "unknown template code",
        {"templateCode": "NOPE", "phone": "0987654321"},
        "templateCode",
        "unknown ZnsTemplate",
    ),
    (
        "zns",
        "pending template",
        {
            "templateId": "250003",
            "phone": "0987654321",
            "templateData": {"customer_name": "A", "voucher_code": "B"},
        },
        "templateCode",
        "PENDING_REVIEW",
    ),
    (
        "zns",
        "bad phone",
        {"templateId": "250001", "phone": "12345", "templateData": {"otp": "1"}},
        "phone",
        "phone number",
    ),
    ("zns", "no phone", {"templateId": "250001", "templateData": {"otp": "1"}}, "phone", "phone"),
    (
        "zns",
        "long tracking id",
        {
            "templateId": "250001",
            "phone": "0987654321",
            "templateData": {"otp": "1"},
            "trackingId": "t" * 49,
        },
        "trackingId",
        "48",
    ),
]


async def test_bad_input_names_the_field_and_queues_nothing(synced: Api) -> None:
    for kind, case, given, field, words in BAD:
        errors = await synced.errors(SEND if kind == "oa" else ZNS, {"i": given})
        ext = errors[0]["extensions"]
        assert ext["code"] == "BAD_USER_INPUT", (case, errors)
        assert ext["field"] == field, (case, errors)
        assert words in errors[0]["message"], (case, errors)
    assert await messages(synced, direction="out") == []


async def test_disabled_oa_is_refused(synced: Api) -> None:
    await synced.data(
        'mutation { updateOfficialAccounts(input: [{code: "DEMO", isEnabled: false}]) { affectedCount } }'
    )
    errors = await synced.errors(SEND, {"i": {"zaloUserId": RECENT[0], "text": "x"}})
    assert errors[0]["extensions"]["field"] == "oaCode" and "disabled" in errors[0]["message"]
    errors = await synced.errors(
        ZNS, {"i": {"templateId": "250001", "phone": "0987654321", "templateData": {"otp": "1"}}}
    )
    assert errors[0]["extensions"]["field"] == "oaCode"
    assert await messages(synced, direction="out") == []


async def test_create_messages_and_rest_post_apply_the_same_checks(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    code = await follower_code(synced, RECENT[2])
    bad = await synced.data(
        """mutation($i: [MessageCreate!]!) { createMessages(input: $i) { affectedCount
          errors { field index message } } }""",
        {"i": [{"followerCode": code, "text": "ok"}, {"followerCode": code, "text": "b" * 2001}]},
    )
    assert bad["createMessages"]["affectedCount"] == 0
    assert [(e["index"], e["field"]) for e in bad["createMessages"]["errors"]] == [(1, "text")]
    rest = Rest(synced)
    refused = await rest.post(
        "/messages", [{"Follower": code, "Text": "ok"}, {"ZaloUserId": STALE_USER, "Text": "hi"}]
    )
    assert refused.status == 422 and refused.named() == [(1, "ZaloUserId")], refused.body
    template = (
        await synced.data(
            '{ znsTemplates(filter: {templateId: {eq: "250001"}}) { items { code } } }'
        )
    )["znsTemplates"]["items"][0]["code"]
    refused = await rest.post(
        "/messages",
        {"Template": template, "Phone": "0987654321", "TemplateData": '{"otp": "1234567"}'},
    )
    assert refused.status == 422 and refused.named() == [(0, "TemplateData.otp")], refused.body
    assert await messages(synced, direction="out") == []

    made = await rest.post("/messages", [{"Follower": code, "Text": "qua REST", "Status": "sent"}])
    assert made.status == 201, made.body
    item = made.data[0]
    assert (item["Status"], item["ZaloOa"], item["ZaloUserId"], item["Attempts"]) == (
        "queued",
        "DEMO",
        RECENT[2],
        0,
    )
    async with running_sender(synced, sandbox):

        async def sent() -> Any:
            rows = await messages(synced, code=item["Code"])
            return rows[0].status == "sent"

        await until(sent)
    assert (await fake.state())["oa_message_counts"] == {f"{RECENT[2]}:qua REST": 1}


async def test_zalo_refusal_fails_with_zalos_error(
    synced: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    # Our record says the user wrote today; Zalo knows better (10 days): -230, not retried.
    table = FOLLOWERS.table
    async with synced.backend.database.sessions() as session:
        await session.execute(
            sa.update(table).where(table.c.zalo == STALE_USER).values(last_interaction=utcnow())
        )
        await session.commit()
    async with running_sender(synced, sandbox):
        failed = (
            await synced.data(SEND, {"i": {"zaloUserId": STALE_USER, "text": "x"}, "w": True})
        )["sendMessage"]
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["error"].startswith("Zalo error -230:") and failed["zaloMessageId"] is None
    assert [k for k, _ in await kinds(synced)] == ["message.failed"]
    assert (await fake.state())["oa_message_counts"] == {}

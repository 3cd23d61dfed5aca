from __future__ import annotations

import pytest

from zalo.client import ZaloClient
from zalo.errors import ZaloRequestError
from zalo.sandbox import SandboxControl
from zalo.sandbox.seed import DEMO_APP_ID, DEMO_OA_ID

USER = "2512523625412515"
STALE_USER = str(2_512_523_625_412_515 + 14 * 104_729)  # demo follower #14 wrote 10 days ago
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


async def test_send_text_is_recorded_once(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    sent = await client.send_text(token, USER, "Đơn hàng của bạn đã được giao")
    assert sent.user_id == USER
    assert sent.sent_time and sent.sent_time > 0
    assert sent.quota and sent.quota.remain == 8

    state = await fake.state()
    assert state["oa_message_counts"] == {f"{USER}:Đơn hàng của bạn đã được giao": 1}
    assert state["oa_messages"][0]["message_id"] == sent.message_id


async def test_same_text_twice_is_counted_twice(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    for _ in range(2):
        await client.send_text(token, USER, "Cảm ơn bạn")
    assert (await fake.state())["oa_message_counts"][f"{USER}:Cảm ơn bạn"] == 2


async def test_text_over_2000_characters_is_refused(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await client.send_text(token, USER, "a" * 2000)
    with pytest.raises(ZaloRequestError) as refused:
        await client.send_text(token, USER, "a" * 2001)
    assert refused.value.zalo_error == -201
    assert len((await fake.state())["oa_messages"]) == 1


async def test_no_interaction_for_8_days_is_a_typed_230(
    client: ZaloClient, fake: SandboxControl
) -> None:
    await fake.advance(8 * 86_400)
    token = (await fake.tokens(DEMO_APP_ID))["access_token"]
    with pytest.raises(ZaloRequestError) as refused:
        await client.send_text(token, USER, "Bạn còn đó không?")
    assert refused.value.zalo_error == -230
    assert not refused.value.transient
    assert client.calls["POST /v3.0/oa/message/cs"] == 1


async def test_an_inbound_message_reopens_the_window(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    with pytest.raises(ZaloRequestError):
        await client.send_text(token, STALE_USER, "Chào bạn")
    await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=STALE_USER, text="Alo")
    await client.send_text(token, STALE_USER, "Chào bạn")


async def test_quote_reply(client: ZaloClient, fake: SandboxControl, token: str) -> None:
    inbound = await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="Giá?")
    quoted = inbound["payload"]["message"]["msg_id"]
    await client.send_text(token, USER, "199.000đ", quote_message_id=quoted)
    with pytest.raises(ZaloRequestError):
        await client.send_text(token, USER, "199.000đ", quote_message_id="nope")


async def test_upload_and_send_image_file_and_request_info(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    image = await client.upload_image(token, "sp.png", PNG)
    await client.send_image(token, USER, attachment_id=image.attachment_id, text="Mẫu mới")
    await client.send_image(token, USER, url="https://example.com/a.jpg")
    gif = await client.upload_gif(token, "hi.gif", b"GIF89a")
    assert gif.attachment_id
    document = await client.upload_file(token, "hoa-don.pdf", b"%PDF-1.4")
    await client.send_file(token, USER, document.token)
    await client.send_request_user_info(
        token, USER, "Chia sẻ thông tin", "Để nhận ưu đãi", "https://example.com/b.jpg"
    )
    kinds = [row.type for row in await client.conversation(token, USER)]
    assert kinds == ["request_user_info", "file", "photo", "photo"]

    with pytest.raises(ZaloRequestError) as unknown:
        await client.send_file(token, USER, "not-uploaded")
    assert unknown.value.zalo_error == -201
    with pytest.raises(ValueError):
        await client.send_image(token, USER)


async def test_uploads_are_capped(client: ZaloClient, token: str) -> None:
    with pytest.raises(ZaloRequestError) as too_big:
        await client.upload_image(token, "big.jpg", b"\0" * ((1 << 20) + 1))
    assert too_big.value.zalo_error == -210


async def test_uid_template(client: ZaloClient, fake: SandboxControl, token: str) -> None:
    sent = await client.send_uid_template(token, USER, "250001", {"otp": "123456"})
    assert sent.message_id
    with pytest.raises(ZaloRequestError) as unknown:
        await client.send_uid_template(token, USER, "999", {})
    assert unknown.value.zalo_error == -201
    assert (await fake.state())["oa_messages"][0]["type"] == "template"

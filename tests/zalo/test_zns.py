from __future__ import annotations

from typing import Any

import pytest

from zalo.client import ZaloClient
from zalo.errors import ZaloRequestError
from zalo.sandbox import SandboxControl
from zalo.sandbox.seed import DEMO_ADMIN_PHONE

ORDER = {
    "customer_name": "Trần Thị Lan",
    "order_code": "DH-000123",
    "amount": "1500000",
    "order_date": "01/12/2026",
}


async def test_template_list_and_total(client: ZaloClient, token: str) -> None:
    page = await client.zns_templates(token)
    assert page.total == 3
    assert {t.template_id for t in page.templates} == {"250001", "250002", "250003"}
    enabled = await client.zns_templates(token, status=1)
    assert (enabled.total, len(enabled.templates)) == (2, 2)
    one = await client.zns_templates(token, offset=0, limit=1)
    assert (one.total, len(one.templates)) == (3, 1)
    with pytest.raises(ZaloRequestError):
        await client.zns_templates(token, limit=101)


async def test_template_info_reads_numbers_sent_as_strings(client: ZaloClient, token: str) -> None:
    detail = await client.zns_template_info(token, "250002")
    assert detail.status == "ENABLE"
    assert detail.price == 440.0
    params = {p.name: p for p in detail.params}
    assert params["customer_name"].max_length == 30
    assert params["customer_name"].require
    assert not params["note"].require
    assert detail.buttons[0].title == "Xem đơn hàng"
    assert detail.preview_url and detail.template_tag == "IN_TRANSACTION"
    with pytest.raises(ZaloRequestError) as unknown:
        await client.zns_template_info(token, "1")
    assert unknown.value.zalo_error == -109


@pytest.mark.parametrize("phone", ["84912345678", "+84912345678"])
async def test_send_zns_accepts_84_forms(
    client: ZaloClient, fake: SandboxControl, token: str, phone: str
) -> None:
    sent = await client.send_zns(token, phone, "250002", ORDER, tracking_id="order-123")
    assert sent.msg_id and sent.sent_time
    assert sent.quota and sent.quota.remaining_quota == 499
    state = await fake.state()
    assert state["zns_message_counts"] == {"order-123": 1}
    assert state["zns_messages"][0]["phone"] == "84912345678"

    status = await client.zns_message_status(token, sent.msg_id)
    assert status.status == 1
    quota = await client.zns_quota(token)
    assert (quota.daily_quota, quota.remaining_quota) == (500, 499)


@pytest.mark.parametrize(
    ("phone", "template_id", "data", "code"),
    [
        ("0912345678", "250002", ORDER, -108),
        ("12345", "250002", ORDER, -108),
        ("84912345678", "999999", ORDER, -109),
        ("84912345678", "250002", {**ORDER, "order_code": ""}, -1122),
        ("84912345678", "250002", {k: v for k, v in ORDER.items() if k != "amount"}, -1122),
        ("84912345678", "250002", {**ORDER, "customer_name": "x" * 31}, -1121),
        ("84912345678", "250003", {"customer_name": "An", "voucher_code": "V1"}, -131),
    ],
)
async def test_send_zns_refusals(
    client: ZaloClient,
    fake: SandboxControl,
    token: str,
    phone: str,
    template_id: str,
    data: dict[str, Any],
    code: int,
) -> None:
    with pytest.raises(ZaloRequestError) as refused:
        await client.send_zns(token, phone, template_id, data, tracking_id="t-1")
    assert refused.value.zalo_error == code
    assert (await fake.state())["zns_messages"] == []


async def test_optional_param_may_be_left_out(client: ZaloClient, token: str) -> None:
    await client.send_zns(token, "84912345678", "250002", ORDER, tracking_id="t-2")


async def test_development_mode_only_reaches_admins(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    otp = {"otp": "123456"}
    sent = await client.send_zns(token, DEMO_ADMIN_PHONE, "250001", otp, "dev-1", True)
    assert sent.msg_id
    with pytest.raises(ZaloRequestError) as refused:
        await client.send_zns(token, "84912345678", "250001", otp, "dev-2", development=True)
    assert refused.value.zalo_error == -127
    assert (await client.zns_quota(token)).remaining_quota == 500


async def test_quota_and_night_window(client: ZaloClient, fake: SandboxControl, token: str) -> None:
    otp = {"otp": "123456"}
    await fake.knobs(night_window=True)
    with pytest.raises(ZaloRequestError) as night:
        await client.send_zns(token, "84912345678", "250001", otp, "n-1")
    assert night.value.zalo_error == -133
    await fake.knobs(night_window=False, zns_quota={"remaining": 0})
    with pytest.raises(ZaloRequestError) as spent:
        await client.send_zns(token, "84912345678", "250001", otp, "n-2")
    assert spent.value.zalo_error == -144

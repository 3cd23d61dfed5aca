from __future__ import annotations

import pytest

from zalo.client import ZaloClient
from zalo.errors import ZaloAuthError, ZaloRequestError
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_APP_ID, DEMO_OA_ID

FIRST_USER = "2512523625412515"  # "Nguyễn Văn An" in the demo seed


async def test_token_expires_after_25_hours_of_fake_clock(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await client.get_oa(token)
    await fake.advance(25 * 3600 + 1)

    with pytest.raises(ZaloAuthError) as openapi:
        await client.get_oa(token)
    assert openapi.value.zalo_error == -216
    assert not openapi.value.transient

    with pytest.raises(ZaloAuthError) as zns:
        await client.zns_quota(token)
    assert zns.value.zalo_error == -124
    # Auth errors are not retried: one request each.
    assert client.calls["GET /v2.0/oa/getoa"] == 2
    assert client.calls["GET /message/quota"] == 1


async def test_revoked_grant_answers_220(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await fake.knobs(revoke_grant={"oa_id": DEMO_OA_ID})
    with pytest.raises(ZaloAuthError) as revoked:
        await client.get_oa(token)
    assert revoked.value.zalo_error == -220


async def test_getoa(client: ZaloClient, token: str) -> None:
    oa = await client.get_oa(token)
    assert (oa.oa_id, oa.name, oa.num_follower) == (DEMO_OA_ID, "demo OA", 120)


async def test_paging_120_followers_in_pages_of_50(client: ZaloClient, token: str) -> None:
    seen: list[str] = []
    offset, pages = 0, 0
    while True:
        page = await client.list_followers(token, offset=offset, count=50)
        assert page.total == 120
        seen += page.user_ids
        pages += 1
        offset += page.count
        if offset >= page.total:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert seen[0] == FIRST_USER


async def test_follower_page_over_50_is_refused(client: ZaloClient, token: str) -> None:
    with pytest.raises(ZaloRequestError) as refused:
        await client.list_followers(token, count=51)
    assert refused.value.zalo_error == -210
    assert client.calls["GET /v3.0/oa/user/getlist"] == 1


async def test_follower_filters(client: ZaloClient, token: str) -> None:
    vip = await client.list_followers(token, tag_name="vip")
    assert vip.total == 12
    recent = await client.list_followers(token, last_interaction_period="L7D")
    assert recent.total == 112
    with pytest.raises(ZaloRequestError) as bad:
        await client.list_followers(token, last_interaction_period="LAST_WEEK")
    assert bad.value.zalo_error == -201


async def test_user_detail(client: ZaloClient, token: str) -> None:
    user = await client.user_detail(token, FIRST_USER)
    assert user.display_name == "Nguyễn Văn An"
    assert user.user_is_follower
    assert "vip" in user.tags_and_notes_info.tag_names
    with pytest.raises(ZaloRequestError) as unknown:
        await client.user_detail(token, "42")
    assert unknown.value.zalo_error == -201


@pytest.mark.parametrize("id_field", ["message_id", "msg_id"])
async def test_conversation_and_recent_chat(
    client: ZaloClient, fake: SandboxControl, token: str, id_field: str
) -> None:
    await fake.knobs(conversation_id_field=id_field)
    inbound = await fake.emit(
        "user_send_text", oa_id=DEMO_OA_ID, user_id=FIRST_USER, text="Xin chào shop"
    )
    sent = await client.send_text(token, FIRST_USER, "Chào bạn, shop có thể giúp gì?")

    rows = await client.conversation(token, FIRST_USER, count=10)
    assert [row.message_id for row in rows] == [
        sent.message_id,
        inbound["payload"]["message"]["msg_id"],
    ]
    assert [row.from_user for row in rows] == [False, True]
    assert rows[1].message == "Xin chào shop"

    recent = await client.list_recent_chat(token)
    assert [row.message_id for row in recent] == [sent.message_id]


async def test_conversation_pages_are_capped_at_10(client: ZaloClient, token: str) -> None:
    for call in (
        client.conversation(token, FIRST_USER, count=11),
        client.list_recent_chat(token, count=11),
    ):
        with pytest.raises(ZaloRequestError) as refused:
            await call
        assert refused.value.zalo_error == -210


async def test_tags(client: ZaloClient, token: str) -> None:
    assert set(await client.get_tags(token)) == {"vip", "khách mới"}
    await client.tag_follower(token, FIRST_USER, "đã mua")
    assert "đã mua" in await client.get_tags(token)
    assert (await client.list_followers(token, tag_name="đã mua")).user_ids == [FIRST_USER]
    await client.untag_follower(token, FIRST_USER, "đã mua")
    assert (await client.list_followers(token, tag_name="đã mua")).total == 0
    await client.remove_tag(token, "vip")
    assert "vip" not in await client.get_tags(token)
    with pytest.raises(ZaloRequestError):
        await client.remove_tag(token, "vip")


async def test_api_url_replaces_the_openapi_base_for_one_call(
    sandbox: SandboxServer, fake: SandboxControl, token: str
) -> None:
    unreachable = "http://127.0.0.1:9/nowhere"
    async with ZaloClient(sandbox.oauth_base_url, unreachable, sandbox.zns_base_url) as zalo:
        oa = await zalo.get_oa(token, app_id=DEMO_APP_ID, api_url=sandbox.openapi_base_url)
    assert oa.oa_id == DEMO_OA_ID

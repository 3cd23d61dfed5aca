from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.zalo.conftest import make_client
from zalo import pkce
from zalo.client import ZaloClient
from zalo.errors import ZaloTokenError
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_OA_ID, DEMO_REDIRECT_URI


async def _consent(url: str) -> httpx.URL:
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302
    return httpx.URL(answer.headers["location"])


async def _authorize(client: ZaloClient) -> tuple[str, str]:
    verifier, state = pkce.new_verifier(), pkce.new_state()
    url = client.permission_url(DEMO_APP_ID, DEMO_REDIRECT_URI, pkce.challenge(verifier), state)
    callback = await _consent(url)
    assert str(callback).startswith(DEMO_REDIRECT_URI)
    assert callback.params["state"] == state
    assert callback.params["oa_id"] == DEMO_OA_ID
    return callback.params["code"], verifier


async def test_oauth_round_trip_with_pkce_and_rotating_refresh(
    client: ZaloClient, fake: SandboxControl
) -> None:
    code, verifier = await _authorize(client)

    pair = await client.exchange_code(DEMO_APP_ID, DEMO_APP_SECRET, code, verifier)
    assert pair.expires_in == 90_000
    assert pair.refresh_token
    assert (await client.get_oa(pair.access_token)).oa_id == DEMO_OA_ID

    with pytest.raises(ZaloTokenError):
        await client.exchange_code(DEMO_APP_ID, DEMO_APP_SECRET, code, verifier)

    rotated = await client.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair.refresh_token)
    assert rotated.refresh_token not in (None, pair.refresh_token)
    assert rotated.access_token != pair.access_token

    with pytest.raises(ZaloTokenError) as refused:
        await client.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair.refresh_token)
    assert refused.value.zalo_error == -14014
    assert not refused.value.transient

    state = await fake.state()
    assert state["refresh_token_uses"][pair.refresh_token] == 1
    assert state["refresh_token_attempts"][pair.refresh_token] == 2
    assert (await client.get_oa(rotated.access_token)).name == "demo OA"
    assert client.calls["POST /v4/oa/access_token"] == 4


@pytest.mark.parametrize(
    ("app_id", "redirect_uri", "error_code"),
    [
        ("999", DEMO_REDIRECT_URI, "-14002"),
        (DEMO_APP_ID, "https://evil.example/callback", "-14003"),
    ],
)
async def test_permission_rejects_unknown_app_or_redirect(
    client: ZaloClient, fake: SandboxControl, app_id: str, redirect_uri: str, error_code: str
) -> None:
    url = client.permission_url(app_id, redirect_uri, pkce.challenge(pkce.new_verifier()), "s")
    page = await _consent(url)
    assert page.path.endswith("/v4/permission/error")
    assert page.params["error_code"] == error_code


async def test_code_exchange_checks_the_pkce_verifier(
    client: ZaloClient, fake: SandboxControl
) -> None:
    code, _ = await _authorize(client)
    with pytest.raises(ZaloTokenError) as refused:
        await client.exchange_code(DEMO_APP_ID, DEMO_APP_SECRET, code, pkce.new_verifier())
    assert refused.value.zalo_error == -14006


async def test_token_endpoint_wants_the_app_secret(
    client: ZaloClient, fake: SandboxControl
) -> None:
    pair = await fake.tokens(DEMO_APP_ID)
    with pytest.raises(ZaloTokenError) as refused:
        await client.refresh_token(DEMO_APP_ID, "not-the-secret", pair["refresh_token"])
    assert refused.value.zalo_error == -14004
    assert (await fake.state())["refresh_token_uses"][pair["refresh_token"]] == 0


@pytest.mark.parametrize(
    ("fault", "code", "transient"),
    [
        ("empty", 0, False),
        ("html", 0, False),
        ("quoted_error", -14014, False),
        ("no_access_token", 0, False),
        ("http500", 0, True),
    ],
)
async def test_every_token_endpoint_failure_is_a_token_error(
    client: ZaloClient, fake: SandboxControl, fault: str, code: int, transient: bool
) -> None:
    pair = await fake.tokens(DEMO_APP_ID)
    await fake.knobs(token_fault=fault)
    with pytest.raises(ZaloTokenError) as failed:
        await client.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair["refresh_token"])
    assert failed.value.zalo_error == code
    assert failed.value.transient is transient
    assert client.errors["POST /v4/oa/access_token", code] == 1


async def test_expired_refresh_token_is_refused(client: ZaloClient, fake: SandboxControl) -> None:
    pair = await fake.tokens(DEMO_APP_ID)
    await fake.advance(91 * 86_400)
    with pytest.raises(ZaloTokenError) as refused:
        await client.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair["refresh_token"])
    assert refused.value.zalo_error == -14014


async def test_slow_token_endpoint_times_out_after_spending_the_token(
    sandbox: SandboxServer, fake: SandboxControl
) -> None:
    pair = await fake.tokens(DEMO_APP_ID)
    await fake.knobs(token_fault="slow:0.6", token_fault_count=1)
    async with make_client(sandbox, timeout=0.2) as impatient:
        with pytest.raises(ZaloTokenError) as lost:
            await impatient.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair["refresh_token"])
    assert lost.value.transient
    # The answer was lost but Zalo spent the token: why refreshes need a lock longer than this.
    for _ in range(40):
        if (await fake.state())["refresh_token_uses"][pair["refresh_token"]] == 1:
            break
        await asyncio.sleep(0.05)
    assert (await fake.state())["refresh_token_uses"][pair["refresh_token"]] == 1


async def test_missing_refresh_token_keeps_the_old_one_usable(
    client: ZaloClient, fake: SandboxControl
) -> None:
    pair = await fake.tokens(DEMO_APP_ID)
    await fake.knobs(token_fault="missing_refresh", token_fault_count=1)
    partial = await client.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair["refresh_token"])
    assert partial.refresh_token is None
    assert partial.access_token
    again = await client.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair["refresh_token"])
    assert again.refresh_token


async def test_expires_in_may_be_a_number(client: ZaloClient, fake: SandboxControl) -> None:
    pair = await fake.tokens(DEMO_APP_ID)
    await fake.knobs(expires_in_number=True)
    fresh = await client.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, pair["refresh_token"])
    assert fresh.expires_in == 90_000

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from tests.zalo.conftest import RATE_WINDOW_SECONDS, make_client
from zalo.client import ZaloClient
from zalo.errors import ZaloRateLimited, ZaloTransientError
from zalo.limiter import RateLimiter
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_OA_ID

USER = "2512523625412515"


async def _at_the_start_of_a_minute(fake: SandboxControl) -> None:
    """Move the sandbox clock to one second into a minute: its rate limit counts calls in
    fixed minute windows of that clock, so a test whose calls straddled a minute's end would
    see its count start again (and the call it expects refused go through)."""
    now = int((await fake.advance(0))["now_ms"]) / 1000  # the sandbox answers it as a string
    await fake.advance(60 - now % 60 + 1)


async def test_rate_limit_answers_32_with_headers(
    sandbox: SandboxServer, fake: SandboxControl, token: str
) -> None:
    await fake.knobs(rate_limit_per_minute=2)
    await _at_the_start_of_a_minute(fake)
    async with httpx.AsyncClient(
        base_url=sandbox.openapi_base_url, headers={"access_token": token}
    ) as raw:
        answers = [await raw.get("/v2.0/oa/getoa") for _ in range(3)]
    assert [a.headers["X-RateLimit-Remain"] for a in answers] == ["1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"2"}
    assert [a.json()["error"] for a in answers] == [0, 0, -32]
    assert answers[2].status_code == 200


async def test_client_waits_out_the_window_then_gives_up_on_32(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await fake.knobs(rate_limit_per_minute=2)
    await _at_the_start_of_a_minute(fake)
    await client.get_oa(token)
    await client.get_oa(token)  # X-RateLimit-Remain: 0 now holds the bucket for a window

    started = time.monotonic()
    with pytest.raises(ZaloRateLimited) as limited:
        await client.get_oa(token)
    assert time.monotonic() - started >= RATE_WINDOW_SECONDS * 0.9
    assert limited.value.zalo_error == -32
    assert limited.value.transient
    assert client.calls["GET /v2.0/oa/getoa"] == 2 + 3

    await fake.advance(60)
    assert (await client.get_oa(token)).oa_id == DEMO_OA_ID


async def test_token_bucket_paces_calls_per_key() -> None:
    limiter = RateLimiter(3, window_seconds=0.3)
    started = time.monotonic()
    for _ in range(3):
        await limiter.acquire("app-a")
    assert time.monotonic() - started < 0.05
    await limiter.acquire("app-b")
    await limiter.acquire("app-a")
    assert 0.05 < time.monotonic() - started < 0.3


async def test_remain_zero_holds_the_key_for_a_window() -> None:
    limiter = RateLimiter(100, window_seconds=0.2)
    limiter.observe("app", limit=100, remain=1)
    limiter.observe("app", limit=100, remain=0)
    started = time.monotonic()
    await limiter.acquire("app")
    assert 0.15 < time.monotonic() - started < 0.4


async def test_http_500_on_send_is_retried_and_sent_once(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await fake.knobs(fail_next_sends=2, fail_mode="http500")
    sent = await client.send_text(token, USER, "Lần thứ ba mới được")
    assert sent.message_id
    assert client.calls["POST /v3.0/oa/message/cs"] == 3
    assert sum(n for (e, _), n in client.errors.items() if e == "POST /v3.0/oa/message/cs") == 2
    state = await fake.state()
    assert state["oa_message_counts"] == {f"{USER}:Lần thứ ba mới được": 1}
    assert state["calls"]["POST /openapi/v3.0/oa/message/cs"] == 3


async def test_unknown_error_100_is_transient_but_left_to_the_caller(
    client: ZaloClient, fake: SandboxControl, token: str
) -> None:
    await fake.knobs(fail_next_sends=1, fail_mode="-100")
    with pytest.raises(ZaloTransientError) as failed:
        await client.send_text(token, USER, "Xin chào")
    assert failed.value.zalo_error == -100
    assert failed.value.transient
    assert client.calls["POST /v3.0/oa/message/cs"] == 1
    await client.send_text(token, USER, "Xin chào")
    assert (await fake.state())["oa_message_counts"] == {f"{USER}:Xin chào": 1}


async def test_timeouts_retry_reads_but_not_sends(
    sandbox: SandboxServer, fake: SandboxControl, token: str
) -> None:
    await fake.knobs(slow_seconds=0.4)
    async with make_client(sandbox, timeout=0.15) as impatient:
        with pytest.raises(ZaloTransientError):
            await impatient.get_oa(token)
        assert impatient.calls["GET /v2.0/oa/getoa"] == 3
        with pytest.raises(ZaloTransientError):
            await impatient.send_text(token, USER, "Có thể đã đi")
        assert impatient.calls["POST /v3.0/oa/message/cs"] == 1
    # Zalo may act on a request whose answer was lost; that is why sends are not repeated.
    for _ in range(40):
        if (await fake.state())["oa_messages"]:
            break
        await asyncio.sleep(0.05)
    assert len((await fake.state())["oa_messages"]) == 1


async def test_unreachable_zalo_is_transient_and_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with ZaloClient(dead, dead, dead, retry_wait_seconds=0.01) as zalo:
        with pytest.raises(ZaloTransientError) as failed:
            await zalo.send_text("token", USER, "Alo")
    assert isinstance(failed.value.__cause__, httpx.ConnectError)
    assert zalo.calls["POST /v3.0/oa/message/cs"] == 3

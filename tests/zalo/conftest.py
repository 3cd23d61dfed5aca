from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from zalo.client import ZaloClient
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_APP_ID

# Short waits keep retries and the rate-limit window fast; the behaviour is the same.
RATE_WINDOW_SECONDS = 0.3


def make_client(sandbox: SandboxServer, **options: float) -> ZaloClient:
    settings: dict[str, float] = {
        "timeout": 5.0,
        "retry_wait_seconds": 0.01,
        "rate_limit_window_seconds": RATE_WINDOW_SECONDS,
        **options,
    }
    return ZaloClient(
        sandbox.oauth_base_url,
        sandbox.openapi_base_url,
        sandbox.zns_base_url,
        timeout=settings["timeout"],
        retry_wait_seconds=settings["retry_wait_seconds"],
        rate_limit_window_seconds=settings["rate_limit_window_seconds"],
    )


@pytest.fixture
async def client(sandbox: SandboxServer, fake: SandboxControl) -> AsyncIterator[ZaloClient]:
    async with make_client(sandbox) as zalo:
        yield zalo


@pytest.fixture
async def token(fake: SandboxControl) -> str:
    pair = await fake.tokens(DEMO_APP_ID)
    return str(pair["access_token"])

"""Authorizing an OA and keeping its token fresh, against the sandbox over HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import sqlalchemy as sa

import models
from resolvers import lease
from resolvers.errors import UpstreamZalo
from resolvers.oa_token import INTERRUPTED, TokenKeeper, _fingerprint, load_account
from resolvers.resources import OFFICIAL_ACCOUNTS
from tests.conftest import Api
from tests.factories import oa
from zalo.client import ZaloClient
from zalo.errors import ZaloAuthError
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_OA_ID, DEMO_REDIRECT_URI

AUTHORIZE = """mutation($code: String!) { authorizeOfficialAccount(code: $code) { url state } }"""
ACCOUNT = """query($code: String!) { officialAccount(code: $code) { status accessToken
  refreshToken accessTokenExpired refreshTokenExpired lastRefreshed oaId verifierCode } }"""


async def demo_account(api: Api, code: str = "DEMO") -> None:
    await oa(
        api.backend.database,
        code,
        app_id=DEMO_APP_ID,
        app_secret=DEMO_APP_SECRET,
        callback_url=DEMO_REDIRECT_URI,
        status=0,
    )


async def consent(api: Api, sandbox: SandboxServer, code: str = "DEMO") -> dict[str, str]:
    """Open the permission URL as the OA admin would; return the callback's query."""
    started = (await api.data(AUTHORIZE, {"code": code}))["authorizeOfficialAccount"]
    url = urlparse(started["url"])
    assert url.geturl().startswith(sandbox.oauth_base_url + "/v4/oa/permission")
    query = parse_qs(url.query)
    assert query["state"] == [started["state"]] and len(query["code_challenge"][0]) == 43
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(started["url"], follow_redirects=False)
    assert answer.status_code in (302, 303, 307), answer.text
    redirect = urlparse(answer.headers["location"])
    return {k: v[0] for k, v in parse_qs(redirect.query).items()}


async def callback(api: Api, params: dict[str, str]) -> httpx.Response:
    return await api.client.get("/v4/zalo-oa/oauth/callback", params=params)


async def account(api: Api, code: str = "DEMO") -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(ACCOUNT, {"code": code}))["officialAccount"]
    return result


async def test_pkce_round_trip_stores_encrypted_tokens(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await demo_account(api)
    params = await consent(api, sandbox)
    assert params["oa_id"] == DEMO_OA_ID
    page = await callback(api, params)
    assert page.status_code == 200 and "authorized" in page.text
    stored = await account(api)
    assert stored["status"] == 1 and stored["oaId"] == DEMO_OA_ID
    assert stored["accessToken"].startswith("****") and stored["refreshToken"].startswith("****")
    assert stored["accessTokenExpired"].endswith("Z") and stored["refreshTokenExpired"]
    assert stored["verifierCode"].startswith("****")
    # The same callback again (a replayed code and state) is refused and changes nothing.
    again = await callback(api, params)
    assert again.status_code == 400 and "already completed" in again.text
    assert await account(api) == stored


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": "forged-state"}, "unknown state"),
        ({"state": ""}, "no state"),
        ({"code": ""}, "no code"),
        ({"oa_id": "999999"}, "is OA"),
    ],
)
async def test_bad_callbacks_store_nothing(
    api: Api, fake: SandboxControl, sandbox: SandboxServer, change: dict[str, str], message: str
) -> None:
    await demo_account(api)
    await api.data(
        'mutation($id: String) { updateOfficialAccounts(input: [{code: "DEMO", oaId: $id}]) '
        "{ affectedCount } }",
        {"id": DEMO_OA_ID},
    )
    params = {**await consent(api, sandbox), **change}
    page = await callback(api, params)
    assert page.status_code == 400 and message in page.text, page.text
    stored = await account(api)
    assert stored["status"] == 0 and stored["accessToken"] is None


@pytest.mark.parametrize("fault", ["empty", "html", "quoted_error", "no_access_token", "http500"])
async def test_token_endpoint_failures_store_nothing(
    api: Api, fake: SandboxControl, sandbox: SandboxServer, fault: str
) -> None:
    await demo_account(api)
    params = await consent(api, sandbox)
    await fake.knobs(token_fault=fault)
    page = await callback(api, params)
    assert page.status_code == 400 and "Nothing was stored" in page.text
    assert (await account(api))["accessToken"] is None


async def authorized(api: Api, fake: SandboxControl, sandbox: SandboxServer) -> None:
    await demo_account(api)
    page = await callback(api, await consent(api, sandbox))
    assert page.status_code == 200


@pytest.mark.parametrize("fault", ["empty", "html", "quoted_error", "no_access_token"])
async def test_failed_refresh_keeps_tokens_and_marks_account(
    api: Api, fake: SandboxControl, sandbox: SandboxServer, fault: str
) -> None:
    await authorized(api, fake, sandbox)
    db = api.backend.database
    async with db.sessions() as session:
        before = await load_account(session, "DEMO")
    await fake.knobs(token_fault=fault)
    errors = await api.errors('mutation { refreshOfficialAccountToken(code: "DEMO") { status } }')
    assert errors[0]["extensions"]["code"] == "ZALO_ERROR"
    async with db.sessions() as session:
        after = await load_account(session, "DEMO")
        kinds = (await session.execute(sa.select(models.Event.__table__.c.kind))).scalars().all()  # type: ignore[attr-defined]
    assert (after.access_token, after.refresh_token) == (before.access_token, before.refresh_token)
    assert after.status == 2 and "token.refresh_failed" in kinds


async def test_refresh_rotates_and_records_the_spent_token(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await authorized(api, fake, sandbox)
    async with api.backend.database.sessions() as session:
        before = await load_account(session, "DEMO")
    result = await api.data(
        'mutation { refreshOfficialAccountToken(code: "DEMO") { status lastRefreshed } }'
    )
    assert result["refreshOfficialAccountToken"]["status"] == 1
    async with api.backend.database.sessions() as session:
        after = await load_account(session, "DEMO")
        table = OFFICIAL_ACCOUNTS.table
        query = sa.select(table.c.last_refresh_token).where(table.c.code == "DEMO")
        row = (await session.execute(query)).one()
    assert after.refresh_token != before.refresh_token
    assert row.last_refresh_token == before.refresh_token
    state = await fake.state()
    assert state["refresh_token_uses"][before.refresh_token] == 1


def keeper(api: Api, sandbox: SandboxServer, holder: str) -> TokenKeeper:
    client = ZaloClient(
        sandbox.oauth_base_url,
        sandbox.openapi_base_url,
        sandbox.zns_base_url,
        timeout=2.0,
        retry_wait_seconds=0.01,
    )
    return TokenKeeper(api.backend.database.sessions, client, http_timeout=2.0, holder=holder)


async def test_concurrent_calls_at_expiry_refresh_exactly_once(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await authorized(api, fake, sandbox)
    # The access token dies at Zalo (fake clock) while our stored expiry still looks fine,
    # so every call gets -216 and asks for a forced refresh at the same moment.
    await fake.advance(26 * 3600)
    processes = [keeper(api, sandbox, "process-a"), keeper(api, sandbox, "process-b")]

    async def call(index: int) -> str:
        tokens = processes[index % 2]
        info = await tokens.call("DEMO", lambda a: tokens.client.get_oa(a.access_token or ""))
        return info.oa_id

    results = await asyncio.gather(*(call(i) for i in range(20)))
    assert results == [DEMO_OA_ID] * 20
    state = await fake.state()
    assert sum(state["refresh_token_attempts"].values()) == 1
    assert sum(p.refreshes for p in processes) == 1
    for p in processes:
        await p.client.close()


async def test_second_auth_failure_is_not_retried_forever(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await authorized(api, fake, sandbox)
    await fake.knobs(revoke_grant={"oa_id": DEMO_OA_ID})
    tokens = keeper(api, sandbox, "p")
    with pytest.raises((ZaloAuthError, UpstreamZalo)):
        await tokens.call("DEMO", lambda a: tokens.client.get_oa(a.access_token or ""))
    calls = (await fake.state())["calls"]
    assert calls.get("GET /v2.0/oa/getoa", 0) <= 2
    await tokens.client.close()


async def test_interrupted_refresh_is_detected_and_explained(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    """A process that spent the refresh token at Zalo and died before committing."""
    await authorized(api, fake, sandbox)
    db = api.backend.database
    async with db.sessions() as session:
        before = await load_account(session, "DEMO")
    assert before.refresh_token
    held = await lease.try_acquire(
        db.sessions,
        "oa-token:DEMO",
        "dead-process",
        timedelta(milliseconds=1),
        note=INTERRUPTED + _fingerprint(before.refresh_token),
    )
    assert held is not None
    async with ZaloClient(
        sandbox.oauth_base_url, sandbox.openapi_base_url, sandbox.zns_base_url
    ) as zalo:
        await zalo.refresh_token(DEMO_APP_ID, DEMO_APP_SECRET, before.refresh_token)
    await asyncio.sleep(0.05)  # the dead holder's lease runs out
    errors = await api.errors('mutation { refreshOfficialAccountToken(code: "DEMO") { status } }')
    assert "interrupted" in errors[0]["message"] and "authorize" in errors[0]["message"]
    assert (await account(api))["status"] == 2
    # Recoverable: authorizing again brings the account back.
    page = await callback(api, await consent(api, sandbox))
    assert page.status_code == 200 and (await account(api))["status"] == 1


async def test_proactive_refresh_pass(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await authorized(api, fake, sandbox)
    tokens = keeper(api, sandbox, "p")
    assert await tokens.refresh_due() == {}
    tokens.margin = timedelta(hours=30)  # everything expiring within 30 h is due
    assert await tokens.refresh_due() == {"DEMO": "refreshed"}
    await tokens.client.close()

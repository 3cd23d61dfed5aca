"""The ``messageEvents`` subscription over graphql-transport-ws, in one process and across two."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.conftest import Api
from tests.factories import insert, oa
from tests.flows.serving import (
    USER,
    ModuleProcess,
    demo_oa,
    eventually,
    fresh_accounts,  # noqa: F401  (an autouse fixture)
    serving,
    signed,
    user_text,
)
from zalo.sandbox import SandboxControl
from zalo.sandbox.seed import DEMO_OA_ID
from zalo_oa import hooks

HOOK = "/v4/zalo-oa/hooks"
SUBSCRIPTION = """subscription($oa: String) { messageEvents(oa: $oa) { kind message {
  code direction status text zaloMessageId zaloOaCode follower { zalo } } } }"""


@contextlib.asynccontextmanager
async def subscribed(
    base_url: str,
    variables: dict[str, Any],
    *,
    init: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[ClientConnection]:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers=headers or {},
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": init or {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": SUBSCRIPTION, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        yield ws


async def next_event(ws: ClientConnection, within: float = 10.0) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), within))
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message["payload"]
    event: dict[str, Any] = message["payload"]["data"]["messageEvents"]
    return event


async def test_live_events_in_one_process(api: Api, fake: SandboxControl) -> None:
    await demo_oa(api.backend.database)
    await oa(api.backend.database, "OTHER", oa_id="5550001", app_id="1234567890", oa_secret_key="k")
    await insert(
        api.backend.database,
        "messages",
        [
            {
                "code": "OUT1",
                "zalo_oa": "DEMO",
                "zalo_user_id": USER,
                "direction": "out",
                "channel": "oa",
                "status": "sent",
                "zalo_message_id": "z-out-1",
                "text": "Cảm ơn",
            }
        ],
    )
    services = api.backend.services
    token = api.tokens["read"]
    async with serving(api.backend.app) as url, hooks.background(services):
        async with subscribed(url, {"oa": "DEMO"}, init={"token": token}) as ws:
            await eventually(lambda: _true(services.bus.subscribers == 1))
            await fake.webhook_target(f"{url}{HOOK}")
            other, other_headers = signed(
                {**user_text("không phải DEMO", "o-1"), "recipient": {"id": "5550001"}}, secret="k"
            )
            async with httpx.AsyncClient(base_url=url) as client:
                assert (
                    await client.post(HOOK, content=other, headers=other_headers)
                ).status_code == 200
            await fake.emit(
                "user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="Còn hàng không?"
            )
            received = await next_event(ws)
            assert received["kind"] == "RECEIVED"
            assert received["message"]["text"] == "Còn hàng không?"
            assert (
                received["message"]["direction"] == "in"
                and received["message"]["zaloOaCode"] == "DEMO"
            )
            assert received["message"]["follower"] == {"zalo": USER}

            await fake.emit(
                "user_received_message", oa_id=DEMO_OA_ID, user_id=USER, msg_id="z-out-1"
            )
            changed = await next_event(ws)
            assert changed["kind"] == "STATUS_CHANGED"
            assert (changed["message"]["code"], changed["message"]["status"]) == (
                "OUT1",
                "delivered",
            )

            await fake.emit(
                "oa_send_text", oa_id=DEMO_OA_ID, user_id=USER, msg_id="z-admin", text="Có ạ"
            )
            sent = await next_event(ws)
            assert (sent["kind"], sent["message"]["zaloMessageId"]) == ("SENT", "z-admin")
        await eventually(lambda: _true(services.bus.subscribers == 0))


async def _true(value: bool) -> bool:
    return value


@pytest.mark.parametrize("how", ["init", "header"])
async def test_subscription_authentication(api: Api, how: str) -> None:
    await demo_oa(api.backend.database)
    async with serving(api.backend.app) as url:
        async with subscribed(url, {}) as ws:  # no token at all
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        token = api.tokens["read"]
        auth = (
            {"init": {"token": token}}
            if how == "init"
            else {"headers": {"Authorization": f"Bearer {token}"}}
        )
        async with subscribed(url, {"oa": "NOPE"}, **auth) as ws:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_live_events_across_processes(api: Api) -> None:
    """A subscriber on one instance sees a message that another instance received."""
    if api.backend.name != "postgres":
        pytest.skip("across processes needs PostgreSQL (LISTEN/NOTIFY); SQLite is in-process")
    await demo_oa(api.backend.database)
    first, second = ModuleProcess(api.backend.settings), ModuleProcess(api.backend.settings)
    try:
        await first.ready()
        await second.ready()
        async with subscribed(first.base_url, {}, init={"token": api.tokens["read"]}) as ws:
            # Until the subscription is live, an event can slip by: send until one arrives.
            async with httpx.AsyncClient(base_url=second.base_url) as client:
                for attempt in range(20):
                    body, headers = signed(user_text(f"qua tiến trình {attempt}", f"x-{attempt}"))
                    assert (
                        await client.post(f"{HOOK}/DEMO", content=body, headers=headers)
                    ).status_code == 200
                    try:
                        event = await next_event(ws, within=1.0)
                        break
                    except TimeoutError:
                        continue
                else:
                    raise AssertionError("no live event reached the other process")
        assert event["kind"] == "RECEIVED" and event["message"]["text"].startswith("qua tiến trình")
    finally:
        first.stop()
        second.stop()

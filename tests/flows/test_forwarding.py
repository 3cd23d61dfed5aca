"""Forwarding to other modules: Webhook and Callback routes and the OA's Forward URL, over HTTP,
at least once, signed, every attempt on record."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

import models
from resolvers import events
from resolvers.forwarding import Forwarder
from tests.conftest import Api
from tests.factories import insert, oa
from tests.flows.serving import (
    USER,
    FlakyReceiver,
    demo_oa,
    fresh_accounts,  # noqa: F401  (an autouse fixture)
    serving,
)
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_OA_ID

HOOK = "/v4/zalo-oa/hooks/DEMO"
INBOX = "/__fake/webhook/inbox"
DELIVERIES = """query($filter: DeliveryFilter) { deliveries(filter: $filter) { totalCount items {
  id routeKind routeCode event oaCode status attempts lastStatusCode lastError nextAttemptAt
  created deliveredAt attemptLog { statusCode error durationMs } } } }"""
REDELIVER = """mutation($id: ID!) { redeliver(id: $id) { id status attempts nextAttemptAt } }"""


def forwarder(api: Api, **options: Any) -> Forwarder:
    """A forwarder of the test's own, with retries in milliseconds instead of seconds."""
    return Forwarder(
        api.backend.database.sessions,
        is_postgres=api.backend.name == "postgres",
        retry_base=options.pop("retry_base", 0.02),
        **options,
    )


async def route(api: Api, resource: str, code: str, url: str, **values: Any) -> None:
    await insert(
        api.backend.database,
        resource,
        [{"code": code, "value": url, "type": "http", "is_applied": 1, "is_public": 1, **values}],
    )


async def deliveries(api: Api, **filter: Any) -> list[dict[str, Any]]:
    found = await api.data(DELIVERIES, {"filter": filter or None})
    items: list[dict[str, Any]] = found["deliveries"]["items"]
    return items


async def drain(api: Api, forwarding: Forwarder, rounds: int = 60) -> None:
    """Apply and forward until nothing is pending or waiting (retries included)."""
    for _ in range(rounds):
        await api.backend.services.applier.apply_pending()
        await forwarding.dispatch_pending()
        await forwarding.deliver_due()
        open_ = await deliveries(api, status={"in": ["PENDING", "FAILED"]})
        if not open_:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("deliveries still open")


def _valid(secret: str, item: dict[str, Any]) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), item["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(item["headers"]["x-zalooa-signature"], expected)


async def test_flaky_receiver_gets_each_event_once_accepted(
    api: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await demo_oa(
        api.backend.database, forward=sandbox.base_url + INBOX, forward_user_token="fw-token-1"
    )
    await oa(api.backend.database, "OTHER", oa_id="999")
    receiver = FlakyReceiver(500, 500, path="/zalo")
    forwarding = forwarder(api)
    try:
        async with serving(receiver.app) as target, serving(api.backend.app) as url:
            secret = {"oa": ["DEMO"], "secret": "s3cret", "headers": {"X-Team": "crm"}}
            await route(
                api,
                "webhooks",
                "W1",
                f"{target}/zalo",
                feature="user_send_*",
                is_public=0,
                extend_data=secret,
            )
            await route(api, "webhooks", "W-OFF", f"{target}/off", feature="*", is_applied=0)
            await route(
                api,
                "webhooks",
                "W-OTHER",
                f"{target}/other",
                feature="*",
                is_public=0,
                extend_data={"oa": ["OTHER"]},
            )
            await route(api, "webhooks", "W-FOLLOW", f"{target}/follow", feature="follow")
            await route(
                api,
                "callbacks",
                "C1",
                f"{target}/cb",
                feature="follower.*",
                extend_data={"secret": "cb-secret"},
            )
            await route(api, "callbacks", "C-ALL", f"{target}/all", feature="*")
            await fake.webhook_target(f"{url}{HOOK}")
            sent = await fake.emit(
                "user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="Đặt 2 áo"
            )
            await fake.emit("follow", oa_id=DEMO_OA_ID, user_id="8888000011112222")
            await drain(api, forwarding)
    finally:
        await forwarding.close()

    by_path: dict[str, list[dict[str, Any]]] = {}
    for item in receiver.seen:
        by_path.setdefault(item["path"], []).append(item)
    assert "/off" not in by_path and "/other" not in by_path
    tries = by_path["/zalo"]
    assert [t["status"] for t in tries] == [500, 500, 200]
    assert len({t["body"] for t in tries}) == 1  # the same bytes every time...
    assert len({t["headers"]["x-zalooa-delivery"] for t in tries}) == 1  # ...and the same id
    accepted = tries[-1]
    assert _valid("s3cret", accepted) and not _valid("other", accepted)
    assert accepted["headers"]["x-zalooa-event"] == "user_send_text"
    assert accepted["headers"]["x-team"] == "crm"
    body = json.loads(accepted["body"])
    assert body["event"] == "user_send_text" and body["oa"] == "DEMO"
    assert body["delivery"] == accepted["headers"]["x-zalooa-delivery"]
    assert body["receivedAt"].endswith("Z") and body["data"] == sent["payload"]

    # Module events go to Callback routes: follower.followed to both, message.received to none.
    [followed] = by_path["/cb"]
    assert followed["headers"]["x-zalooa-event"] == "follower.followed" and _valid(
        "cb-secret", followed
    )
    callback = json.loads(followed["body"])
    assert callback["data"]["Zalo"] == "8888000011112222" and callback["data"]["IsFollower"] == 1
    assert callback["occurredAt"].endswith("Z") and callback["oa"] == "DEMO"
    assert [json.loads(i["body"])["event"] for i in by_path["/all"]] == ["follower.followed"]
    assert [json.loads(i["body"])["event"] for i in by_path["/follow"]] == ["follow"]

    # The OA's Forward URL gets every raw event byte for byte, with its bearer token.
    inbox = await fake.inbox()
    raws = {item["body"] for item in inbox}
    assert sent["body"] in raws and len(inbox) == 2
    assert {item["headers"]["authorization"] for item in inbox} == {"Bearer fw-token-1"}

    [logged] = await deliveries(api, routeCode={"eq": "W1"})
    assert logged["id"] == accepted["headers"]["x-zalooa-delivery"]
    assert (logged["routeKind"], logged["status"], logged["attempts"]) == (
        "WEBHOOK",
        "DELIVERED",
        3,
    )
    assert [a["statusCode"] for a in logged["attemptLog"]] == [500, 500, 200]
    assert (
        logged["lastStatusCode"] == 200
        and logged["deliveredAt"]
        and logged["nextAttemptAt"] is None
    )
    assert {d["routeKind"] for d in await deliveries(api)} == {"WEBHOOK", "CALLBACK", "FORWARD"}
    failed_first = await deliveries(api, attempts={"gt": 1}, routeKind={"eq": "WEBHOOK"})
    assert [d["routeCode"] for d in failed_first] == ["W1"]


async def test_dead_after_the_window_then_redelivered(api: Api, fake: SandboxControl) -> None:
    await demo_oa(api.backend.database)
    receiver = FlakyReceiver(503)
    forwarding = forwarder(api, give_up_after=timedelta(0))
    try:
        async with serving(receiver.app) as target, serving(api.backend.app) as url:
            await route(api, "webhooks", "W1", f"{target}/zalo", feature="*")
            await fake.webhook_target(f"{url}{HOOK}")
            await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=USER, text="hi")
            await api.backend.services.applier.apply_pending()
            await forwarding.dispatch_pending()
            await forwarding.deliver_due()
            [dead] = await deliveries(api)
            assert (dead["status"], dead["attempts"], dead["lastStatusCode"]) == ("DEAD", 1, 503)
            assert dead["lastError"] == "HTTP 503" and dead["nextAttemptAt"] is None

            denied = await api.errors(REDELIVER, {"id": dead["id"]}, scope="write")
            assert denied[0]["extensions"]["code"] == "FORBIDDEN"
            missing = await api.errors(REDELIVER, {"id": "nope"})
            assert missing[0]["extensions"]["code"] == "NOT_FOUND"
            again = (await api.data(REDELIVER, {"id": dead["id"]}))["redeliver"]
            assert (again["id"], again["status"]) == (dead["id"], "PENDING")
            await forwarding.deliver_due()
    finally:
        await forwarding.close()
    [done] = await deliveries(api)
    assert (done["status"], done["attempts"]) == ("DELIVERED", 2)
    first, second = receiver.seen
    assert first["body"] == second["body"]
    assert (
        first["headers"]["x-zalooa-delivery"]
        == second["headers"]["x-zalooa-delivery"]
        == done["id"]
    )


async def test_delivery_filter_errors_are_bad_input(api: Api) -> None:
    errors = await api.errors(DELIVERIES, {"filter": {"status": {}}})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    page = await api.data(
        DELIVERIES, {"filter": {"or": [{"status": {"eq": "DEAD"}}, {"id": {"startsWith": "x"}}]}}
    )
    assert page["deliveries"] == {"totalCount": 0, "items": []}


async def test_an_event_survives_a_failing_dispatch_target(api: Api) -> None:
    """Module events emitted by others land in the outbox and are dispatched once."""
    await demo_oa(api.backend.database)
    receiver = FlakyReceiver()
    forwarding = forwarder(api)
    try:
        async with serving(receiver.app) as target:
            await route(api, "callbacks", "C1", f"{target}/cb", feature="token.*")
            async with api.backend.database.sessions() as session:
                await events.emit(session, "token.refreshed", "DEMO", {"code": "DEMO"})
                await session.commit()
            assert await forwarding.dispatch_pending() == 1
            assert await forwarding.dispatch_pending() == 0
            await forwarding.deliver_due()
    finally:
        await forwarding.close()
    [item] = receiver.seen
    assert json.loads(item["body"])["data"] == {"code": "DEMO"}
    async with api.backend.database.sessions() as session:
        table = models.Event.__table__  # type: ignore[attr-defined]
        left = await session.execute(sa.select(table.c.id).where(table.c.dispatched.is_(None)))
        assert left.first() is None

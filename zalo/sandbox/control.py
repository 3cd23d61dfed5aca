"""The ``/__fake`` control API: seed, clock, knobs, state, tokens and webhooks.

Bad requests answer HTTP 400 ``{"error": "<why>"}``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zalo.sandbox import webhook
from zalo.sandbox.state import ACCESS_TTL, KEEP_RECORDS, World
from zalo.sandbox.wire import json_response, world_of

Action = Callable[[Request, World, dict[str, Any]], Awaitable[Any]]


def _action(run: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return json_response(await run(request, world_of(request), body))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            return json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)

    return endpoint


async def _seed(request: Request, world: World, body: dict[str, Any]) -> Any:
    world.seed(body)
    return {"apps": list(world.apps), "oas": list(world.oas)}


async def _reset(request: Request, world: World, body: dict[str, Any]) -> Any:
    fresh = World()
    fresh.seed(body or request.app.state.seed or {})
    request.app.state.world = fresh
    return {"apps": list(fresh.apps), "oas": list(fresh.oas)}


async def _clock(request: Request, world: World, body: dict[str, Any]) -> Any:
    world.clock.offset += float(body.get("advance_seconds", 0))
    return {"now_ms": str(world.clock.now_ms()), "offset_seconds": world.clock.offset}


async def _knobs(request: Request, world: World, body: dict[str, Any]) -> Any:
    body = dict(body)
    revoke = body.pop("revoke_grant", None)
    quota = body.pop("zns_quota", None)
    world.knobs.update(body)
    if revoke is not None:
        oa_id = str(revoke["oa_id"])
        app_ids = [revoke["app_id"]] if "app_id" in revoke else list(world.apps)
        world.revoked.update((str(app_id), oa_id) for app_id in app_ids)
    if quota is not None:
        oas = [world.oas[quota["oa_id"]]] if "oa_id" in quota else list(world.oas.values())
        for oa in oas:
            oa.zns_daily_quota = int(quota.get("daily", oa.zns_daily_quota))
            oa.zns_remaining_quota = int(quota.get("remaining", oa.zns_remaining_quota))
    return {"knobs": world.knobs.as_dict()}


async def _tokens(request: Request, world: World, body: dict[str, Any]) -> Any:
    app = world.apps[str(body["app_id"])]
    expires_in = int(body.get("expires_in", ACCESS_TTL))
    return world.issue_tokens(app.app_id, str(body.get("oa_id", app.oa_id)), expires_in=expires_in)


async def _target(request: Request, world: World, body: dict[str, Any]) -> Any:
    url = body.get("url")
    if "app_id" in body:
        world.apps[str(body["app_id"])].webhook_url = url
    else:
        world.webhook_url = url
    return {"url": url}


async def _emit(request: Request, world: World, body: dict[str, Any]) -> Any:
    event = webhook.build(world, body)
    if body.get("hold"):
        world.held.append(event)
        return {"held": len(world.held), "payload": event.payload}
    return await webhook.deliver(world, event)


async def _flush(request: Request, world: World, body: dict[str, Any]) -> Any:
    events: list[webhook.Event] = list(world.held)
    world.held.clear()
    order = body.get("order", "fifo")
    if order == "reverse":
        events.reverse()
    elif order == "shuffle":
        random.shuffle(events)
    elif order != "fifo":
        raise ValueError("order must be fifo, reverse or shuffle")
    return {"deliveries": [await webhook.deliver(world, event) for event in events]}


async def inbox(request: Request) -> Response:
    """A webhook receiver for tests: records what arrives; ``?status=`` picks the answer."""
    world = world_of(request)
    if request.method == "GET":
        return json_response({"items": world.inbox})
    if request.method == "DELETE":
        world.inbox.clear()
        return json_response({"items": []})
    world.inbox.append({"headers": dict(request.headers), "body": (await request.body()).decode()})
    del world.inbox[:-KEEP_RECORDS]
    return json_response({"ok": True}, status=int(request.query_params.get("status", 200)))


async def state(request: Request) -> Response:
    return json_response(world_of(request).snapshot())


routes = [
    Route("/seed", _action(_seed), methods=["POST"]),
    Route("/reset", _action(_reset), methods=["POST"]),
    Route("/clock", _action(_clock), methods=["POST"]),
    Route("/knobs", _action(_knobs), methods=["POST"]),
    Route("/tokens", _action(_tokens), methods=["POST"]),
    Route("/state", state),
    Route("/webhook/target", _action(_target), methods=["POST"]),
    Route("/webhook/emit", _action(_emit), methods=["POST"]),
    Route("/webhook/flush", _action(_flush), methods=["POST"]),
    Route("/webhook/inbox", inbox, methods=["GET", "POST", "DELETE"]),
]

"""The sandbox's ASGI app: three Zalo hosts by path prefix plus the ``/__fake`` control API."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zalo.sandbox import control, oauth, openapi, zns
from zalo.sandbox.state import World
from zalo.sandbox.wire import json_response, world_of

_API_PREFIXES = ("/openapi/", "/zns/")


class _Observe:
    """Counts every Zalo call per ``METHOD path`` and applies the ``slow_seconds`` knob.

    The delay comes after the request was handled, before the answer: a client that gives up
    meanwhile has still had its call carried out, as with a real lost answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__fake"):
            await self.app(scope, receive, send)
            return
        world: World = scope["app"].state.world
        world.calls[f"{scope['method']} {scope['path']}"] += 1
        delay = world.knobs.slow_seconds if scope["path"].startswith(_API_PREFIXES) else 0.0

        async def send_late(message: Message) -> None:
            if message["type"] == "http.response.start" and delay > 0:
                await asyncio.sleep(delay)
            await send(message)

        await self.app(scope, receive, send_late)


async def _index(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    world = world_of(request)
    return json_response(
        {
            "service": "Zalo sandbox",
            "oauth_base_url": f"{base}/oauth",
            "openapi_base_url": f"{base}/openapi",
            "zns_base_url": f"{base}/zns",
            "control": f"{base}/__fake",
            "apps": list(world.apps),
            "oas": {oa.oa_id: oa.name for oa in world.oas.values()},
        }
    )


def create_app(seed: dict[str, Any] | None = None) -> Starlette:
    """A fresh fake Zalo; ``seed`` is loaded now and again on ``POST /__fake/reset``."""
    app = Starlette(
        routes=[
            Route("/", _index),
            Mount("/oauth", routes=oauth.routes),
            Mount("/openapi", routes=openapi.routes),
            Mount("/zns", routes=zns.routes),
            Mount("/__fake", routes=control.routes),
        ],
        middleware=[Middleware(_Observe)],
    )
    world = World()
    world.seed(seed or {})
    app.state.world = world
    app.state.seed = seed
    return app

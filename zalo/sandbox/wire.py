"""How the fake answers: Zalo's envelope, and the checks every OA/ZNS endpoint runs first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import Response

from zalo.sandbox.state import App, Oa, World
from zalo.signature import appsecret_proof

HTML_500 = (
    "<html><head><title>500 Internal Server Error</title></head><body>"
    "<center><h1>500 Internal Server Error</h1></center><hr><center>nginx</center>"
    "</body></html>"
)

ApiHost = Literal["openapi", "zns"]


class Fail(Exception):
    """A Zalo error answer: ``{"error": code, "message": message}`` with HTTP 200."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class _Http500(Exception):
    pass


@dataclass
class Reply:
    """A success whose envelope carries more than ``data`` (ZNS ``metadata``)."""

    data: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Caller:
    world: World
    app: App
    oa: Oa
    token: str
    background: BackgroundTasks


def world_of(request: Request) -> World:
    world: World = request.app.state.world
    return world


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def html_500(headers: dict[str, str] | None = None) -> Response:
    return Response(HTML_500, status_code=500, media_type="text/html", headers=headers)


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise Fail(-201, "body is invalid")
    if not isinstance(body, dict):
        raise Fail(-201, "body is invalid")
    return body


def data_param(request: Request) -> dict[str, Any]:
    """The one ``data`` query parameter of OA GET endpoints, as a JSON object."""
    raw = request.query_params.get("data")
    if raw is None:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Fail(-201, "data is invalid")
    if not isinstance(value, dict):
        raise Fail(-201, "data is invalid")
    return value


def int_field(params: dict[str, Any], name: str, default: int | None) -> int:
    value: Any = params.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Fail(-201, f"{name} is invalid")


def _authenticate(world: World, request: Request, host: ApiHost, headers: dict[str, str]) -> Caller:
    token = request.headers.get("access_token") or request.query_params.get("access_token") or ""
    grant = world.access.get(token)
    if host == "openapi":
        allowed, limit, remain = world.take_rate(grant.app_id if grant else "")
        headers["X-RateLimit-Limit"] = str(limit)
        headers["X-RateLimit-Remain"] = str(remain)
        if not allowed:
            raise Fail(-32, "The application has reached the request limit per minute")
    invalid = -216 if host == "openapi" else -124
    if grant is None or world.clock.now() >= grant.expires_at:
        raise Fail(invalid, "Access token is invalid")
    if (grant.app_id, grant.oa_id) in world.revoked:
        if host == "openapi":
            raise Fail(-220, "Access token is expired or removed")
        raise Fail(-124, "Access token is invalid")
    app = world.apps[grant.app_id]
    if world.knobs.require_appsecret_proof and request.headers.get(
        "appsecret_proof"
    ) != appsecret_proof(app.secret_key, token):
        raise Fail(-242 if host == "openapi" else -1241, "appsecret_proof is invalid")
    return Caller(world, app, world.oas[grant.oa_id], token, BackgroundTasks())


Handler = Callable[[Request, Caller], Awaitable[Any]]


def guarded(
    host: ApiHost, *, send: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap an OA/ZNS handler: token, rate limit, send faults, then Zalo's envelope."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            world = world_of(request)
            headers: dict[str, str] = {}
            try:
                caller = _authenticate(world, request, host, headers)
                if send and world.knobs.fail_next_sends > 0:
                    world.knobs.fail_next_sends -= 1
                    if world.knobs.fail_mode == "http500":
                        raise _Http500
                    raise Fail(-100, "Unknown error")
                result = await handler(request, caller)
            except Fail as fail:
                return json_response({"error": fail.code, "message": fail.message}, headers=headers)
            except _Http500:
                return html_500(headers)
            reply = result if isinstance(result, Reply) else Reply(result)
            body: dict[str, Any] = {"error": 0, "message": "Success"}
            if reply.data is not None:
                body["data"] = reply.data
            body.update(reply.extra)
            response = json_response(body, headers=headers)
            response.background = caller.background
            return response

        return endpoint

    return wrap

"""The v4 endpoints of every resource, built by one loop over the declarations.

Each handler parses the request into variables, runs the cached GraphQL document for its
shape on the app's own schema in-process, and renames the result back to REST names.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from legacy_rest import body, values
from legacy_rest.documents import Operation, document, rest_names
from legacy_rest.errors import (
    Detail,
    RestError,
    RestJSON,
    bad_request,
    from_graphql,
    from_payload,
)
from legacy_rest.errors import internal as internal_error
from legacy_rest.params import DELETE_MANY, DELETE_ONE, LIST, ONE, WRITE, Accepts, Parsed
from resolvers._resource import Resource, all_resources
from zalo_oa.auth import request_context

log = logging.getLogger("zalo_oa.rest")
PREFIX = "/v4/zalo-oa"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def guarded(handler: Handler) -> Handler:
    """Renders every failure of a REST handler through the one error mapping."""

    async def guarded(request: Request) -> Response:
        # Read the body first, outside the catch-all: the body-size middleware signals
        # 413 by an exception raised from inside this read.
        await request.body()
        try:
            return await handler(request)
        except RestError as exc:
            return exc.response()
        except Exception:
            request_id = getattr(request.state, "request_id", None) or "-"
            log.exception("unexpected error in %s %s", request.method, request.url.path)
            return internal_error(request_id).response()

    return guarded


class Call:
    """One REST request on one resource: its parsed parameters and how to run GraphQL."""

    def __init__(self, resource: Resource, request: Request, accepts: Accepts) -> None:
        self.resource = resource
        self.request = request
        state = request.app.state
        self.params: Parsed = state.rest_params.parse(
            resource,
            request.scope["query_string"],
            lambda: request.query_params.multi_items(),
            state.settings,
            accepts,
        )

    async def run(self, operation: Operation, variables: dict[str, Any]) -> Any:
        state = self.request.app.state
        context = await request_context(
            state,
            getattr(self.request.state, "request_id", None),
            self.request.headers.get("authorization"),
            self.params.token,
        )
        query = document(self.resource.key, operation, self.params.fields)
        result = await state.schema.execute(query, variable_values=variables, context_value=context)
        if result.errors:
            raise from_graphql(self.resource, result.errors, context.request_id)
        return result.data["r"]

    def items(self, gql_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = rest_names(self.resource.key, self.params.fields)
        return [dict(zip(names, item.values(), strict=True)) for item in gql_items]

    def code(self) -> str:
        code: str = self.request.path_params["Code"]
        try:
            return values.text(code)
        except values.BadValue as exc:
            raise bad_request(f"Code: {exc}", "Code") from None

    async def body(self) -> list[Any] | dict[str, Any]:
        return body.read(await self.request.body())

    def written(self, payload: dict[str, Any], status: int) -> RestJSON:
        if payload["errors"]:
            raise from_payload(self.resource, payload["errors"])
        return RestJSON({"data": self.items(payload["items"])}, status)


def _handlers(resource: Resource) -> dict[tuple[str, str], Handler]:
    async def get_one(request: Request) -> Response:
        call = Call(resource, request, ONE)
        found = await call.run(Operation.ONE, {"code": call.code()})
        if found is None:
            code = request.path_params["Code"]
            message = f"no {resource.type_name} with code {code!r}"
            raise RestError(404, "NOT_FOUND", message, [Detail(message, "Code")])
        return RestJSON({"data": call.items([found])[0]})

    async def get_many(request: Request) -> Response:
        call = Call(resource, request, LIST)
        page = await call.run(Operation.LIST, call.params.list_variables())
        return RestJSON(
            {
                "data": call.items(page["items"]),
                "total": page["totalCount"],
                "offset": page["offset"],
                "limit": page["limit"],
            }
        )

    async def create(request: Request) -> Response:
        call = Call(resource, request, WRITE)
        items = body.creates(resource, await call.body())
        return call.written(await call.run(Operation.CREATE, {"input": items}), 201)

    async def update_one(request: Request) -> Response:
        call = Call(resource, request, WRITE)
        items = body.updates(resource, await call.body(), call.code())
        return call.written(await call.run(Operation.UPDATE, {"input": items}), 200)

    async def update_many(request: Request) -> Response:
        call = Call(resource, request, WRITE)
        items = body.updates(resource, await call.body())
        return call.written(await call.run(Operation.UPDATE, {"input": items}), 200)

    async def delete(call: Call, codes: list[str]) -> Response:
        result = await call.run(Operation.DELETE, {"codes": codes, "hard": call.params.hard})
        return RestJSON({"data": {"deleted": result["deletedCount"], "codes": result["codes"]}})

    async def delete_one(request: Request) -> Response:
        call = Call(resource, request, DELETE_ONE)
        return await delete(call, [call.code()])

    async def delete_many(request: Request) -> Response:
        call = Call(resource, request, DELETE_MANY)
        if not call.params.codes:
            raise bad_request("give the codes to delete as id0, id1, …", "id0")
        return await delete(call, call.params.codes)

    return {
        ("GET", ""): get_many,
        ("GET", "/{Code}"): get_one,
        ("POST", ""): create,
        ("PUT", ""): update_many,
        ("PUT", "/{Code}"): update_one,
        ("DELETE", ""): delete_many,
        ("DELETE", "/{Code}"): delete_one,
    }


@functools.cache
def _routes() -> tuple[Route, ...]:
    """Every REST route, built once: the router and `RestDispatch` share these objects."""
    routes = []
    for resource in all_resources():
        base = f"{PREFIX}/{resource.rest_path}"
        for (method, suffix), handler in _handlers(resource).items():
            routes.append(
                Route(
                    base + suffix,
                    guarded(handler),
                    methods=[method],
                    name=f"{resource.key}:{method.lower()}{suffix and ':one'}",
                    include_in_schema=False,  # described by legacy_rest.openapi instead
                )
            )
    return tuple(routes)


def build_router() -> APIRouter:
    """The REST shim for every declared resource (described by `legacy_rest.openapi`).

    Plain Starlette routes: a handler takes the request and nothing else, so FastAPI's
    dependency solving and response validation would only add work to every call."""
    router = APIRouter()
    router.routes.extend(_routes())
    return router


class RestDispatch:
    """ASGI middleware that finds a REST endpoint by one dict look-up and calls it.

    The app's router would try its routes' patterns one after another, then run FastAPI's
    exception and exit-stack layers, about a tenth of a one-row REST read. This finds
    ``PREFIX/{resource}`` and ``PREFIX/{resource}/{Code}`` for the declared methods
    directly, with the same route objects (`scope["route"]` keeps the metrics' route
    label). Anything else (HEAD, an unknown resource or method, a trailing slash, an app
    mounted under a root path) goes on to the router, which answers as before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.table: dict[tuple[str, str, bool], Route] = {}
        for route in _routes():
            name, _, code = route.path[len(PREFIX) + 1 :].partition("/")
            for method in route.methods or ():
                if method != "HEAD":
                    self.table[method, name, bool(code)] = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(_START) and not scope.get("root_path"):
            name, slash, code = path[len(_START) :].partition("/")
            route = (
                None
                if "/" in code or (slash and not code)
                else (self.table.get((scope["method"], name, bool(slash))))
            )
            if route is not None:
                scope["path_params"] = {"Code": code} if slash else {}
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                response = await route.endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


_START = PREFIX + "/"

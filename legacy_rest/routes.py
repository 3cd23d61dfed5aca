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
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gql.http import read_body
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

Handler = Callable[["RestRequest"], Coroutine[Any, Any, Response]]


class RestRequest:
    """What a REST handler reads of its request, straight from the ASGI scope.

    `RestDispatch` answers nearly every REST call without Starlette's `Request` (its
    headers, state and body stream are built per request); the router's routes, which
    serve the rest (HEAD, paths it leaves alone), make one of these from theirs."""

    __slots__ = ("body", "path_params", "scope")

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.scope = scope
        self.body = body
        self.path_params: dict[str, str] = scope.get("path_params") or {}

    @property
    def app_state(self) -> Any:
        """The app's state: its settings, schema and caches."""
        return self.scope["app"].state

    @property
    def request_id(self) -> str | None:
        """The id `zalo_oa.logs` gave this request."""
        request_id: str | None = (self.scope.get("state") or {}).get("request_id")
        return request_id

    def header(self, name: bytes) -> str | None:
        """The value of header ``name`` (lower case), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                text: str = value.decode("latin-1")
                return text
        return None

    def query_items(self) -> list[tuple[str, str]]:
        """The query parameters in order, repeated ones included."""
        return QueryParams(self.scope["query_string"]).multi_items()


async def answer(handler: Handler, request: RestRequest) -> Response:
    """The response of ``handler``: every failure rendered through the one error mapping."""
    try:
        return await handler(request)
    except RestError as exc:
        return exc.response()
    except Exception:
        scope = request.scope
        log.exception("unexpected error in %s %s", scope["method"], scope["path"])
        return internal_error(request.request_id or "-").response()


def endpoint(handler: Handler) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """``handler`` as a Starlette endpoint, for the router."""

    async def endpoint(request: Request) -> Response:
        # The body is read before the catch-all: the body-size middleware signals 413 by an
        # exception raised from inside this read.
        return await answer(handler, RestRequest(request.scope, await request.body()))

    return endpoint


class Call:
    """One REST request on one resource: its parsed parameters and how to run GraphQL."""

    def __init__(self, resource: Resource, request: RestRequest, accepts: Accepts) -> None:
        self.resource = resource
        self.request = request
        self.state = state = request.app_state
        self.params: Parsed = state.rest_params.parse(
            resource, request.scope["query_string"], request.query_items, state.settings, accepts
        )

    async def run(self, operation: Operation, variables: dict[str, Any]) -> Any:
        """The root field of ``operation``'s document, run on the app's schema."""
        context = await self.context()
        return await self._execute(context, operation, variables)

    async def read(self, operation: Operation, variables: dict[str, Any]) -> Any:
        """The root field of a read (ONE or LIST), its items already in their REST form.

        The read's document with every item field aliased to its REST name runs as the
        module's own query (`KnownQueries.own`): the rows are shaped straight into their
        REST form, with no second pass renaming every item (about a tenth of the CPU of
        a wide page). Only a success takes that path; anything else runs the plain
        document through the whole pipeline, as `run` does, which reports the error."""
        context = await self.context()
        schema = self.state.schema
        known = schema.known
        if known is not None:
            query = document(self.resource.key, operation, self.params.fields, aliased=True)
            own = known.own(query, schema)
            if own is not None:
                result = await known.run(own, schema, variables, context, None)
                if result is not None:
                    return result.data["r"]
        found = await self._execute(context, operation, variables)
        if found is None:
            return None
        if operation is Operation.ONE:
            return self.items([found])[0]
        return {**found, "items": self.items(found["items"])}

    async def context(self) -> Any:
        request = self.request
        return await request_context(
            self.state, request.request_id, request.header(b"authorization"), self.params.token
        )

    async def _execute(self, context: Any, operation: Operation, variables: dict[str, Any]) -> Any:
        query = document(self.resource.key, operation, self.params.fields)
        result = await self.state.schema.execute(
            query, variable_values=variables, context_value=context
        )
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

    def body(self) -> list[Any] | dict[str, Any]:
        return body.read(self.request.body)

    def written(self, payload: dict[str, Any], status: int) -> RestJSON:
        if payload["errors"]:
            raise from_payload(self.resource, payload["errors"])
        return RestJSON({"data": self.items(payload["items"])}, status)


def _handlers(resource: Resource) -> dict[tuple[str, str], Handler]:
    async def get_one(request: RestRequest) -> Response:
        call = Call(resource, request, ONE)
        found = await call.read(Operation.ONE, {"code": call.code()})
        if found is None:
            code = request.path_params["Code"]
            message = f"no {resource.type_name} with code {code!r}"
            raise RestError(404, "NOT_FOUND", message, [Detail(message, "Code")])
        return RestJSON({"data": found})

    async def get_many(request: RestRequest) -> Response:
        call = Call(resource, request, LIST)
        page = await call.read(Operation.LIST, call.params.list_variables())
        return RestJSON(
            {
                "data": page["items"],
                "total": page["totalCount"],
                "offset": page["offset"],
                "limit": page["limit"],
            }
        )

    async def create(request: RestRequest) -> Response:
        call = Call(resource, request, WRITE)
        items = body.creates(resource, call.body())
        return call.written(await call.run(Operation.CREATE, {"input": items}), 201)

    async def update_one(request: RestRequest) -> Response:
        call = Call(resource, request, WRITE)
        items = body.updates(resource, call.body(), call.code())
        return call.written(await call.run(Operation.UPDATE, {"input": items}), 200)

    async def update_many(request: RestRequest) -> Response:
        call = Call(resource, request, WRITE)
        items = body.updates(resource, call.body())
        return call.written(await call.run(Operation.UPDATE, {"input": items}), 200)

    async def delete(call: Call, codes: list[str]) -> Response:
        result = await call.run(Operation.DELETE, {"codes": codes, "hard": call.params.hard})
        return RestJSON({"data": {"deleted": result["deletedCount"], "codes": result["codes"]}})

    async def delete_one(request: RestRequest) -> Response:
        call = Call(resource, request, DELETE_ONE)
        return await delete(call, [call.code()])

    async def delete_many(request: RestRequest) -> Response:
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
def _routes() -> tuple[tuple[Route, Handler], ...]:
    """Every REST route with its handler, built once: the router and `RestDispatch` share
    these objects."""
    routes = []
    for resource in all_resources():
        base = f"{PREFIX}/{resource.rest_path}"
        for (method, suffix), handler in _handlers(resource).items():
            route = Route(
                base + suffix,
                endpoint(handler),
                methods=[method],
                name=f"{resource.key}:{method.lower()}{suffix and ':one'}",
                include_in_schema=False,  # described by legacy_rest.openapi instead
            )
            routes.append((route, handler))
    return tuple(routes)


def build_router() -> APIRouter:
    """The REST shim for every declared resource (described by `legacy_rest.openapi`).

    Plain Starlette routes: a handler takes the request and nothing else, so FastAPI's
    dependency solving and response validation would only add work to every call."""
    router = APIRouter()
    router.routes.extend(route for route, _ in _routes())
    return router


class RestDispatch:
    """ASGI middleware that finds a REST endpoint by one dict look-up and calls it.

    The app's router would try its routes' patterns one after another, then run FastAPI's
    exception and exit-stack layers, about a tenth of a one-row REST read. This finds
    ``PREFIX/{resource}`` and ``PREFIX/{resource}/{Code}`` for the declared methods
    directly, with the same route objects (`scope["route"]` keeps the metrics' route
    label), and hands its handler a `RestRequest` made from the scope. Anything else (HEAD, an unknown resource or method, a trailing slash, an app
    mounted under a root path) goes on to the router, which answers as before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.table: dict[tuple[str, str, bool], tuple[Route, Handler]] = {}
        for route, handler in _routes():
            name, _, code = route.path[len(PREFIX) + 1 :].partition("/")
            for method in route.methods or ():
                if method != "HEAD":
                    self.table[method, name, bool(code)] = route, handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(_START) and not scope.get("root_path"):
            name, slash, code = path[len(_START) :].partition("/")
            found = (
                None
                if "/" in code or (slash and not code)
                else (self.table.get((scope["method"], name, bool(slash))))
            )
            if found is not None:
                route, handler = found
                scope["path_params"] = {"Code": code} if slash else {}
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                # The body is read before the catch-all, as `endpoint` does.
                request = RestRequest(scope, await read_body(receive))
                response = await answer(handler, request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


_START = PREFIX + "/"

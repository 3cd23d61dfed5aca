"""POST /graphql with a JSON body, answered without the web framework's routing.

Nearly every GraphQL request is one POST of ``{"query", "variables", "operationName"}``.
Served by Strawberry's FastAPI router, such a request also pays for FastAPI's routing and
dependency solving and for the router's general HTTP view (content negotiation through
`email.message`, GraphiQL, uploads, batching, streaming transports): about a fifth of a
small query's CPU time (docs/performance.md, fourth round). `GraphQLPost` answers exactly that request shape itself, with the
same schema, the same context (`zalo_oa.auth.request_context`) and the same response body
and status as the router. Anything else goes on to the router unchanged: other methods,
other content types, streaming ``Accept`` headers, bodies that are not a JSON object with
a string ``query`` (the router's 400 explains them), batches, and ``extensions``.

It sits inside the request-log and body-limit middlewares, so request ids, access lines,
metrics and the body cap apply as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http import process_result
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from zalo_oa.auth import request_context

POST_OPERATIONS = OperationType.from_http("POST")
_JSON_HEADERS = [(b"content-type", b"application/json")]
_KEYS = frozenset({"query", "variables", "operationName"})


class GraphQLPost:
    def __init__(self, app: ASGIApp, schema: BaseSchema, path: str = "/graphql") -> None:
        self.app = app
        self.schema = schema
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        authorization = None
        plain = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                plain = value.partition(b";")[0].strip().lower() == b"application/json"
            elif name == b"accept":
                if b"multipart/mixed" in value or b"text/event-stream" in value:
                    await self.app(scope, receive, send)
                    return
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        if not plain:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        request = _plain_request(body)
        if request is None:
            await self.app(scope, _replay(body, receive), send)
            return
        query, variables, operation_name = request
        token = None
        if scope["query_string"]:
            token = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("token")
        state = scope.get("state") or {}
        context = await request_context(
            scope["app"].state, state.get("request_id"), authorization, token
        )
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=POST_OPERATIONS,
            )
        except CannotGetOperationTypeError as exc:  # the router's 400s, word for word
            await PlainTextResponse(exc.as_http_error_reason(), 400)(scope, receive, send)
            return
        except InvalidOperationTypeError as exc:
            await PlainTextResponse(exc.as_http_error_reason("POST"), 400)(scope, receive, send)
            return
        payload = orjson.dumps(process_result(result))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(payload)).encode()), *_JSON_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _plain_request(body: bytes) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """``(query, variables, operationName)`` of a plain request body, else None."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not _KEYS.issuperset(data):
        return None
    query = data.get("query")
    variables = data.get("variables")
    name = data.get("operationName")
    if not isinstance(query, str) or not query:
        return None
    if not isinstance(variables, dict | None) or not isinstance(name, str | None):
        return None
    return query, variables, name


async def read_body(receive: Receive) -> bytes:
    """The whole request body (raises `ClientDisconnect` as Starlette's `Request` does)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the router: the body already read, then the connection's own."""
    pending = True

    async def again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again

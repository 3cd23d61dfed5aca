"""The one mapping from GraphQL errors (and bulk payload errors) to REST errors (SPEC §5).

Every failure of a REST request becomes a `RestError`; `routes.guarded` renders it as
``{"error": {"code", "message", "details": [{"index", "field", "message"}]}}`` with the HTTP
status of its code, and field names translated back to their REST form.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from resolvers._resource import Resource, get, pascal

log = logging.getLogger("zalo_oa.rest")

STATUS = {
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "ZALO_ERROR": 502,
    "INTERNAL": 500,
}
INVALID_ITEM = 422  # BAD_USER_INPUT about a well-formed body item
# When the items of one bulk write fail for different reasons, the status is the first here.
ITEM_PRIORITY = ("BAD_USER_INPUT", "CONFLICT", "NOT_FOUND")
# GraphQL argument names that errors may name, in their REST spelling.
ARGUMENTS = {"code": "Code", "codes": "Code", "orderBy": "order_by", "hard": "hard"}
# graphql-core names a bad variable value by its path:
# "Variable '$input' has invalid value at [2].branchId: …" (older: "… at 'input[2].branchId'").
VARIABLE_PATH = re.compile(
    r"Variable '\$(?P<arg>\w+)' (?:got|has) invalid value.*? at '?\w*"
    r"(?:\[(?P<index>\d+)\])?(?:\.(?P<field>\w+))?"
)


class RestJSON(Response):
    """UTF-8 JSON with Vietnamese (and everything else) unescaped."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


@dataclass
class Detail:
    """One entry of ``details``: what is wrong, with which field or parameter, of which item."""

    message: str
    field: str | None = None
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass
class RestError(Exception):
    """A failed REST request: HTTP status, SPEC §5 error code, message and details."""

    status: int
    code: str
    message: str
    details: list[Detail] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    def response(self) -> RestJSON:
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [d.as_dict() for d in self.details],
            }
        }
        return RestJSON(body, status_code=self.status)


def bad_request(message: str, field: str | None = None) -> RestError:
    """A bad query parameter or a body that is not JSON of the right shape (400)."""
    return RestError(400, "BAD_USER_INPUT", message, [Detail(message, field)])


def invalid_items(details: Sequence[Detail]) -> RestError:
    """Well-formed body items that are wrong (422), every one reported."""
    return RestError(INVALID_ITEM, "BAD_USER_INPUT", _summary(details), list(details))


def internal(request_id: str) -> RestError:
    return RestError(500, "INTERNAL", f"Internal error (request {request_id}).")


def rest_field(resource: Resource, name: str | None) -> str | None:
    """A GraphQL field, argument or relation name, as REST calls it."""
    if name is None:
        return None
    head, dot, tail = name.partition(".")  # "templateData.otp": a key inside a JSON field
    spec = resource.by_gql.get(head) or resource.by_name.get(head)
    relation = resource.relation_by_name.get(head)
    if spec is not None:
        rest = spec.rest
    elif relation is not None:
        rest = pascal(get(relation.target).key)  # "Followers", "Templates", "Messages"
    elif head in ARGUMENTS:
        rest = ARGUMENTS[head]
    else:
        return name
    return rest + dot + tail


def _details(resource: Resource, problems: Iterable[Mapping[str, Any]]) -> list[Detail]:
    return [
        Detail(str(p.get("message")), rest_field(resource, p.get("field")), p.get("index"))
        for p in problems
    ]


def _summary(details: Sequence[Detail]) -> str:
    if not details:
        return "the request is invalid"
    first = details[0]
    where = " ".join(
        part
        for part in (
            f"item {first.index}" if first.index is not None else "",
            first.field or "",
        )
        if part
    )
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"{where}: {first.message}{more}" if where else first.message + more


def from_payload(resource: Resource, errors: Sequence[Mapping[str, Any]]) -> RestError:
    """The ``errors`` of a bulk payload (an all-or-nothing write that wrote nothing)."""
    codes = {e.get("code") for e in errors}
    code = next((c for c in ITEM_PRIORITY if c in codes), "BAD_USER_INPUT")
    details = _details(resource, errors)
    status = INVALID_ITEM if code == "BAD_USER_INPUT" else STATUS[code]
    return RestError(status, code, _summary(details), details)


def from_graphql(resource: Resource, errors: Sequence[Any], request_id: str) -> RestError:
    """The first error of a GraphQL result (graphql-core ``GraphQLError``), as REST."""
    error = errors[0]
    ext: dict[str, Any] = dict(error.extensions or {})
    code = ext.get("code", "INTERNAL")
    if code not in STATUS or code == "INTERNAL":
        if code != "INTERNAL":
            log.error("unmapped GraphQL error code %r (request %s)", code, request_id)
        return internal(str(ext.get("requestId") or request_id))
    problems = ext.get("problems")
    if problems:
        details = _details(resource, problems)
    else:
        details = [_variable_detail(resource, error.message, ext.get("field"))]
    status = STATUS[code]
    if code == "BAD_USER_INPUT" and any(d.index is not None for d in details):
        status = INVALID_ITEM
    message = error.message
    if code == "ZALO_ERROR" and "zaloError" in ext:
        message = f"{message} (Zalo error {ext['zaloError']})"
    return RestError(status, code, message, details)


def _variable_detail(resource: Resource, message: str, field: str | None) -> Detail:
    found = VARIABLE_PATH.search(message)
    if found is None:
        return Detail(message, rest_field(resource, field))
    index = found["index"]
    return Detail(
        message,
        rest_field(resource, found["field"] or found["arg"]),
        int(index) if index is not None else None,
    )


PREFIX = "/v4/zalo-oa"


def install(app: Any) -> None:
    """Unknown paths and methods under ``/v4/zalo-oa`` answer with the SPEC §5 error body."""
    previous = app.exception_handlers.get(StarletteHTTPException)

    async def handle(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(PREFIX) and exc.status_code in (404, 405):
            code = "NOT_FOUND" if exc.status_code == 404 else "BAD_USER_INPUT"
            message = (
                "no such endpoint"
                if exc.status_code == 404
                else f"{request.method} is not allowed here"
            )
            return RestError(exc.status_code, code, message).response()
        if previous is not None:
            response: Response = await previous(request, exc)
            return response
        return RestJSON({"detail": exc.detail}, status_code=exc.status_code)

    app.add_exception_handler(StarletteHTTPException, handle)

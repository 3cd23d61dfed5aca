"""REST request bodies → GraphQL ``…Create`` / ``…Update`` inputs (SPEC §5).

Items use REST names. Server-managed and read-only fields are dropped, so a GET result can
be PUT back unchanged; unknown fields and wrong types are collected for every item and
reported together (422), so nothing is written unless all of it can be.
"""

from __future__ import annotations

from typing import Any

import orjson

from legacy_rest import values
from legacy_rest.errors import Detail, bad_request, invalid_items
from resolvers._resource import Resource


def read(raw: bytes) -> list[Any] | dict[str, Any]:
    """The JSON body: an object or an array (400 otherwise)."""
    if not raw.strip():
        raise bad_request("a JSON body is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"malformed JSON: {exc}") from None
    if not isinstance(body, list | dict):
        raise bad_request("the body must be a JSON object or an array of objects")
    return body


def _items(body: list[Any] | dict[str, Any]) -> list[Any]:
    return body if isinstance(body, list) else [body]


def _convert(resource: Resource, index: int, item: Any, problems: list[Detail]) -> dict[str, Any]:
    if not isinstance(item, dict):
        problems.append(Detail("an item must be a JSON object", None, index))
        return {}
    out: dict[str, Any] = {}
    for name, value in item.items():
        spec = resource.by_rest.get(name)
        if spec is None:
            problems.append(Detail(f"unknown field of {resource.key}", name, index))
            continue
        if not spec.writable and spec.name != "code":
            continue  # server-managed: ignored on input
        try:
            out[spec.gql] = values.from_body(spec, value)
        except values.BadValue as exc:
            problems.append(Detail(str(exc), name, index))
    return out


def _duplicates(items: list[dict[str, Any]], problems: list[Detail]) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        code = item.get("code")
        if code in (None, ""):
            continue
        if code in seen:
            problems.append(
                Detail(f"duplicate of item {seen[code]} in this request", "Code", index)
            )
        else:
            seen[code] = index


def creates(resource: Resource, body: list[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    """POST: every item to create (raises `RestError` 422 naming index and field)."""
    problems: list[Detail] = []
    items = [_convert(resource, i, item, problems) for i, item in enumerate(_items(body))]
    _duplicates(items, problems)
    if problems:
        raise invalid_items(problems)
    return items


def updates(
    resource: Resource, body: list[Any] | dict[str, Any], code: str | None = None
) -> list[dict[str, Any]]:
    """PUT: partial updates, each with its ``code`` (from the path when ``code`` is given)."""
    if code is not None and isinstance(body, list) and len(body) != 1:
        raise bad_request("PUT on one item takes an object or a one-element array")
    problems: list[Detail] = []
    items = [_convert(resource, i, item, problems) for i, item in enumerate(_items(body))]
    for index, item in enumerate(items):
        given = item.get("code")
        if code is not None:
            if given not in (None, code):
                problems.append(Detail(f"does not match the path's code {code!r}", "Code", index))
            item["code"] = code
        elif not given and not any(p.index == index and p.field == "Code" for p in problems):
            if isinstance(_items(body)[index], dict):
                problems.append(Detail("each item of a bulk PUT needs its Code", "Code", index))
    _duplicates(items, problems)
    if problems:
        raise invalid_items(problems)
    return items

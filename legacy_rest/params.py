"""The one parser from a v4 query string to GraphQL variables (SPEC §5).

Every parameter is accounted for: an unknown name, an unknown or secret field, a value of
the wrong type or a repeat where none is allowed is a 400 naming the parameter. Nothing is
silently dropped, so a caller never gets an unfiltered page by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Flag, auto
from typing import Any

from cachetools import LRUCache

from legacy_rest import values
from legacy_rest.errors import bad_request
from resolvers import _query as q
from resolvers._resource import FieldSpec, Resource
from zalo_oa.settings import Settings

# REST prefix → GraphQL operator of the field's `…Filter` input.
OPERATORS: dict[str, q.Op] = {
    "eq": q.Op.EQ,
    "ne": q.Op.NE,
    "lt": q.Op.LT,
    "le": q.Op.LE,
    "gt": q.Op.GT,
    "ge": q.Op.GE,
    "filter": q.Op.CONTAINS,
    "left": q.Op.STARTS_WITH,
    "right": q.Op.ENDS_WITH,
}
# A repeated eq_X is any of the values, a repeated ne_X none of them.
REPEATED: dict[q.Op, q.Op] = {q.Op.EQ: q.Op.IN, q.Op.NE: q.Op.NOT_IN}
ID_PARAM = re.compile(r"^id(\d+)$")


class Accepts(Flag):
    """Which parameter families an endpoint takes (anything else is a 400)."""

    TOKEN = auto()
    FIELDS = auto()
    PAGE = auto()
    IDS = auto()
    FILTERS = auto()
    ORDER = auto()
    HARD = auto()


LIST = Accepts.TOKEN | Accepts.FIELDS | Accepts.PAGE | Accepts.IDS | Accepts.FILTERS | Accepts.ORDER
ONE = Accepts.TOKEN | Accepts.FIELDS
WRITE = Accepts.TOKEN | Accepts.FIELDS
DELETE_ONE = Accepts.TOKEN | Accepts.HARD
DELETE_MANY = Accepts.TOKEN | Accepts.IDS | Accepts.HARD


@dataclass
class Parsed:
    """One request's parameters, as GraphQL argument values."""

    token: str | None = None
    fields: tuple[str, ...] | None = None  # GraphQL names, declaration order; None = all
    offset: int = 0
    limit: int = 50
    codes: list[str] | None = None
    filter: dict[str, dict[str, Any]] = field(default_factory=dict)
    order_by: list[dict[str, str]] = field(default_factory=list)
    hard: bool = False

    def list_variables(self) -> dict[str, Any]:
        return {
            "filter": self.filter or None,
            "orderBy": self.order_by or None,
            "offset": self.offset,
            "limit": self.limit,
            "codes": self.codes,
        }


class ParsedCache:
    """`parse` results by resource, endpoint and raw query string, for one app (its
    settings bound the page sizes). A legacy caller repeats the same parameters (the
    same ``fields=`` list, the same filters) on every request, and parsing them is about a
    tenth of a one-row REST request. A query string holding a ``token`` is not kept (no
    secret stays in memory past its request), nor one that does not parse (the error is
    raised anew). An entry is shared by every request with that query string: nothing
    changes a `Parsed` after parsing."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: LRUCache[tuple[str, Accepts, bytes], Parsed] = LRUCache(size)

    def parse(
        self,
        resource: Resource,
        query_string: bytes,
        items: Callable[[], Iterable[tuple[str, str]]],
        settings: Settings,
        accepts: Accepts,
    ) -> Parsed:
        key = (resource.key, accepts, query_string)
        found: Parsed | None = self._entries.get(key)
        if found is not None:
            return found
        parsed = parse(resource, items(), settings, accepts)
        if parsed.token is None:
            self._entries[key] = parsed
        return parsed

    def __len__(self) -> int:
        return len(self._entries)


def parse(
    resource: Resource, items: Iterable[tuple[str, str]], settings: Settings, accepts: Accepts
) -> Parsed:
    """Parse the (repeatable) query parameters of one request; raises `RestError` (400)."""
    grouped: dict[str, list[str]] = {}
    for name, value in items:
        grouped.setdefault(name, []).append(value)
    parsed = Parsed(limit=settings.default_page_size)
    ids: list[tuple[int, str]] = []
    for name, given in grouped.items():
        family = _family(name)
        if family is None or family not in accepts:
            raise bad_request(f"unknown parameter {name!r}", name)
        if len(given) > 1 and not (family is Accepts.FILTERS and _repeatable(name)):
            raise bad_request(f"parameter {name!r} may be given once", name)
        raw = given[0]
        _check_text(name, given)
        if family is Accepts.TOKEN:
            parsed.token = raw
        elif family is Accepts.FIELDS:
            parsed.fields = _fields(resource, name, raw)
        elif family is Accepts.PAGE:
            setattr(parsed, name, _page_value(name, raw, settings))
        elif family is Accepts.IDS:
            if raw == "":
                raise bad_request(f"{name} is empty: give a code", name)
            ids.append((int(ID_PARAM.match(name)[1]), raw))  # type: ignore[index]
        elif family is Accepts.FILTERS:
            _add_filter(resource, parsed.filter, name, given)
        elif family is Accepts.ORDER:
            parsed.order_by = _order(resource, name, raw)
        elif family is Accepts.HARD:
            parsed.hard = _flag(name, raw)
    if ids:
        if len(ids) > settings.max_in_values:
            raise bad_request(f"more than {settings.max_in_values} id<N> parameters", "id0")
        parsed.codes = [code for _, code in sorted(ids)]
    return parsed


def _family(name: str) -> Accepts | None:
    if name == "token":
        return Accepts.TOKEN
    if name == "fields":
        return Accepts.FIELDS
    if name in ("offset", "limit"):
        return Accepts.PAGE
    if name == "order_by":
        return Accepts.ORDER
    if name == "hard":
        return Accepts.HARD
    if ID_PARAM.match(name):
        return Accepts.IDS
    prefix, sep, rest = name.partition("_")
    if sep and rest and prefix in OPERATORS:
        return Accepts.FILTERS
    return None


def _repeatable(name: str) -> bool:
    return OPERATORS[name.partition("_")[0]] in REPEATED


def _check_text(name: str, given: list[str]) -> None:
    for raw in given:
        try:
            values.text(raw)
        except values.BadValue as exc:
            raise bad_request(f"{name}: {exc}", name) from None


def _field(resource: Resource, param: str, rest_name: str) -> FieldSpec:
    spec = resource.by_rest.get(rest_name)
    if spec is None:
        raise bad_request(f"{param}: {rest_name!r} is not a field of {resource.key}", param)
    return spec


def _fields(resource: Resource, param: str, raw: str) -> tuple[str, ...]:
    names = [n.strip() for n in raw.split(",")]
    if not any(names) or not all(names):
        raise bad_request(f"{param}: give field names separated by commas", param)
    wanted = {_field(resource, param, n).name for n in names}
    return tuple(f.gql for f in resource.fields if f.name in wanted)


def _page_value(name: str, raw: str, settings: Settings) -> int:
    try:
        number = values.integer(raw)
    except values.BadValue as exc:
        raise bad_request(f"{name}: {exc}", name) from None
    if number < 0:
        raise bad_request(f"{name} cannot be negative", name)
    if name == "limit" and number > settings.max_page_size:
        raise bad_request(f"limit cannot exceed {settings.max_page_size}", name)
    return number


def _flag(name: str, raw: str) -> bool:
    try:
        return values.boolean(raw)
    except values.BadValue as exc:
        raise bad_request(f"{name}: {exc}", name) from None


def _add_filter(
    resource: Resource, into: dict[str, dict[str, Any]], name: str, given: list[str]
) -> None:
    prefix, _, rest_name = name.partition("_")
    spec = _field(resource, name, rest_name)
    if not spec.filterable:
        raise bad_request(f"{name}: {spec.rest} is secret and cannot be filtered", name)
    op = OPERATORS[prefix]
    if op not in q.OPS_BY_KIND[spec.kind]:
        raise bad_request(f"{name}: {prefix}_ does not apply to a {spec.kind} field", name)
    try:
        operands = [values.from_query(spec, raw) for raw in given]
    except values.BadValue as exc:
        raise bad_request(f"{name}: {exc}", name) from None
    distinct: list[Any] = list(dict.fromkeys(operands))
    value: Any = distinct[0]
    if len(distinct) > 1:
        if REPEATED[op] in q.OPS_BY_KIND[spec.kind]:
            op, value = REPEATED[op], distinct
        elif op is q.Op.EQ:  # a boolean that is true or false: any value but null
            op, value = q.Op.IS_NULL, False
        else:
            raise bad_request(f"{name}: neither true nor false matches nothing", name)
    into.setdefault(spec.gql, {})[op.value] = value


def _order(resource: Resource, name: str, raw: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for entry in raw.split(","):
        entry = entry.strip()
        # "+" decodes to a space in a query string, so "+Name" arrives as "Name".
        descending = entry.startswith("-")
        rest_name = entry.removeprefix("-").strip()
        if not rest_name:
            raise bad_request(f"{name}: give field names separated by commas", name)
        spec = _field(resource, name, rest_name)
        if not spec.orderable:
            raise bad_request(f"{name}: {spec.rest} cannot be ordered by", name)
        out.append({spec.gql: "DESC" if descending else "ASC"})
    return out

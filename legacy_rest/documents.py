"""The GraphQL documents REST requests run, generated once per shape.

A shape is (resource, operation, selected fields). Identical shapes give the identical
string, so the schema's ParserCache and ValidationCache skip parsing and validating it
again; the values always travel as variables.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from resolvers._resource import Resource, get

PROBLEM = "code message field index"


class Operation(StrEnum):
    ONE = "one"
    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


def _cap(name: str) -> str:
    return name[0].upper() + name[1:]


def _selected(resource: Resource, fields: tuple[str, ...] | None) -> tuple[str, ...]:
    return fields if fields is not None else tuple(f.gql for f in resource.fields)


def selection(resource: Resource, fields: tuple[str, ...] | None, aliased: bool = False) -> str:
    names = _selected(resource, fields)
    if aliased:  # each field under its REST name
        return " ".join(f"{resource.by_gql[name].rest}: {name}" for name in names)
    return " ".join(names)


@lru_cache(maxsize=1024)
def rest_names(resource_key: str, fields: tuple[str, ...] | None) -> tuple[str, ...]:
    """The REST names of a shape's item fields in the order its document selects them, which
    is the order of every result item's keys: an item becomes its REST form by one zip."""
    resource = get(resource_key)
    return tuple(resource.by_gql[name].rest for name in _selected(resource, fields))


@lru_cache(maxsize=1024)
def document(
    resource_key: str, operation: Operation, fields: tuple[str, ...] | None, aliased: bool = False
) -> str:
    """The document for one shape; its root field is aliased ``r``. ``aliased``: each item
    field is aliased to its REST name, so the items come out in their REST form (a read's
    document run as the module's own, `routes.Call.read`)."""
    resource = get(resource_key)
    t = resource.type_name
    items = selection(resource, fields, aliased)
    plural = _cap(resource.plural)
    if operation is Operation.ONE:
        return f"query($code: String!) {{ r: {resource.single}(code: $code) {{ {items} }} }}"
    if operation is Operation.LIST:
        return (
            f"query($filter: {t}Filter, $orderBy: [{t}OrderBy!], $offset: Int!, $limit: Int!, "
            f"$codes: [String!]) {{ r: {resource.plural}(filter: $filter, orderBy: $orderBy, "
            f"offset: $offset, limit: $limit, codes: $codes) "
            f"{{ totalCount offset limit items {{ {items} }} }} }}"
        )
    if operation is Operation.CREATE:
        return (
            f"mutation($input: [{t}Create!]!) {{ r: create{plural}(input: $input) "
            f"{{ items {{ {items} }} errors {{ {PROBLEM} }} }} }}"
        )
    if operation is Operation.UPDATE:
        return (
            f"mutation($input: [{t}Update!]!) {{ r: update{plural}(input: $input) "
            f"{{ items {{ {items} }} errors {{ {PROBLEM} }} }} }}"
        )
    return (
        f"mutation($codes: [String!]!, $hard: Boolean!) "
        f"{{ r: delete{plural}(codes: $codes, hard: $hard) {{ deletedCount codes }} }}"
    )

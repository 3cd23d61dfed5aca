"""The one filter / order / paginate compiler, shared by every resource and both front doors.

GraphQL filter inputs and REST query parameters are parsed into the neutral spec below
(`Cmp`, `And`, `Or`, `Not`, `Related`; `Order`), which compiles into SQLAlchemy Core against
a resource declaration. Nothing here knows about a particular resource.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.sql.functions import GenericFunction

from resolvers import text
from resolvers._resource import FieldSpec, Kind, Resource, get
from resolvers.errors import BadInput


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "notIn"
    IS_NULL = "isNull"
    CONTAINS = "contains"
    STARTS_WITH = "startsWith"
    ENDS_WITH = "endsWith"


PATTERN_OPS = frozenset({Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH})
ORDERED_OPS = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})
OPS_BY_KIND: dict[Kind, frozenset[Op]] = {
    Kind.STRING: frozenset(Op),
    Kind.JSON: frozenset(Op),
    Kind.INT: frozenset(Op) - PATTERN_OPS,
    Kind.DECIMAL: frozenset(Op) - PATTERN_OPS,
    Kind.DATETIME: frozenset(Op) - PATTERN_OPS,
    Kind.BOOL: frozenset({Op.EQ, Op.NE, Op.IS_NULL}),
}


@dataclass(frozen=True)
class Cmp:
    field: str
    op: Op
    value: Any


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


class Quantifier(StrEnum):
    ONE = "one"  # to-one relation: the related row exists and matches
    SOME = "some"
    EVERY = "every"
    NONE = "none"


@dataclass(frozen=True)
class Related:
    relation: str
    quantifier: Quantifier
    item: Node


Node = Cmp | And | Or | Not | Related


class Direction(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class Order:
    path: tuple[str, ...]  # relation names, then a field name
    direction: Direction = Direction.ASC
    nulls_first: bool | None = None  # None: ASC puts nulls last, DESC puts them first

    @property
    def effective_nulls_first(self) -> bool:
        if self.nulls_first is None:
            return self.direction is Direction.DESC
        return self.nulls_first

    def reversed(self) -> Order:
        return Order(
            self.path,
            Direction.DESC if self.direction is Direction.ASC else Direction.ASC,
            not self.effective_nulls_first,
        )


@dataclass(frozen=True)
class Limits:
    max_depth: int = 8
    max_branches: int = 50
    max_in: int = 500


@dataclass
class QuerySpec:
    """Everything a list read asks for, independent of the front door."""

    filter: Node | None = None
    order: list[Order] = field(default_factory=list)
    codes: list[str] | None = None
    search: str | None = None
    offset: int = 0
    limit: int = 50


# ---------------------------------------------------------------- case-insensitive text


class ci_lower(GenericFunction[str]):
    """Unicode lower case, identical on both databases (SQLite's own lower() is ASCII-only)."""

    type = sa.Text()
    inherit_cache = True
    name = "ci_lower"


@compiles(ci_lower)
def _ci_lower_default(element: ci_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ci_lower, "sqlite")
def _ci_lower_sqlite(element: ci_lower, compiler: Any, **kw: Any) -> str:
    return f"zalo_lower({compiler.process(element.clauses, **kw)})"


def sqlite_lower(value: str | None) -> str | None:
    """Registered as ``zalo_lower`` on every SQLite connection; matches PostgreSQL lower()."""
    return None if value is None else value.lower()


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------- filters


def validate(node: Node, resource: Resource, limits: Limits, depth: int = 1) -> int:
    """Check caps and operand sanity; returns the number of branches used."""
    if depth > limits.max_depth:
        raise BadInput(f"filter is nested deeper than {limits.max_depth} levels", "filter")
    if isinstance(node, Cmp):
        spec = resource.by_name[node.field]
        if node.op not in OPS_BY_KIND[spec.kind]:
            raise BadInput(f"operator {node.op} does not apply to {spec.gql}", spec.gql)
        if node.op in (Op.IN, Op.NOT_IN) and len(node.value) > limits.max_in:
            raise BadInput(f"more than {limits.max_in} values in {node.op}", spec.gql)
        return 1
    if isinstance(node, And | Or):
        if not node.items:
            raise BadInput("and/or needs at least one filter", "filter")
        total = 0
        for item in node.items:
            total += validate(item, resource, limits, depth + 1)
        if total > limits.max_branches:
            raise BadInput(f"filter has more than {limits.max_branches} conditions", "filter")
        return total
    if isinstance(node, Not):
        return validate(node.item, resource, limits, depth + 1)
    target = get(resource.relation_by_name[node.relation].target)
    return validate(node.item, target, limits, depth + 1)


def mentions(node: Node | None, field_name: str) -> bool:
    if node is None:
        return False
    if isinstance(node, Cmp):
        return node.field == field_name
    if isinstance(node, And | Or):
        return any(mentions(i, field_name) for i in node.items)
    if isinstance(node, Not):
        return mentions(node.item, field_name)
    return False


def _column(resource: Resource, source: FromClause, spec: FieldSpec) -> ColumnElement[Any]:
    col: ColumnElement[Any] = source.c[spec.name]
    if spec.kind is Kind.JSON:
        col = sa.type_coerce(col, sa.Text())
    return col


def _value(spec: FieldSpec, op: Op, value: Any) -> Any:
    """The parameter a comparison binds: a LIKE pattern for the pattern operators, JSON as
    its text, a list for IN."""
    if op in PATTERN_OPS:
        needle = _escape_like(str(value))
        return {
            Op.CONTAINS: f"%{needle}%",
            Op.STARTS_WITH: f"{needle}%",
            Op.ENDS_WITH: f"%{needle}",
        }[op]
    if op in (Op.IN, Op.NOT_IN):
        value = list(value)
    if spec.kind is Kind.JSON and value is not None and not isinstance(value, str | bool):
        if isinstance(value, list) and op in (Op.IN, Op.NOT_IN):
            return [v if isinstance(v, str | bool) else orjson.dumps(v).decode() for v in value]
        return orjson.dumps(value).decode()
    return value


# A filter's shape: what its SQL looks like, with a slot (a parameter's number) where a
# value goes. ("cmp", field, op, slot | NULL | is-null flag), ("and" | "or", shapes),
# ("not", shape), ("rel", relation, quantifier, soft-delete condition, shape).
Shape = tuple[Any, ...]
NULL = "null"  # a comparison with None: part of the SQL (IS NULL), not a parameter


Bound = dict[str, Any] | None  # values to bind in place, or None for named parameters


def _param(slot: int, bound: Bound, **kw: Any) -> Any:
    name = f"w{slot}"
    if bound is None:
        return sa.bindparam(name, **kw)
    return sa.bindparam(name, bound[name], unique=True, **kw)


def _shape(node: Node, resource: Resource, values: list[Any]) -> Shape:
    """The shape of ``node``; its values are appended to ``values`` in slot order."""
    if isinstance(node, Cmp):
        spec = resource.by_name[node.field]
        if node.op is Op.IS_NULL:
            return ("cmp", node.field, node.op, bool(node.value))
        if node.value is None and node.op not in PATTERN_OPS:
            return ("cmp", node.field, node.op, NULL)
        values.append(_value(spec, node.op, node.value))
        return ("cmp", node.field, node.op, len(values) - 1)
    if isinstance(node, And | Or):
        kind = "and" if isinstance(node, And) else "or"
        return (kind, tuple(_shape(i, resource, values) for i in node.items))
    if isinstance(node, Not):
        return ("not", _shape(node.item, resource, values))
    target = get(resource.relation_by_name[node.relation].target)
    soft = target.soft_delete and not mentions(node.item, "is_deleted")
    return ("rel", node.relation, node.quantifier, soft, _shape(node.item, target, values))


def _compile(
    shape: Shape, resource: Resource, source: FromClause, bound: Bound
) -> ColumnElement[bool]:
    kind = shape[0]
    if kind == "cmp":
        _, name, op, slot = shape
        spec = resource.by_name[name]
        col = _column(resource, source, spec)
        if op is Op.IS_NULL:
            return col.is_(None) if slot else col.is_not(None)
        if op in PATTERN_OPS:
            pattern = _param(slot, bound, type_=sa.Text())
            return ci_lower(col).like(ci_lower(pattern), escape="\\")
        if op is Op.IN:
            return col.in_(_param(slot, bound, expanding=True))
        if op is Op.NOT_IN:
            return col.not_in(_param(slot, bound, expanding=True))
        value = None if slot == NULL else _param(slot, bound)
        binary = {
            Op.EQ: col.__eq__,
            Op.NE: col.__ne__,
            Op.LT: col.__lt__,
            Op.LE: col.__le__,
            Op.GT: col.__gt__,
            Op.GE: col.__ge__,
        }[op]
        result: ColumnElement[bool] = binary(value)
        return result
    if kind == "and":
        return sa.and_(*(_compile(i, resource, source, bound) for i in shape[1]))
    if kind == "or":
        return sa.or_(*(_compile(i, resource, source, bound) for i in shape[1]))
    if kind == "not":
        return sa.not_(_compile(shape[1], resource, source, bound))
    _, name, quantifier, soft, item = shape
    relation = resource.relation_by_name[name]
    target = get(relation.target)
    inner = target.table.alias()
    link = inner.c[relation.remote] == source.c[relation.local]
    condition = _compile(item, target, inner, bound)
    if soft:
        condition = sa.and_(condition, sa.func.coalesce(inner.c.is_deleted, 0) == 0)
    if quantifier is Quantifier.EVERY:
        return ~sa.exists().where(link, ~condition)
    exists = sa.exists().where(link, condition)
    return ~exists if quantifier is Quantifier.NONE else exists


@dataclass(frozen=True)
class Where:
    """A read's conditions split in two: the shape (what the SQL looks like, hashable, so a
    statement is built and cached once per shape) and the values, bound as parameters
    ``w0``, ``w1``… when the statement runs."""

    shape: Shape
    values: dict[str, Any]


def prepare_where(resource: Resource, spec: QuerySpec, limits: Limits) -> Where:
    """Check the filter, codes and search of ``spec`` and split them into shape and values."""
    values: list[Any] = []
    filter_shape = None
    if spec.filter is not None:
        validate(spec.filter, resource, limits)
        filter_shape = _shape(spec.filter, resource, values)
    codes = None
    if spec.codes is not None:
        values.append(list(spec.codes))
        codes = len(values) - 1
    words = None
    if spec.search is not None:
        if not resource.searchable:
            raise BadInput(f"{resource.plural} cannot be searched", "search")
        folded = text.fold(spec.search).split()
        if not folded:
            raise BadInput("search needs at least one letter or digit", "search")
        values.extend(f"%{_escape_like(w)}%" for w in folded)
        words = tuple(range(len(values) - len(folded), len(values)))
    soft = resource.soft_delete and not mentions(spec.filter, "is_deleted")
    shape = (filter_shape, codes, words, soft)
    return Where(shape, {f"w{i}": v for i, v in enumerate(values)})


def where_of(
    resource: Resource, source: FromClause, shape: Shape, bound: Bound = None
) -> ColumnElement[bool] | None:
    """The condition of a `Where` shape: with parameters ``w0``, ``w1``… to give when the
    statement runs, or with the ``bound`` values in place."""
    filter_shape, codes, words, soft = shape
    parts: list[ColumnElement[bool]] = []
    if filter_shape is not None:
        parts.append(_compile(filter_shape, resource, source, bound))
    if codes is not None:
        parts.append(source.c.code.in_(_param(codes, bound, expanding=True)))
    if words is not None:
        column = source.c.keyword
        parts.extend(column.like(_param(w, bound), escape="\\") for w in words)
    if soft:
        parts.append(sa.func.coalesce(source.c.is_deleted, 0) == 0)
    return sa.and_(*parts) if parts else None


def where_clause(
    resource: Resource, source: FromClause, spec: QuerySpec, limits: Limits
) -> ColumnElement[bool] | None:
    """The condition of ``spec`` with its values bound in (for statements not cached per
    shape)."""
    where = prepare_where(resource, spec, limits)
    return where_of(resource, source, where.shape, where.values)


# ---------------------------------------------------------------- ordering


def order_expression(resource: Resource, source: FromClause, path: Sequence[str]) -> Any:
    """A column of this row, or a correlated scalar subquery through to-one relations."""
    if len(path) == 1:
        return source.c[path[0]]
    relation = resource.relation_by_name[path[0]]
    target = get(relation.target)
    inner = target.table.alias()
    value = order_expression(target, inner, path[1:])
    return (
        sa.select(value)
        .where(inner.c[relation.remote] == source.c[relation.local])
        .correlate(source)
        .scalar_subquery()
    )


def effective_order(spec_order: Sequence[Order]) -> list[Order]:
    """The requested order with ``id ASC`` appended as the final tie-breaker."""
    order = [o for o in spec_order if o.path != ("id",)]
    tail = next((o for o in spec_order if o.path == ("id",)), Order(("id",)))
    return [*order, tail]


def _may_be_null(expr: Any) -> bool:
    """False for a NOT NULL column (the primary key, say); a relation's value may be null."""
    return not isinstance(expr, sa.Column) or bool(expr.nullable)


def _sorted(expr: Any, order: Order) -> Any:
    clause = expr.asc() if order.direction is Direction.ASC else expr.desc()
    if not _may_be_null(expr):
        return clause  # no NULLS clause: an index serves either direction
    return clause.nulls_first() if order.effective_nulls_first else clause.nulls_last()


def order_clauses(resource: Resource, source: FromClause, order: Sequence[Order]) -> list[Any]:
    return sorted_by([order_expression(resource, source, o.path) for o in order], order)


def sorted_by(exprs: Sequence[Any], order: Sequence[Order]) -> list[Any]:
    """The ORDER BY clauses of ``exprs`` (already built, to be reused elsewhere in the
    statement), one per item of ``order``."""
    return [_sorted(e, o) for e, o in zip(exprs, order, strict=True)]


# ---------------------------------------------------------------- keyset cursors


def _field_at(resource: Resource, path: Sequence[str]) -> FieldSpec:
    for relation_name in path[:-1]:
        resource = get(resource.relation_by_name[relation_name].target)
    return resource.by_name[path[-1]]


def _signature(order: Sequence[Order]) -> str:
    raw = "|".join(f"{'.'.join(o.path)}:{o.direction}:{o.effective_nulls_first}" for o in order)
    return hashlib.sha1(raw.encode()).hexdigest()[:8]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _typed(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind is Kind.DATETIME:
        return datetime.fromisoformat(value)
    if kind is Kind.DECIMAL:
        return Decimal(value)
    return value


def encode_cursor(order: Sequence[Order], values: Sequence[Any]) -> str:
    body = orjson.dumps({"s": _signature(order), "k": [_plain(v) for v in values]})
    return base64.urlsafe_b64encode(body).decode().rstrip("=")


def decode_cursor(resource: Resource, order: Sequence[Order], cursor: str, arg: str) -> list[Any]:
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = body["k"]
        ok = body["s"] == _signature(order) and len(values) == len(order)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BadInput(f"{arg} is not a cursor of this query (filter and order must match)", arg)
    return [_typed(_field_at(resource, o.path).kind, v) for o, v in zip(order, values, strict=True)]


def _after(expr: Any, order: Order, value: Any) -> ColumnElement[bool]:
    """Rows strictly after ``value`` in one sort key (nulls placed per the order)."""
    ascending = order.direction is Direction.ASC
    if value is None:
        return expr.is_not(None) if order.effective_nulls_first else sa.false()
    beyond = expr > value if ascending else expr < value
    if order.effective_nulls_first or not _may_be_null(expr):
        return beyond  # a plain range: the index seeks to it instead of scanning from the start
    return sa.or_(beyond, expr.is_(None))


def seek_condition(exprs: Sequence[Any], order: Sequence[Order], values: Sequence[Any]) -> Any:
    branches = []
    for i, (expr, o, v) in enumerate(zip(exprs, order, values, strict=True)):
        equal = [
            (e.is_(None) if pv is None else e == pv)
            for e, pv in zip(exprs[:i], values[:i], strict=True)
        ]
        branches.append(sa.and_(*equal, _after(expr, o, v)))
    return sa.or_(*branches)

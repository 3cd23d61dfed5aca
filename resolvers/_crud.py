"""The generic CRUD base: reads and bulk writes for any declared resource.

Functions take an `AsyncSession` and plain values, return rows, and never commit: the
request (or the task) that owns the session decides. Per-resource differences come from the
`Resource` declaration, never from branches on a resource's name.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from models._crypto import mask
from resolvers import _query as q
from resolvers import text
from resolvers._direct import DirectReads, row_class
from resolvers._resource import Relation, Resource, get
from resolvers.caller import Caller
from resolvers.errors import BadInput, Conflict, NotFound, Problem

MASK = re.compile(r"^\*{4}.{0,4}$")


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """The UTC ISO form the module writes into seed text fields (sorts as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_code() -> str:
    return secrets.token_hex(8)


def _columns(
    resource: Resource, names: Iterable[str] | None, relations: bool = True
) -> list[sa.Column[Any]]:
    """Selected columns plus what relations (unless their rows are never read through
    them: ``relations`` false) and cursors always need."""
    if names is None:
        return [resource.table.c[f.name] for f in resource.fields]
    wanted = {"id", "code", *names}
    if relations:
        wanted.update(r.local for r in resource.relations)
    return [c for c in resource.table.columns if c.key in wanted]


@dataclass(frozen=True)
class Joined:
    """A to-one relation read in the statement of the rows that hold it: the ``columns``
    of its target (and the key it is joined on) by a LEFT JOIN on that unique key, each
    selected as ``{relation}__{column}`` (`joined_label`). A row whose relation is null,
    or names a row that does not exist, has null in all of them."""

    relation: Relation
    columns: frozenset[str]


def joined_label(relation: str, column: str) -> str:
    return f"{relation}__{column}"


@dataclass(frozen=True)
class Nested:
    """A to-many relation's page read in the statement of its parents' page, on
    PostgreSQL: a LATERAL page of the target per parent row (the relation's filter, order,
    offset and limit; no total), its columns selected as ``{relation}__{column}``. The
    statement then has a row per child, or one with null child columns for a parent with
    none, a parent's rows together and in the page's order; `nested_groups` splits them."""

    relation: Relation
    spec: ByRepr
    columns: frozenset[str]


ORDINAL = "_n"  # a nested page's parent row number, in the page's order


def nested_groups(rows: Sequence[Any]) -> tuple[list[Any], list[list[Any]]]:
    """The parent rows of a nested page's statement (the first of each parent's rows, which
    holds its columns) and each one's rows."""
    parents: list[Any] = []
    groups: list[list[Any]] = []
    last = None
    for row in rows:
        n = getattr(row, ORDINAL)
        if n != last:
            last = n
            parents.append(row)
            groups.append([row])
        else:
            groups[-1].append(row)
    return parents, groups


def _select(
    resource: Resource, names: Iterable[str] | None, joins: tuple[Joined, ...] = ()
) -> sa.Select[Any]:
    """A SELECT of ``resource``'s columns (`_columns`), with the to-one relations of
    ``joins`` read in the same statement. Each target is joined under an alias of its own,
    so a filter's subquery on the same table still reads the table itself."""
    stmt = sa.select(*_columns(resource, names))
    if not joins:
        return stmt
    table = resource.table
    source: sa.FromClause = table
    labelled: list[Any] = []
    for join in joins:
        relation = join.relation
        target = get(relation.target).table.alias(f"j_{relation.name}")
        source = source.outerjoin(target, target.c[relation.remote] == table.c[relation.local])
        wanted = {relation.remote, *join.columns}
        labelled += [
            c.label(joined_label(relation.name, c.key)) for c in target.columns if c.key in wanted
        ]
    return stmt.add_columns(*labelled).select_from(source)


# ---------------------------------------------------------------- reads


def _run(sync: Session, stmt: sa.Executable, params: dict[str, Any] | None) -> list[Any]:
    """The rows of ``stmt`` as direct reads give them: tuples whose columns are attributes
    (a SQLAlchemy `Row` finds an attribute through a Python-level ``__getattr__``, which
    was a third of the CPU of a keyset page of 1,000 rows, docs/performance.md)."""
    result = sync.connection().execute(stmt, params)
    keys = tuple(result.keys())
    if len(set(keys)) != len(keys) or not all(k.isidentifier() for k in keys):
        return list(result.all())
    make = row_class(keys)
    return [make(row) for row in result.all()]


# Where reads run: a session, or for a read-only operation on PostgreSQL its `DirectReads`.
Reads = AsyncSession | DirectReads


async def read(
    source: Reads,
    stmt: sa.Executable,
    params: dict[str, Any] | None = None,
    *,
    reused: bool = False,
) -> list[Row[Any]]:
    """The rows of a Core SELECT, on the session's connection and in its transaction.

    The module keeps no ORM objects in a session (every write is a Core statement), so the
    ORM's execution layer (autoflush, compile state, ORM events) only costs time here: a
    one-row read spends about a tenth of its CPU there (docs/performance.md, fifth round).
    A statement built once and ``reused`` (by the cached builders below) runs through
    `DirectReads` when ``source`` is one; anything else through the session.
    """
    if isinstance(source, DirectReads):
        if reused:
            rows = await source.fetch(stmt, params)
            if rows is not None:
                return rows
        source = await source.session()
    return await source.run_sync(_run, stmt, params)


async def fetch_page(
    session: Reads,
    resource: Resource,
    spec: q.QuerySpec,
    limits: q.Limits,
    columns: Iterable[str] | None = None,
    joins: tuple[Joined, ...] = (),
    nested: Nested | None = None,
) -> Sequence[Row[Any]]:
    """A page of ``resource`` (its ``columns``), with the to-one relations of ``joins``;
    with ``nested``, a row per child of the page's rows (see `Nested`)."""
    where = q.prepare_where(resource, spec, limits)
    order = tuple(q.effective_order(spec.order))
    wanted = None if columns is None else frozenset(columns)
    stmt = _page(resource, where.shape, order, wanted, limits, joins, nested)
    values = {**where.values, "offset": spec.offset, "limit": spec.limit}
    return await read(session, stmt, values, reused=True)


@functools.lru_cache(maxsize=512)
def _page(
    resource: Resource,
    shape: q.Shape,
    order: tuple[q.Order, ...],
    columns: frozenset[str] | None,
    limits: q.Limits,
    joins: tuple[Joined, ...] = (),
    nested: Nested | None = None,
) -> sa.Select[Any]:
    """The statement of `fetch_page`, built once per shape of filter, order, columns and
    relations read with the rows; the filter's values, the offset and the limit are its
    parameters (a nested page's own filter values are bound in it)."""
    table = resource.table
    stmt = _select(resource, columns, joins)
    where = q.where_of(resource, table, shape)
    if where is not None:
        stmt = stmt.where(where)
    ordering = q.order_clauses(resource, table, list(order))
    stmt = stmt.order_by(*ordering)
    offset = sa.bindparam("offset", type_=sa.Integer())
    stmt = stmt.offset(offset).limit(sa.bindparam("limit", type_=sa.Integer()))
    if nested is None:
        return stmt
    # The page as a subquery, numbered in its order; each of its rows joined to its page of
    # children.
    number = sa.func.row_number().over(order_by=ordering).label(ORDINAL)
    parent = stmt.add_columns(number).subquery("parent")
    relation = nested.relation
    target = get(relation.target)
    children, child_order = _lateral_page(
        target,
        target.table.c[relation.remote],
        parent.c[relation.local],
        nested.spec.spec,
        limits,
        nested.columns,
        joined_label(relation.name, ""),
    )
    return (
        sa.select(parent, children)
        .select_from(parent.outerjoin(children, sa.true()))
        .order_by(parent.c[ORDINAL], *child_order)
    )


async def count(session: Reads, resource: Resource, spec: q.QuerySpec, limits: q.Limits) -> int:
    where = q.prepare_where(resource, spec, limits)
    stmt = _aggregate(resource, where.shape)
    return int((await read(session, stmt, where.values, reused=True))[0][0])


async def aggregate(
    session: Reads,
    resource: Resource,
    spec: q.QuerySpec,
    limits: q.Limits,
    minimum: Sequence[str],
    maximum: Sequence[str],
) -> dict[str, Any]:
    where = q.prepare_where(resource, spec, limits)
    stmt = _aggregate(resource, where.shape, tuple(minimum), tuple(maximum))
    row = (await read(session, stmt, where.values, reused=True))[0]
    return dict(row._mapping)


@functools.lru_cache(maxsize=512)
def _aggregate(
    resource: Resource, shape: q.Shape, minimum: tuple[str, ...] = (), maximum: tuple[str, ...] = ()
) -> sa.Select[Any]:
    """``count(*)`` (first) with the minimum and maximum of some columns, once per shape."""
    table = resource.table
    exprs: list[Any] = [sa.func.count().label("count")]
    exprs += [sa.func.min(table.c[n]).label(f"min__{n}") for n in minimum]
    exprs += [sa.func.max(table.c[n]).label(f"max__{n}") for n in maximum]
    stmt = sa.select(*exprs).select_from(table)
    where = q.where_of(resource, table, shape)
    return stmt if where is None else stmt.where(where)


@dataclass
class Window:
    rows: list[Row[Any]]
    order: list[q.Order]
    has_next: bool
    has_previous: bool

    def cursor(self, resource: Resource, row: Row[Any]) -> str:
        return q.encode_cursor(self.order, [getattr(row, f"k{i}") for i in range(len(self.order))])


async def fetch_window(
    session: Reads,
    resource: Resource,
    spec: q.QuerySpec,
    limits: q.Limits,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    columns: Iterable[str] | None = None,
) -> Window:
    """A keyset window for Relay connections: seeks past a cursor instead of an offset."""
    table = resource.table
    order = q.effective_order(spec.order)
    exprs = [q.order_expression(resource, table, o.path) for o in order]
    keys = [e.label(f"k{i}") for i, e in enumerate(exprs)]
    stmt = sa.select(*_columns(resource, columns), *keys)
    where = q.where_clause(resource, table, spec, limits)
    conditions = [] if where is None else [where]
    if after is not None:
        values = q.decode_cursor(resource, order, after, "after")
        conditions.append(q.seek_condition(exprs, order, values))
    if before is not None:
        values = q.decode_cursor(resource, order, before, "before")
        reverse = [o.reversed() for o in order]
        conditions.append(q.seek_condition(exprs, reverse, values))
    if conditions:
        stmt = stmt.where(*conditions)
    backwards = last is not None and first is None
    size = (last if backwards else first) or spec.limit
    effective = [o.reversed() for o in order] if backwards else order
    stmt = stmt.order_by(*q.sorted_by(exprs, effective))
    rows = await read(session, stmt.limit(size + 1))
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
        return Window(rows, order, has_next=before is not None, has_previous=more)
    return Window(rows, order, has_next=more, has_previous=after is not None)


async def fetch_by_keys(
    session: Reads,
    resource: Resource,
    key: str,
    values: Sequence[Any],
    columns: Iterable[str] | None = None,
    joins: tuple[Joined, ...] = (),
) -> dict[Any, Row[Any]]:
    """Rows whose ``key`` column is in ``values`` (one statement), keyed by that column;
    the to-one relations of ``joins`` read with them."""
    if not values:
        return {}
    wanted = None if columns is None else frozenset({*columns, key})
    stmt = _by_keys(resource.key, key, wanted, _on_postgres(session), joins)
    rows = await read(session, stmt, {"keys": list(set(values))}, reused=True)
    return {getattr(row, key): row for row in rows}


def _on_postgres(source: Reads) -> bool:
    if isinstance(source, DirectReads):
        return True
    return source.get_bind().dialect.name == "postgresql"


def _in_keys(column: sa.Column[Any], postgres: bool) -> sa.ColumnElement[bool]:
    """``column`` among the ``keys`` parameter: ``= ANY(array)`` on PostgreSQL (one
    parameter, one prepared statement whatever the count), an expanding IN elsewhere."""
    element = _array_element(column.type) if postgres else None
    if element is not None:
        array = sa.bindparam("keys", type_=postgresql.ARRAY(element))
        return column == sa.any_(array)
    return column.in_(sa.bindparam("keys", expanding=True))


def _array_element(type_: Any) -> Any:
    """The element type of a ``keys`` array for a column of ``type_``, or None when its
    values must go through a decorator's own bind processing one by one (an expanding IN).
    A decorator that only picks its dialect type (SQLModel's ``AutoString`` for codes)
    binds values as its implementation does."""
    if not isinstance(type_, sa.TypeDecorator):
        return type_
    if type(type_).process_bind_param is not sa.TypeDecorator.process_bind_param:
        return None
    return type_.impl_instance


@functools.lru_cache(maxsize=512)
def _by_keys(
    resource_key: str,
    key: str,
    columns: frozenset[str] | None,
    postgres: bool,
    joins: tuple[Joined, ...] = (),
) -> sa.Select[Any]:
    """The statement of `fetch_by_keys`, built once per shape: its cache key and column
    set are then computed once, not on every request."""
    resource = get(resource_key)
    return _select(resource, columns, joins).where(_in_keys(resource.table.c[key], postgres))


async def fetch_children(
    session: Reads,
    resource: Resource,
    key: str,
    parents: Sequence[Any],
    spec: q.QuerySpec,
    limits: q.Limits,
    columns: Iterable[str] | None = None,
    with_total: bool = False,
) -> dict[Any, tuple[list[Row[Any]], int]]:
    """A page of children for every parent in one statement: on PostgreSQL a LATERAL
    subquery per parent that reads only its page (an index scan that stops at the limit);
    elsewhere, or when the page's total is wanted, window functions over all children."""
    table = resource.table
    partition = table.c[key]
    wanted = None if columns is None else frozenset({*columns, key})
    stmt = _children(
        resource.key, key, ByRepr(spec), limits, wanted, with_total, _on_postgres(session)
    )
    out: dict[Any, tuple[list[Row[Any]], int]] = {p: ([], 0) for p in parents}
    for row in await read(session, stmt, {"keys": list(set(parents))}, reused=True):
        parent = getattr(row, key)
        rows, _ = out[parent]
        rows.append(row)
        out[parent] = (rows, int(row._total) if with_total else 0)
    if with_total:
        # Parents whose page is empty but have children before the offset still need a total.
        missing = [p for p, (rows, _) in out.items() if not rows]
        if missing and spec.offset:
            where = q.where_clause(resource, table, spec, limits)
            totals = sa.select(partition, sa.func.count()).where(partition.in_(missing))
            if where is not None:
                totals = totals.where(where)
            for row in await read(session, totals.group_by(partition)):
                parent, n = tuple(row)
                out[parent] = ([], int(n))
    return out


class ByRepr:
    """A query spec as a cache key: a `QuerySpec` is a mutable dataclass, and its repr is
    what identifies it (as in the relation loaders' keys)."""

    __slots__ = ("key", "spec")

    def __init__(self, spec: q.QuerySpec) -> None:
        self.spec = spec
        self.key = repr(spec)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByRepr) and other.key == self.key


@functools.lru_cache(maxsize=256)
def _children(
    resource_key: str,
    key: str,
    by_repr: ByRepr,
    limits: q.Limits,
    columns: frozenset[str] | None,
    with_total: bool,
    postgres: bool,
) -> sa.Select[Any]:
    """The statement of `fetch_children`; the parents are its ``keys`` parameter, so every
    request with the same relation arguments reuses it (and its cache key)."""
    resource, spec = get(resource_key), by_repr.spec
    table = resource.table
    partition = table.c[key]
    element = _array_element(partition.type) if postgres else None
    if element is not None and not with_total:
        return _children_lateral(resource, partition, element, spec, limits, columns)
    ordering = q.order_clauses(resource, table, q.effective_order(spec.order))
    extras: list[Any] = [
        sa.func.row_number().over(partition_by=partition, order_by=ordering).label("_rn")
    ]
    if with_total:
        extras.append(sa.func.count().over(partition_by=partition).label("_total"))
    inner = sa.select(*_columns(resource, columns), *extras).where(_in_keys(partition, postgres))
    where = q.where_clause(resource, table, spec, limits)
    if where is not None:
        inner = inner.where(where)
    sub = inner.subquery()
    return (
        sa.select(sub)
        .where(sub.c._rn > spec.offset, sub.c._rn <= spec.offset + spec.limit)
        .order_by(sub.c[key], sub.c._rn)
    )


def _children_lateral(
    resource: Resource,
    partition: sa.Column[Any],
    element: Any,
    spec: q.QuerySpec,
    limits: q.Limits,
    columns: frozenset[str] | None,
) -> sa.Select[Any]:
    """``unnest(keys) WITH ORDINALITY`` joined to a LATERAL page per parent. With an index
    on (parent key, order) each page is an index scan that stops at its limit, where the
    window form reads and sorts every child of every parent (W2's last five messages:
    0.48 → 0.32 ms a statement, docs/performance.md). The outer ORDER BY keeps each
    parent's rows together and in order; the order values not already selected ride along
    as ``_o0``, ``_o1``…"""
    parents = (
        sa.func.unnest(sa.bindparam("keys", type_=postgresql.ARRAY(element)))
        .table_valued(sa.column("key", element), with_ordinality="n")
        .render_derived(name="parents")
    )
    page, order = _lateral_page(resource, partition, parents.c.key, spec, limits, columns)
    return sa.select(page).select_from(parents).join(page, sa.true()).order_by(parents.c.n, *order)


def _lateral_page(
    resource: Resource,
    partition: sa.Column[Any],
    parent_key: Any,
    spec: q.QuerySpec,
    limits: q.Limits,
    columns: frozenset[str] | None,
    prefix: str = "",
) -> tuple[Any, list[Any]]:
    """A LATERAL page of ``resource`` for the parent whose key is ``parent_key``, its
    columns named ``prefix`` + column, and the ORDER BY that keeps its rows in order
    outside it. A nested page's (``prefix``) rows have no relations read through them
    (`Nested`), so their relations' keys are not selected."""
    table = resource.table
    order = q.effective_order(spec.order)
    exprs = [q.order_expression(resource, table, o.path) for o in order]
    selected = _columns(resource, columns, relations=not prefix)
    names = {c.key for c in selected}
    carried = {
        i: e.label(f"{prefix}_o{i}")
        for i, e in enumerate(exprs)
        if not (isinstance(e, sa.Column) and e.table is table and e.key in names)
    }
    labelled = [c.label(prefix + c.key) for c in selected] if prefix else selected
    inner = sa.select(*labelled, *carried.values()).where(partition == parent_key)
    where = q.where_clause(resource, table, spec, limits)
    if where is not None:
        inner = inner.where(where)
    inner = inner.order_by(*q.sorted_by(exprs, order))
    page = inner.limit(spec.limit).offset(spec.offset or None).lateral(f"{prefix}page")
    outer = [
        page.c[f"{prefix}_o{i}"] if i in carried else page.c[prefix + exprs[i].key]
        for i in range(len(exprs))
    ]
    return page, q.sorted_by(outer, order)


# ---------------------------------------------------------------- writes


@dataclass
class ItemResult:
    index: int
    code: str | None
    ok: bool
    problems: list[Problem] = field(default_factory=list)


@dataclass
class BulkResult:
    rows: list[Row[Any]]
    results: list[ItemResult]
    written: int | None = None  # rows written, when ``rows`` was not read back

    @property
    def affected(self) -> int:
        return len(self.rows) if self.written is None else self.written

    @property
    def problems(self) -> list[Problem]:
        return [p for r in self.results for p in r.problems]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def _gql(resource: Resource, name: str) -> str:
    return resource.by_name[name].gql


def _stamps(resource: Resource, caller: Caller, creating: bool) -> dict[str, Any]:
    """The creation and modification stamps of a write: the rows of one batch share them."""
    now = utcnow()
    cols = resource.table.c
    stamps: dict[str, Any] = {}
    if creating:
        if "created" in cols:
            stamps["created"] = iso(now) if resource.by_name["created"].kind == "string" else now
        for name in resource.caller_fields:
            if name in cols:
                stamps[name] = caller.module
    if "modified" in cols:
        stamps["modified"] = now
    return stamps


def _stamp(resource: Resource, values: dict[str, Any], caller: Caller, creating: bool) -> None:
    values.update(_stamps(resource, caller, creating))


def _refresh_keyword(resource: Resource, values: dict[str, Any], current: Any = None) -> None:
    if not resource.searchable:
        return
    if not any(s in values for s in resource.search_sources) and current is not None:
        return
    sources = resource.search_sources
    if current is None:
        values["keyword"] = text.keyword([values.get(s) for s in sources])
    else:
        values["keyword"] = text.keyword(
            [values.get(s, getattr(current, s, None)) for s in sources]
        )


async def _check_references(
    session: AsyncSession, resource: Resource, items: Sequence[tuple[int, dict[str, Any]]]
) -> dict[int, list[Problem]]:
    problems: dict[int, list[Problem]] = {}
    for relation in resource.relations:
        if relation.many:
            continue
        wanted = {v[relation.local] for _, v in items if v.get(relation.local) is not None}
        if not wanted:
            continue
        target = get(relation.target)
        found = await fetch_by_keys(session, target, relation.remote, list(wanted), ["code"])
        for index, values in items:
            ref = values.get(relation.local)
            if ref is not None and ref not in found:
                field_name = _gql(resource, relation.local)
                problems.setdefault(index, []).append(
                    Problem(f"unknown {target.type_name} code {ref!r}", field_name, index)
                )
    return problems


async def _check_unique(
    session: AsyncSession,
    resource: Resource,
    items: Sequence[tuple[int, dict[str, Any]]],
    skip_existing: dict[str, set[tuple[Any, ...]]] | None = None,
    own_codes: dict[int, str] | None = None,
) -> dict[int, list[Problem]]:
    """Duplicates within the batch and against stored rows, for every unique key."""
    problems: dict[int, list[Problem]] = {}
    for target, cols in resource.conflict_targets.items():
        seen: dict[tuple[Any, ...], int] = {}
        keyed: list[tuple[int, tuple[Any, ...]]] = []
        for index, values in items:
            if not all(c in values for c in cols):
                continue
            key = tuple(values[c] for c in cols)
            if any(v is None for v in key):
                continue
            if key in seen:
                problems.setdefault(index, []).append(
                    Problem(
                        f"duplicate of item {seen[key]} in this request",
                        _gql(resource, cols[-1]),
                        index,
                        "CONFLICT",
                    )
                )
                continue
            seen[key] = index
            keyed.append((index, key))
        if not keyed:
            continue
        table = resource.table
        clause = sa.tuple_(*(table.c[c] for c in cols)).in_([k for _, k in keyed])
        if len(cols) == 1:
            clause = table.c[cols[0]].in_([k[0] for _, k in keyed])
        stored = {
            tuple(r[:-1]): r[-1]
            for r in (
                await session.execute(
                    sa.select(*(table.c[c] for c in cols), table.c.code).where(clause)
                )
            ).all()
        }
        allowed = (skip_existing or {}).get(target, set())
        for index, key in keyed:
            if key in stored and key not in allowed:
                if own_codes is not None and own_codes.get(index) == stored[key]:
                    continue
                label = ", ".join(_gql(resource, c) for c in cols)
                problems.setdefault(index, []).append(
                    Problem(
                        f"a {resource.type_name} with this {label} already exists",
                        _gql(resource, cols[-1]),
                        index,
                        "CONFLICT",
                    )
                )
    return problems


def _keep_secret(resource: Resource, values: dict[str, Any], current: Any) -> None:
    """A masked secret sent back unchanged leaves the stored secret as it was."""
    for f in resource.fields:
        if f.secret and isinstance(values.get(f.name), str) and MASK.match(values[f.name]):
            if current is None or values[f.name] == mask(getattr(current, f.name, None)):
                del values[f.name]


@dataclass(frozen=True)
class OnConflict:
    target: str = "CODE"
    update_fields: tuple[str, ...] | None = None  # python names; None = every given field


async def create_many(
    session: AsyncSession,
    resource: Resource,
    items: Sequence[dict[str, Any]],
    caller: Caller,
    *,
    on_conflict: OnConflict | None = None,
    skip_failed: bool = False,
    prepare: Any = None,
    read_back: bool = True,
) -> BulkResult:
    """Insert (or upsert) a batch; bad items are reported by index and field. The stored rows
    are read back unless ``read_back`` is false (the caller wants only the count)."""
    prepared: list[tuple[int, dict[str, Any]]] = []
    problems: dict[int, list[Problem]] = {}
    for index, raw in enumerate(items):
        values = {k: v for k, v in raw.items() if resource.by_name[k].writable}
        _keep_secret(resource, values, None)
        if values.get("code") in (None, ""):
            if on_conflict is None or on_conflict.target == "CODE" or "code" in values:
                values["code"] = new_code()
        prepared.append((index, values))
    if prepare is not None:
        for index, issue in (await prepare(session, prepared)).items():
            problems.setdefault(index, []).extend(issue)

    existing: dict[int, Row[Any]] = {}
    skip: dict[str, set[tuple[Any, ...]]] = {}
    if on_conflict is not None:
        cols = resource.conflict_targets[on_conflict.target]
        keyed = [(i, tuple(v.get(c) for c in cols)) for i, v in prepared]
        keyed = [(i, k) for i, k in keyed if all(x is not None for x in k)]
        if keyed:
            table = resource.table
            clause = sa.tuple_(*(table.c[c] for c in cols)).in_([k for _, k in keyed])
            rows = (await session.execute(sa.select(table).where(clause))).all()
            by_key = {tuple(getattr(r, c) for c in cols): r for r in rows}
            for i, k in keyed:
                if k in by_key:
                    existing[i] = by_key[k]
            skip[on_conflict.target] = set(by_key)
            if on_conflict.target != "CODE":
                # A row matched on another key keeps its own code.
                for i, row in existing.items():
                    prepared[i][1]["code"] = row.code
                skip["CODE"] = {(row.code,) for row in existing.values()}
        for i, v in prepared:
            if i not in existing and v.get("code") in (None, ""):
                v["code"] = new_code()

    inserts = [(i, v) for i, v in prepared if i not in existing]
    updates = [(i, v) for i, v in prepared if i in existing]
    for source in (
        await _check_references(session, resource, prepared),
        await _check_unique(session, resource, inserts, skip),
    ):
        for index, issue in source.items():
            problems.setdefault(index, []).extend(issue)

    results = [
        ItemResult(i, v.get("code"), i not in problems, problems.get(i, [])) for i, v in prepared
    ]
    if problems and not skip_failed:
        return BulkResult([], results)

    stamps = _stamps(resource, caller, creating=True)
    for i, values in inserts:
        if i in problems:
            continue
        values.update(stamps)
        _refresh_keyword(resource, values)
    good_inserts = [v for i, v in inserts if i not in problems]
    if good_inserts:
        await _insert(session, resource, good_inserts)
    for i, values in updates:
        if i in problems:
            continue
        current = existing[i]
        changes = {k: v for k, v in values.items() if k != "code"}
        if on_conflict is not None and on_conflict.update_fields is not None:
            changes = {k: v for k, v in changes.items() if k in on_conflict.update_fields}
        await _update_row(session, resource, current, changes, caller)
    written = [r.code for r in results if r.ok and r.code is not None]
    if not read_back:
        return BulkResult([], results, len(written))
    stored = await fetch_by_keys(session, resource, "code", written)
    return BulkResult([stored[c] for c in written], results)


async def insert_one(
    session: AsyncSession,
    resource: Resource,
    values: dict[str, Any],
    caller: Caller,
    returning: Sequence[sa.Column[Any]] | None = None,
) -> Row[Any]:
    """One row the caller has already checked (references, uniqueness), in one statement;
    returns the stored row (or its ``returning`` columns).

    Stamped and keyworded as `create_many` does; for hot paths such as applying Zalo's
    webhooks, where `create_many`'s checks would double the statements.
    """
    values = dict(values)
    if values.get("code") in (None, ""):
        values["code"] = new_code()
    _stamp(resource, values, caller, creating=True)
    _refresh_keyword(resource, values)
    table = resource.table
    stmt = sa.insert(table).returning(*(table.c if returning is None else returning))
    return (await session.execute(stmt, values)).one()


async def _insert(session: AsyncSession, resource: Resource, rows: list[dict[str, Any]]) -> None:
    """One INSERT statement per set of given columns. On PostgreSQL the rows travel as one
    array per column (``INSERT … SELECT FROM unnest(…)``), so a batch of any size is a single
    statement with as many parameters as columns; SQLite takes an executemany."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in rows:
        groups.setdefault(tuple(sorted(values)), []).append(values)
    dialect = session.get_bind().dialect
    postgres = _on_postgres(session)
    for columns, group in groups.items():
        if not postgres or len(group) == 1:
            await session.execute(sa.insert(resource.table), group)
            continue
        params = {}
        for c in columns:
            given = [values[c] for values in group]
            kind = resource.table.c[c].type
            convert = kind.bind_processor(dialect) if isinstance(kind, sa.TypeDecorator) else None
            if convert is not None:
                # its own conversion per value here: an array of JSON lists would otherwise
                # be taken for a two-dimensional array
                given = [convert(v) for v in given]
            params[f"u_{c}"] = given
        await session.execute(_unnest_insert(resource, columns), params)


_UNNEST: dict[tuple[str, tuple[str, ...]], sa.Insert] = {}


def _stored(column: sa.Column[Any]) -> Any:
    """The type a column's values have once converted (a TypeDecorator's ``impl``)."""
    kind = column.type
    return kind.impl_instance if isinstance(kind, sa.TypeDecorator) else kind


def _unnest_insert(resource: Resource, columns: tuple[str, ...]) -> sa.Insert:
    found = _UNNEST.get((resource.key, columns))
    if found is not None:
        return found
    table = resource.table
    arrays = [sa.bindparam(f"u_{c}", type_=postgresql.ARRAY(_stored(table.c[c]))) for c in columns]
    source = sa.func.unnest(*arrays).table_valued(*columns).render_derived()
    statement = sa.insert(table).from_select(list(columns), sa.select(*source.c))
    if len(_UNNEST) < 256:
        _UNNEST[(resource.key, columns)] = statement
    return statement


async def _update_row(
    session: AsyncSession, resource: Resource, current: Any, changes: dict[str, Any], caller: Caller
) -> None:
    _keep_secret(resource, changes, current)
    if not changes:
        return
    _refresh_keyword(resource, changes, current)
    _stamp(resource, changes, caller, creating=False)
    table = resource.table
    await session.execute(sa.update(table).where(table.c.id == current.id).values(**changes))


async def update_many(
    session: AsyncSession,
    resource: Resource,
    items: Sequence[dict[str, Any]],
    caller: Caller,
    *,
    skip_failed: bool = False,
    prepare: Any = None,
    read_back: bool = True,
) -> BulkResult:
    """Partial updates by code: only the fields an item gives change."""
    codes: list[str] = [str(item.get("code") or "") for item in items]
    found = await fetch_by_keys(session, resource, "code", [c for c in codes if c])
    problems: dict[int, list[Problem]] = {}
    prepared: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(items):
        code = codes[index]
        if code not in found:
            problems.setdefault(index, []).append(
                Problem(f"no {resource.type_name} with code {code!r}", "code", index, "NOT_FOUND")
            )
            continue
        if code in seen:
            problems.setdefault(index, []).append(
                Problem(
                    f"duplicate of item {seen[code]} in this request", "code", index, "CONFLICT"
                )
            )
            continue
        seen[code] = index
        values = {k: v for k, v in raw.items() if k != "code" and resource.by_name[k].writable}
        prepared.append((index, values))
    if prepare is not None:
        for index, issue in (await prepare(session, prepared)).items():
            problems.setdefault(index, []).extend(issue)
    own = {i: codes[i] for i, _ in prepared}
    for source in (
        await _check_references(session, resource, prepared),
        await _check_unique(
            session, resource, _with_keys(resource, prepared, found, codes), None, own
        ),
    ):
        for index, issue in source.items():
            problems.setdefault(index, []).extend(issue)
    results = [
        ItemResult(i, codes[i], i not in problems, problems.get(i, [])) for i in range(len(items))
    ]
    if problems and not skip_failed:
        return BulkResult([], results)
    for index, values in prepared:
        if index not in problems:
            await _update_row(session, resource, found[codes[index]], values, caller)
    ok_codes = [r.code for r in results if r.ok and r.code]
    if not read_back:
        return BulkResult([], results, len(ok_codes))
    rows = await fetch_by_keys(session, resource, "code", ok_codes)
    return BulkResult([rows[c] for c in ok_codes], results)


def _with_keys(
    resource: Resource,
    prepared: list[tuple[int, dict[str, Any]]],
    found: dict[Any, Row[Any]],
    codes: list[Any],
) -> list[tuple[int, dict[str, Any]]]:
    """Complete each change with the stored parts of any unique key it touches."""
    out = []
    for index, values in prepared:
        full = dict(values)
        current = found[codes[index]]
        for cols in resource.conflict_targets.values():
            if any(c in values for c in cols):
                for c in cols:
                    full.setdefault(c, getattr(current, c))
        out.append((index, full))
    return out


@dataclass
class DeleteResult:
    deleted_count: int
    codes: list[str]


async def delete_many(
    session: AsyncSession, resource: Resource, codes: Sequence[str], caller: Caller, *, hard: bool
) -> DeleteResult:
    if not codes:
        raise BadInput("give at least one code", "codes")
    found = await fetch_by_keys(session, resource, "code", list(codes), ["code"])
    missing = [c for c in codes if c not in found]
    if missing:
        raise NotFound(f"no {resource.type_name} with code {missing[0]!r}", "codes")
    await _refuse_dependents(session, resource, list(found))
    table = resource.table
    unique = list(dict.fromkeys(codes))
    if resource.soft_delete and not hard:
        now = utcnow()
        await session.execute(
            sa.update(table)
            .where(table.c.code.in_(unique))
            .values(
                is_deleted=1,
                deleted=iso(now),
                delete_by=caller.module,
                delete_by_name=caller.module,
                modified=now,
            )
        )
    else:
        await session.execute(sa.delete(table).where(table.c.code.in_(unique)))
    return DeleteResult(len(unique), unique)


async def _refuse_dependents(session: AsyncSession, resource: Resource, codes: list[str]) -> None:
    """Rows that other rows reference with ON DELETE RESTRICT are not deleted (a 409)."""
    blocking = [
        r
        for r in resource.relations
        if r.many
        and any(fk.ondelete == "RESTRICT" for fk in get(r.target).table.c[r.remote].foreign_keys)
    ]
    problems = []
    for relation in blocking:
        target = get(relation.target)
        n = (
            await session.execute(
                sa.select(sa.func.count()).where(target.table.c[relation.remote].in_(codes))
            )
        ).scalar_one()
        if n:
            problems.append(
                Problem(f"{n} {target.plural} still belong to it", relation.name, None, "CONFLICT")
            )
    if problems:
        raise Conflict(
            f"cannot delete {resource.type_name}: " + "; ".join(p.message for p in problems),
            problems=problems,
        )

"""Builds every GraphQL type and root field of a resource from its declaration.

Per-resource modules in ``gql/types`` call `build` with their `Resource`; this module is the
only place that knows how a resource becomes types, inputs, loaders and root fields, so the
six resources cannot drift apart.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from types import ModuleType
from typing import Annotated, Any, NamedTuple, Optional

import strawberry
from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode
from strawberry import Maybe

from gql import common
from gql.context import Context
from gql.inputs import fast_input
from gql.memo import NodeMemo
from gql.scalars import JSON, DateTime, DecimalNumber
from models._crypto import mask
from resolvers import _crud
from resolvers import _query as q
from resolvers._resource import FieldSpec, Kind, Relation, Resource, camel, get
from resolvers.caller import Scope
from resolvers.errors import BadInput, Problem
from zalo_oa.db import open_transaction

# Generated classes live in this module's namespace so that string annotations between
# resources ("OfficialAccountFilter" inside FollowerFilter) resolve lazily.
NAMESPACE = ModuleType("gql.generated")
sys.modules[NAMESPACE.__name__] = NAMESPACE
for _name in (
    "StringFilter",
    "IntFilter",
    "DecimalFilter",
    "DateTimeFilter",
    "BooleanFilter",
    "SortDirection",
    "BulkErrorPolicy",
    "MutationError",
    "BulkItemResult",
    "DeleteResult",
    "PageInfo",
):
    setattr(NAMESPACE, _name, getattr(common, _name))
for _input in (
    common.StringFilter,
    common.IntFilter,
    common.DecimalFilter,
    common.DateTimeFilter,
    common.BooleanFilter,
):
    fast_input(_input)
NAMESPACE.Maybe = Maybe  # type: ignore[attr-defined]
NAMESPACE.Optional = Optional  # type: ignore[attr-defined]

SCALARS: dict[Kind, Any] = {
    Kind.STRING: str,
    Kind.INT: int,
    Kind.DECIMAL: DecimalNumber,
    Kind.BOOL: bool,
    Kind.DATETIME: DateTime,
    Kind.JSON: JSON,
}
OPERATOR_INPUTS: dict[Kind, type] = {
    Kind.STRING: common.StringFilter,
    Kind.JSON: common.StringFilter,
    Kind.INT: common.IntFilter,
    Kind.DECIMAL: common.DecimalFilter,
    Kind.DATETIME: common.DateTimeFilter,
    Kind.BOOL: common.BooleanFilter,
}
OPERATOR_ATTRS: dict[str, q.Op] = {
    "eq": q.Op.EQ,
    "ne": q.Op.NE,
    "lt": q.Op.LT,
    "le": q.Op.LE,
    "gt": q.Op.GT,
    "ge": q.Op.GE,
    "in_": q.Op.IN,
    "not_in": q.Op.NOT_IN,
    "is_null": q.Op.IS_NULL,
    "contains": q.Op.CONTAINS,
    "starts_with": q.Op.STARTS_WITH,
    "ends_with": q.Op.ENDS_WITH,
}
DIRECTIONS: dict[str, tuple[q.Direction, bool | None]] = {
    "ASC": (q.Direction.ASC, None),
    "DESC": (q.Direction.DESC, None),
    "ASC_NULLS_FIRST": (q.Direction.ASC, True),
    "ASC_NULLS_LAST": (q.Direction.ASC, False),
    "DESC_NULLS_FIRST": (q.Direction.DESC, True),
    "DESC_NULLS_LAST": (q.Direction.DESC, False),
}


def nullable(t: Any) -> Any:
    """``t | None`` for types generated at run time (mypy cannot see them)."""
    return Optional[t]  # noqa: UP045 - ``|`` does not apply to forward references


def lazy(name: str) -> Any:
    """A reference to a generated type that may not exist yet."""
    return Annotated[name, strawberry.lazy(NAMESPACE.__name__)]


_private: Any = strawberry.Private
_parent: Any = strawberry.Parent
PRIVATE: Any = _private[Any]
PARENT: Any = _parent[Any]
_list: Any = list
_maybe: Any = Maybe


def list_of(t: Any) -> Any:
    return _list[t]


def maybe(t: Any) -> Any:
    """An input field that tells absent (None) from null (Some(None))."""
    return _maybe[nullable(t)]


def _make(
    name: str,
    annotations: dict[str, Any],
    attrs: dict[str, Any],
    kind: str,
    description: str | None = None,
    one_of: bool = False,
) -> Any:
    namespace = {"__annotations__": annotations, "__module__": NAMESPACE.__name__, **attrs}
    cls = type(name, (), namespace)
    if kind == "input":
        made = fast_input(strawberry.input(cls, name=name, description=description, one_of=one_of))
    else:
        made = strawberry.type(cls, name=name, description=description)
    setattr(NAMESPACE, name, made)
    return made


def _resolver(
    impl: Callable[..., Awaitable[Any]],
    params: Sequence[tuple[str, Any, Any]],
    returns: Any,
    root: bool = False,
) -> Callable[..., Awaitable[Any]]:
    """A field resolver with an explicit signature (Strawberry reads arguments from it)."""

    async def resolve(*args: Any, **kwargs: Any) -> Any:
        return await impl(*args, **kwargs)

    positional = [
        inspect.Parameter(
            "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info
        )
    ]
    if root:
        positional.insert(
            0,
            inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=PARENT),
        )
    keyword = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
        for n, a, d in params
    ]
    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        positional + keyword, return_annotation=returns
    )
    resolve.__annotations__ = {p.name: p.annotation for p in positional + keyword}
    resolve.__annotations__["return"] = returns
    return resolve


# ---------------------------------------------------------------- selections


class Picked(NamedTuple):
    """A field of a selection by name, fragments spread into their parents."""

    name: str
    selections: tuple[Picked, ...]


def picked(info: strawberry.Info[Any]) -> tuple[Picked, ...]:
    """The names ``info``'s field selects, to any depth: what the resolvers here read of
    `picked(info)`, without its conversion of every argument and directive
    (4 % of a wide list's CPU). Fields under @skip/@include count as selected: at worst a
    column more is read."""
    raw = info._raw_info
    return picked_nodes(raw.field_nodes, raw.fragments)


def picked_nodes(
    nodes: Sequence[FieldNode], fragments: dict[str, FragmentDefinitionNode]
) -> tuple[Picked, ...]:
    """`picked` of a field's nodes."""
    key = _PICKED.key(nodes)
    fields = _PICKED.get(key)
    if fields is None:
        fields = _pick(nodes, fragments)
        _PICKED.put(key, nodes, fields)  # the same for every execution
    return fields


_PICKED: NodeMemo[tuple[Picked, ...]] = NodeMemo(1024)


def _pick(nodes: Iterable[Any], fragments: dict[str, FragmentDefinitionNode]) -> tuple[Picked, ...]:
    out: list[Picked] = []
    for node in nodes:
        if isinstance(node, FieldNode):
            below = node.selection_set
            out.append(Picked(node.name.value, _pick(below.selections, fragments) if below else ()))
        elif isinstance(node, InlineFragmentNode):
            out.extend(_pick(node.selection_set.selections, fragments))
        elif isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                out.extend(_pick(fragment.selection_set.selections, fragments))
    return tuple(out)


def _child(fields: Iterable[Picked], name: str) -> list[Picked]:
    return [c for f in fields for c in f.selections if c.name == name]


def selected_columns(resource: Resource, fields: Iterable[Picked]) -> set[str]:
    """Columns the selection reads (plus keys that relations and cursors need)."""
    wanted: set[str] = set()
    for f in (s for field in fields for s in field.selections):
        spec = resource.by_gql.get(f.name)
        if spec is not None:
            wanted.add(spec.name)
    return wanted


def _is_selected(fields: Iterable[Picked], name: str) -> bool:
    return bool(_child(fields, name))


# ---------------------------------------------------------------- input → spec


def _operand_problem(field_name: str, message: str) -> BadInput:
    return BadInput(f"{field_name}: {message}", field_name)


def _scalar_ops(resource: Resource, spec: FieldSpec, operators: Any) -> list[q.Node]:
    nodes: list[q.Node] = []
    for attr, op in OPERATOR_ATTRS.items():
        value = getattr(operators, attr, None)
        if value is None:
            continue
        if value.value is None:
            raise _operand_problem(spec.gql, f"{op} needs a value, not null")
        if spec.kind is not Kind.JSON and not isinstance(value.value, bool):
            check_value(resource, spec, value.value)
        nodes.append(q.Cmp(spec.name, op, value.value))
    if not nodes:
        raise _operand_problem(spec.gql, "empty filter: give at least one operator")
    return nodes


@functools.lru_cache(maxsize=64)
def _filter_parts(resource: Resource) -> dict[str, tuple[int, Any]]:
    """A filter input's attributes, in the order `to_node` reads them: the filterable
    columns (their spec), the relations (theirs), then ``and_``, ``or_``, ``not_``."""
    parts: list[tuple[str, Any]] = [(s.name, s) for s in resource.fields if s.filterable]
    parts += [(f"{r.name}__rel", r) for r in resource.relations]
    parts += [("and_", q.And), ("or_", q.Or), ("not_", None)]
    return {attr: (i, part) for i, (attr, part) in enumerate(parts)}


def to_node(resource: Resource, value: Any, label: str = "filter") -> q.Node:
    """A generated ``…Filter`` input object → the neutral filter spec."""
    parts = _filter_parts(resource)
    # Only the attributes given (a filter names a few of a hundred columns), in their order.
    given_parts = sorted(
        (
            parts[attr] + (given,)
            for attr, given in vars(value).items()
            if given is not None and attr in parts
        ),
        key=_first,
    )
    nodes: list[q.Node] = []
    for _, part, given in given_parts:
        if isinstance(part, FieldSpec):
            if given.value is None:
                raise _operand_problem(part.gql, "a filter cannot be null")
            nodes.extend(_scalar_ops(resource, part, given.value))
        elif isinstance(part, Relation):
            _relation_node(resource, part, given, nodes)
        elif part is None:
            if given.value is None:
                raise _operand_problem("not", "cannot be null")
            nodes.append(q.Not(to_node(resource, given.value, label)))
        else:
            if given.value is None or not given.value:
                name = "and" if part is q.And else "or"
                raise _operand_problem(name, "needs a non-empty list of filters")
            nodes.append(part(tuple(to_node(resource, v, label) for v in given.value)))
    if not nodes:
        raise BadInput(f"{label}: empty filter", label)
    return nodes[0] if len(nodes) == 1 else q.And(tuple(nodes))


def _first(entry: tuple[Any, ...]) -> Any:
    return entry[0]


def _relation_node(resource: Resource, relation: Relation, given: Any, nodes: list[q.Node]) -> None:
    name = camel(relation.name)
    if given.value is None:
        raise _operand_problem(name, "a relation filter cannot be null")
    target = get(relation.target)
    if not relation.many:
        nodes.append(q.Related(relation.name, q.Quantifier.ONE, to_node(target, given.value, name)))
        return
    parts = []
    for quant in (q.Quantifier.SOME, q.Quantifier.EVERY, q.Quantifier.NONE):
        sub = getattr(given.value, quant.value, None)
        if sub is None:
            continue
        if sub.value is None:
            raise _operand_problem(f"{name}.{quant.value}", "cannot be null")
        parts.append(q.Related(relation.name, quant, to_node(target, sub.value, name)))
    if not parts:
        raise _operand_problem(name, "give some, every or none")
    nodes.extend(parts)


def to_order(resource: Resource, items: Sequence[Any] | None) -> list[q.Order]:
    out: list[q.Order] = []
    for item in items or ():
        out.append(_one_order(resource, item, ()))
    return out


def _one_order(resource: Resource, item: Any, prefix: tuple[str, ...]) -> q.Order:
    chosen = [
        (name, value)
        for name, value in vars(item).items()
        if value is not None and value is not strawberry.UNSET
    ]
    if len(chosen) != 1:
        raise BadInput("each orderBy entry names exactly one field", "orderBy")
    name, value = chosen[0]
    if name.endswith("__rel"):
        relation = resource.relation_by_name[name.removesuffix("__rel")]
        return _one_order(get(relation.target), value, (*prefix, relation.name))
    direction, nulls = DIRECTIONS[value.value if isinstance(value, Enum) else value]
    return q.Order((*prefix, name), direction, nulls)


def _page_args(ctx: Context, offset: int, limit: int) -> tuple[int, int]:
    if offset < 0:
        raise BadInput("offset cannot be negative", "offset")
    if limit < 0:
        raise BadInput("limit cannot be negative", "limit")
    if limit > ctx.settings.max_page_size:
        raise BadInput(f"limit cannot exceed {ctx.settings.max_page_size}", "limit")
    return offset, limit


DECIMAL_LIMIT = Decimal(10) ** 14  # NUMERIC(18, 4)


def check_value(resource: Resource, spec: FieldSpec, value: Any, index: int | None = None) -> None:
    """Refuse what one of the databases would refuse, the same way on both."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadInput(f"{spec.gql}: text cannot contain NUL characters", spec.gql, index)
        length = getattr(resource.table.c[spec.name].type, "length", None)
        if length is not None and len(value) > length:
            raise BadInput(f"{spec.gql}: longer than {length} characters", spec.gql, index)
    elif isinstance(value, Decimal) and abs(value) >= DECIMAL_LIMIT:
        raise BadInput(f"{spec.gql}: must be below 10^14 in size", spec.gql, index)
    elif isinstance(value, list):
        for element in value:
            if isinstance(element, str | Decimal):
                check_value(resource, spec, element, index)


_WRITABLE: dict[str, dict[str, tuple[FieldSpec, bool, int | None]]] = {}


def _writable(resource: Resource) -> dict[str, tuple[FieldSpec, bool, int | None]]:
    """By name, (spec, checked, text length limit) of the fields a write input carries."""
    found = _WRITABLE.get(resource.key)
    if found is None:
        found = _WRITABLE[resource.key] = {
            spec.name: (
                spec,
                spec.kind is not Kind.JSON,
                getattr(resource.table.c[spec.name].type, "length", None),
            )
            for spec in resource.fields
            if spec.writable or spec.name == "code"
        }
    return found


def to_values(resource: Resource, item: Any, index: int | None = None) -> dict[str, Any]:
    """A generated create/update input → column values (absent fields stay absent).

    Walks the fields the input holds, not every field of the resource: a lean input
    (gql/inputs.py) holds only those given, a fraction of a wide resource's."""
    values: dict[str, Any] = {}
    writable = _writable(resource)
    for name, given in vars(item).items():
        if given is None:
            continue
        found = writable.get(name)
        if found is None:
            continue
        spec, checked, length = found
        value = given.value if isinstance(given, strawberry.Some) else given
        if checked:
            if type(value) is str:
                # the common case inline; check_value says what is wrong
                if (length is not None and len(value) > length) or "\x00" in value:
                    check_value(resource, spec, value, index)
            elif value is not None:
                check_value(resource, spec, value, index)
        values[name] = value
    return values


def mutation_errors(problems: Iterable[Problem]) -> list[common.MutationError]:
    return [
        common.MutationError(code=p.code, message=p.message, field=p.field, index=p.index)
        for p in problems
    ]


# ---------------------------------------------------------------- loaders


def one_loader(
    ctx: Context,
    target: Resource,
    key: str,
    columns: frozenset[str] | None = None,
    joins: tuple[_crud.Joined, ...] = (),
) -> Any:
    """Rows of ``target`` by ``key``; only ``columns`` (plus keys) when given, else all;
    with the to-one relations of ``joins`` read in the same statement."""

    async def load(keys: list[Any]) -> list[Any]:
        async with ctx.reads() as session:
            rows = await _crud.fetch_by_keys(session, target, key, keys, columns, joins)
        return [rows.get(k) for k in keys]

    return ctx.loader(("one", target.key, key, columns, joins), load)


def code_loader(
    ctx: Context,
    resource: Resource,
    fields: tuple[Picked, ...],
    joins: tuple[_crud.Joined, ...] = (),
) -> Any:
    """The loader a root ``{single}(code)`` field reads its row through, for a caller
    allowed to read: the columns ``fields`` select (and the relations ``joins`` reads with
    them, for gql.planner)."""
    ctx.caller.require(Scope.READ, "reading")
    return one_loader(ctx, resource, "code", _columns(resource, fields), joins)


@functools.lru_cache(maxsize=1024)
def _columns(resource: Resource, fields: tuple[Picked, ...]) -> frozenset[str]:
    return frozenset(selected_columns(resource, fields))


def per_field(info: strawberry.Info[Context], make: Callable[[], Any]) -> Any:
    """What ``make`` derives from this field's selection and arguments, computed once per
    request for every parent that resolves the same field (a relation on a page of rows)."""
    key = tuple(id(node) for node in info._raw_info.field_nodes)
    plans = info.context.plans
    if key not in plans:
        plans[key] = make()
    return plans[key]


def many_loader(
    ctx: Context,
    relation: Relation,
    spec: q.QuerySpec,
    columns: frozenset[str],
    with_total: bool,
    signature: Hashable = None,
) -> Any:
    target = get(relation.target)

    async def load(keys: list[Any]) -> list[Any]:
        async with ctx.reads() as session:
            pages = await _crud.fetch_children(
                session, target, relation.remote, keys, spec, ctx.limits, columns, with_total
            )
        return [pages[k] for k in keys]

    if signature is None:
        signature = (repr(spec), columns, with_total)
    return ctx.loader(("many", relation.target, relation.remote, signature), load)


# ---------------------------------------------------------------- building


@dataclass(frozen=True)
class RowType:
    """What each field of a generated output type reads; `gql.planner` plans on it."""

    columns: dict[str, str]  # GraphQL field name -> column read as is
    masked: dict[str, str]  # GraphQL field name -> secret column read masked
    relations: dict[str, Relation]  # GraphQL field name -> relation


ROW_TYPES: dict[str, RowType] = {}  # by GraphQL type name
PAGE_TYPES: dict[str, str] = {}  # "{T}Page" -> "T": the page type of a to-many relation
ROOT_ONES: dict[str, Resource] = {}  # Query field name -> the resource it reads one row of by code
# Query field name -> how it reads its page: (context, converted arguments, Picked) -> page
ROOT_PAGES: dict[str, Callable[..., Awaitable[Any]]] = {}


@dataclass
class Built:
    resource: Resource
    type: Any
    filter: Any
    order_by: Any
    create: Any
    update: Any
    page: Any
    connection: Any
    aggregate: Any
    bulk_payload: Any
    on_conflict: Any
    query: Any
    mutation: Any


def _plural_cap(resource: Resource) -> str:
    return resource.plural[0].upper() + resource.plural[1:]


async def _total_count(self: Any) -> int:
    result: int = await self._count()
    return result


def build(
    resource: Resource,
    *,
    prepare_create: Callable[..., Awaitable[Any]] | None = None,
    prepare_update: Callable[..., Awaitable[Any]] | None = None,
) -> Built:
    t = resource.type_name

    # Output type -------------------------------------------------------------
    annotations: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    for spec in resource.fields:
        if spec.secret:
            attrs[spec.name] = strawberry.field(
                resolver=_masked(spec.name),
                name=spec.gql,
                description="Secret: write-only; reads give a masked tail.",
            )
            continue
        scalar = SCALARS[spec.kind]
        annotations[spec.name] = scalar if spec.name in ("id", "code") else nullable(scalar)
        attrs[spec.name] = strawberry.field(name=spec.gql)
    for relation in resource.relations:
        attrs[f"{relation.name}__rel"] = strawberry.field(
            resolver=_relation_resolver(relation), name=camel(relation.name)
        )
    out_type = _make(t, annotations, attrs, "type")
    ROW_TYPES[t] = RowType(
        columns={spec.gql: spec.name for spec in resource.fields if not spec.secret},
        masked={spec.gql: spec.name for spec in resource.fields if spec.secret},
        relations={camel(r.name): r for r in resource.relations},
    )
    PAGE_TYPES[f"{t}Page"] = t

    # Filter ------------------------------------------------------------------
    f_ann: dict[str, Any] = {}
    f_attrs: dict[str, Any] = {}
    for spec in resource.fields:
        if spec.filterable:
            f_ann[spec.name] = maybe(OPERATOR_INPUTS[spec.kind])
            f_attrs[spec.name] = strawberry.field(name=spec.gql)
    for relation in resource.relations:
        target = get(relation.target)
        kind = f"{target.type_name}ListFilter" if relation.many else f"{target.type_name}Filter"
        f_ann[f"{relation.name}__rel"] = f"Maybe[Optional[{kind}]]"
        f_attrs[f"{relation.name}__rel"] = strawberry.field(name=camel(relation.name))
    f_ann["and_"] = f"Maybe[Optional[list[{t}Filter]]]"
    f_ann["or_"] = f"Maybe[Optional[list[{t}Filter]]]"
    f_ann["not_"] = f"Maybe[Optional[{t}Filter]]"
    f_attrs.update(
        and_=strawberry.field(name="and"),
        or_=strawberry.field(name="or"),
        not_=strawberry.field(name="not"),
    )
    filter_input = _make(
        f"{t}Filter",
        f_ann,
        f_attrs,
        "input",
        description=f"Conditions on {resource.plural}; siblings combine with AND.",
    )
    _make(
        f"{t}ListFilter",
        {k: f"Maybe[Optional[{t}Filter]]" for k in ("some", "every", "none")},
        {},
        "input",
        description=f"Conditions on a list of {resource.plural}.",
    )

    # Ordering ----------------------------------------------------------------
    o_ann: dict[str, Any] = {}
    o_attrs: dict[str, Any] = {}
    for spec in resource.fields:
        if spec.orderable:
            o_ann[spec.name] = nullable(common.SortDirection)
            o_attrs[spec.name] = strawberry.field(name=spec.gql, default=strawberry.UNSET)
    for relation in resource.relations:
        if not relation.many:
            o_ann[f"{relation.name}__rel"] = f"Optional[{get(relation.target).type_name}OrderBy]"
            o_attrs[f"{relation.name}__rel"] = strawberry.field(
                name=camel(relation.name), default=strawberry.UNSET
            )
    order_input = _make(
        f"{t}OrderBy",
        o_ann,
        o_attrs,
        "input",
        one_of=True,
        description="One field per entry; entries apply in order, id last.",
    )

    # Writes ------------------------------------------------------------------
    c_ann: dict[str, Any] = {}
    c_attrs: dict[str, Any] = {}
    u_ann: dict[str, Any] = {"code": str}
    u_attrs: dict[str, Any] = {"code": strawberry.field(name="code")}
    for spec in resource.fields:
        if not spec.writable:
            continue
        c_ann[spec.name] = maybe(SCALARS[spec.kind])
        c_attrs[spec.name] = strawberry.field(name=spec.gql)
        if spec.name != "code":
            u_ann[spec.name] = c_ann[spec.name]
            u_attrs[spec.name] = strawberry.field(name=spec.gql)
    create_input = _make(
        f"{t}Create",
        c_ann,
        c_attrs,
        "input",
        description="A new item; `code` is generated when absent.",
    )
    update_input = _make(
        f"{t}Update",
        u_ann,
        u_attrs,
        "input",
        description="A partial update: only the fields given change.",
    )
    make_enum: Any = Enum
    conflict_enum = make_enum(f"{t}ConflictTarget", {k: k for k in resource.conflict_targets})
    target_enum = strawberry.enum(
        conflict_enum,
        name=f"{t}ConflictTarget",
    )
    setattr(NAMESPACE, f"{t}ConflictTarget", target_enum)
    on_conflict = _make(
        f"{t}OnConflict",
        {"target": target_enum, "update_fields": nullable(list_of(str))},
        {"target": strawberry.field(default=next(iter(target_enum))), "update_fields": None},
        "input",
        description="Turns a create into an upsert on `target`; `updateFields` limits what "
        "an existing row takes from the item.",
    )

    # Pages -------------------------------------------------------------------
    page = _make(
        f"{t}Page",
        {
            "items": list_of(out_type),
            "offset": int,
            "limit": int,
            "_count": PRIVATE,
        },
        {
            "total_count": strawberry.field(
                resolver=_total_count, description="Computed only when selected."
            )
        },
        "type",
    )
    edge = _make(f"{t}Edge", {"cursor": str, "node": out_type}, {}, "type")
    connection = _make(
        f"{t}Connection",
        {
            "edges": list_of(edge),
            "nodes": list_of(out_type),
            "page_info": common.PageInfo,
            "_count": PRIVATE,
        },
        {
            "total_count": strawberry.field(
                resolver=_total_count, description="Computed only when selected."
            )
        },
        "type",
        description="Keyset (cursor) paging: stable and fast at any depth.",
    )
    bounds = {
        spec.name: nullable(SCALARS[spec.kind])
        for spec in resource.fields
        if spec.orderable and spec.kind is not Kind.BOOL
    }
    bound_attrs = {n: strawberry.field(name=resource.by_name[n].gql, default=None) for n in bounds}
    min_max = _make(f"{t}Bounds", bounds, bound_attrs, "type")
    aggregate = _make(f"{t}Aggregate", {"count": int, "min": min_max, "max": min_max}, {}, "type")
    bulk = _make(
        f"{t}BulkPayload",
        {
            "affected_count": int,
            "items": list_of(out_type),
            "results": list[common.BulkItemResult],
            "errors": list[common.MutationError],
        },
        {},
        "type",
    )

    # Root fields -------------------------------------------------------------
    def query_spec(
        ctx: Context,
        filter: Any,
        order_by: Any,
        search: Any,
        offset: int = 0,
        limit: int = 50,
        codes: Any = None,
    ) -> q.QuerySpec:
        if codes is not None and len(codes) > ctx.settings.max_in_values:
            raise BadInput(f"more than {ctx.settings.max_in_values} codes", "codes")
        return q.QuerySpec(
            filter=None if filter is None else to_node(resource, filter),
            order=to_order(resource, order_by),
            codes=codes,
            search=search,
            offset=offset,
            limit=limit,
        )

    async def one(info: strawberry.Info[Context], code: str) -> Any:
        return await code_loader(info.context, resource, picked(info)).load(code)

    async def many(info: strawberry.Info[Context], **kw: Any) -> Any:
        return await read_page(info.context, kw, picked(info))

    async def read_page(
        ctx: Context,
        kw: dict[str, Any],
        fields: tuple[Picked, ...],
        joins: tuple[_crud.Joined, ...] = (),
        nested: _crud.Nested | None = None,
    ) -> Any:
        """The page a root ``{plural}`` field answers, for its converted arguments and the
        fields it selects (also run by gql.planner for planned roots, which may have the
        items' to-one relations, and one to-many relation, read in the same statement:
        ``joins``, ``nested``)."""
        ctx.caller.require(Scope.READ, "reading")
        offset, limit = _page_args(ctx, kw["offset"], kw["limit"])
        spec = query_spec(
            ctx, kw["filter"], kw["order_by"], kw.get("search"), offset, limit, kw["codes"]
        )
        rows: list[Any] = []
        if _is_selected(fields, "items") and limit:
            columns = selected_columns(resource, _child(fields, "items"))
            async with ctx.reads() as session:
                found = await _crud.fetch_page(
                    session, resource, spec, ctx.limits, columns, joins, nested
                )
                rows = list(found)
        else:
            q.prepare_where(resource, spec, ctx.limits)  # validate anyway

        async def total() -> int:
            async with ctx.reads() as session:
                return await _crud.count(session, resource, spec, ctx.limits)

        return page(items=rows, offset=offset, limit=limit, _count=total)

    async def window(info: strawberry.Info[Context], **kw: Any) -> Any:
        ctx = info.context
        ctx.caller.require(Scope.READ, "reading")
        first, last = kw["first"], kw["last"]
        for value in (first, last):
            if value is not None:
                _page_args(ctx, 0, value)
        if first is not None and last is not None:
            raise BadInput("give first or last, not both", "last")
        spec = query_spec(
            ctx,
            kw["filter"],
            kw["order_by"],
            kw.get("search"),
            limit=ctx.settings.default_page_size,
        )
        fields = picked(info)
        columns = selected_columns(
            resource, _child(fields, "nodes") + _child(_child(fields, "edges"), "node")
        )
        async with ctx.reads() as session:
            win = await _crud.fetch_window(
                session,
                resource,
                spec,
                ctx.limits,
                first=first,
                after=kw["after"],
                last=last,
                before=kw["before"],
                columns=columns,
            )
        rows = win.rows
        # A cursor per row only when edges are read; page info needs the first and last.
        edges = []
        if _is_selected(fields, "edges"):
            edges = [edge(cursor=win.cursor(resource, r), node=r) for r in rows]
        start = edges[0].cursor if edges else (win.cursor(resource, rows[0]) if rows else None)
        end = edges[-1].cursor if edges else (win.cursor(resource, rows[-1]) if rows else None)

        async def total() -> int:
            async with ctx.reads() as session:
                return await _crud.count(session, resource, spec, ctx.limits)

        return connection(
            edges=edges,
            nodes=rows,
            page_info=common.PageInfo(
                has_next_page=win.has_next,
                has_previous_page=win.has_previous,
                start_cursor=start,
                end_cursor=end,
            ),
            _count=total,
        )

    async def aggregate_of(info: strawberry.Info[Context], **kw: Any) -> Any:
        ctx = info.context
        ctx.caller.require(Scope.READ, "reading")
        spec = query_spec(ctx, kw["filter"], None, kw.get("search"))
        fields = picked(info)
        lows = sorted(selected_columns(resource, _child(fields, "min")))
        highs = sorted(selected_columns(resource, _child(fields, "max")))
        async with ctx.reads() as session:
            result = await _crud.aggregate(session, resource, spec, ctx.limits, lows, highs)
        return aggregate(
            count=result["count"],
            min=min_max(**{n: result.get(f"min__{n}") for n in lows}),
            max=min_max(**{n: result.get(f"max__{n}") for n in highs}),
        )

    async def create(
        info: strawberry.Info[Context],
        input: list[Any],
        on_conflict: Any,
        error_policy: common.BulkErrorPolicy,
    ) -> Any:
        ctx = info.context
        ctx.caller.require(Scope.WRITE, f"create{_plural_cap(resource)}")
        items = [to_values(resource, item, index) for index, item in enumerate(input)]
        conflict = None
        if on_conflict is not None:
            update_fields = None
            if on_conflict.update_fields is not None:
                update_fields = tuple(_field_names(resource, on_conflict.update_fields))
            conflict = _crud.OnConflict(on_conflict.target.value, update_fields)
        return await _bulk(
            ctx,
            bulk,
            error_policy,
            lambda s: _crud.create_many(
                s,
                resource,
                items,
                ctx.caller,
                on_conflict=conflict,
                skip_failed=error_policy is common.BulkErrorPolicy.SKIP_FAILED,
                prepare=prepare_create,
                read_back=_is_selected(picked(info), "items"),
            ),
        )

    async def update(
        info: strawberry.Info[Context], input: list[Any], error_policy: common.BulkErrorPolicy
    ) -> Any:
        ctx = info.context
        ctx.caller.require(Scope.WRITE, f"update{_plural_cap(resource)}")
        items = [
            {"code": item.code, **to_values(resource, item, index)}
            for index, item in enumerate(input)
        ]
        return await _bulk(
            ctx,
            bulk,
            error_policy,
            lambda s: _crud.update_many(
                s,
                resource,
                items,
                ctx.caller,
                skip_failed=error_policy is common.BulkErrorPolicy.SKIP_FAILED,
                prepare=prepare_update,
                read_back=_is_selected(picked(info), "items"),
            ),
        )

    async def delete(info: strawberry.Info[Context], codes: list[str], hard: bool) -> Any:
        ctx = info.context
        ctx.caller.require(Scope.WRITE, f"delete{_plural_cap(resource)}")
        if hard and resource.soft_delete:
            ctx.caller.require(Scope.ADMIN, "a hard delete")
        async with ctx.db() as session:
            result = await _crud.delete_many(session, resource, codes, ctx.caller, hard=hard)
        ctx.clear_loaders()
        return common.DeleteResult(deleted_count=result.deleted_count, codes=result.codes)

    filter_arg = ("filter", nullable(filter_input), None)
    order_arg = ("order_by", nullable(list_of(order_input)), None)
    search_args = [("search", nullable(str), None)] if resource.searchable else []
    cap = _plural_cap(resource)
    ROOT_ONES[camel(resource.single)] = resource  # planned by gql.planner like `one`
    ROOT_PAGES[camel(resource.plural)] = read_page  # and like `many`
    query_attrs = {
        resource.single: strawberry.field(
            resolver=_resolver(one, [("code", str, inspect.Parameter.empty)], nullable(out_type)),
            description=f"One {t} by code (null when there is none).",
        ),
        resource.plural: strawberry.field(
            resolver=_resolver(
                many,
                [
                    filter_arg,
                    order_arg,
                    ("offset", int, 0),
                    ("limit", int, 50),
                    ("codes", nullable(list_of(str)), None),
                    *search_args,
                ],
                page,
            ),
            description=f"A page of {resource.plural}: the image of the REST list.",
        ),
        f"{resource.plural}Connection": strawberry.field(
            resolver=_resolver(
                window,
                [
                    filter_arg,
                    order_arg,
                    *search_args,
                    ("first", nullable(int), None),
                    ("after", nullable(str), None),
                    ("last", nullable(int), None),
                    ("before", nullable(str), None),
                ],
                connection,
            ),
        ),
        f"{resource.plural}Aggregate": strawberry.field(
            resolver=_resolver(aggregate_of, [filter_arg, *search_args], aggregate),
        ),
    }
    policy = ("error_policy", common.BulkErrorPolicy, common.BulkErrorPolicy.ALL_OR_NOTHING)
    mutation_attrs = {
        f"create{cap}": strawberry.mutation(
            resolver=_resolver(
                create,
                [
                    ("input", list_of(create_input), inspect.Parameter.empty),
                    ("on_conflict", nullable(on_conflict), None),
                    policy,
                ],
                bulk,
            )
        ),
        f"update{cap}": strawberry.mutation(
            resolver=_resolver(
                update,
                [
                    ("input", list_of(update_input), inspect.Parameter.empty),
                    policy,
                ],
                bulk,
            )
        ),
        f"delete{cap}": strawberry.mutation(
            resolver=_resolver(
                delete,
                [("codes", list[str], inspect.Parameter.empty), ("hard", bool, False)],
                common.DeleteResult,
            )
        ),
    }
    query = _make(f"{t}Query", {}, query_attrs, "type")
    mutation = _make(f"{t}Mutation", {}, mutation_attrs, "type")
    return Built(
        resource,
        out_type,
        filter_input,
        order_input,
        create_input,
        update_input,
        page,
        connection,
        aggregate,
        bulk,
        on_conflict,
        query,
        mutation,
    )


def _field_names(resource: Resource, names: Iterable[str]) -> Iterable[str]:
    for name in names:
        spec = resource.by_gql.get(name)
        if spec is None or not spec.writable:
            raise BadInput(f"updateFields: {name!r} is not a writable field", "updateFields")
        yield spec.name


async def _bulk(
    ctx: Context,
    payload: Any,
    policy: common.BulkErrorPolicy,
    run: Callable[[Any], Awaitable[_crud.BulkResult]],
) -> Any:
    """Run a bulk write inside a savepoint: all or nothing unless SKIP_FAILED."""
    async with ctx.db() as session:
        await open_transaction(session)
        savepoint = await session.begin_nested()
        result = await run(session)
        if not result.ok and policy is common.BulkErrorPolicy.ALL_OR_NOTHING:
            await savepoint.rollback()
        else:
            await savepoint.commit()
    ctx.clear_loaders()
    return payload(
        affected_count=result.affected,
        items=result.rows,
        results=[
            common.BulkItemResult(
                index=r.index, code=r.code, ok=r.ok, errors=mutation_errors(r.problems)
            )
            for r in result.results
        ],
        errors=mutation_errors(result.problems),
    )


def _masked(name: str) -> Callable[..., str | None]:
    def resolve(root: strawberry.Parent[Any]) -> str | None:
        return mask(getattr(root, name, None))

    return resolve


def _relation_resolver(relation: Relation) -> Any:
    target_name = get(relation.target).type_name
    target_ref = lazy(target_name)
    if not relation.many:

        async def to_one(root: Any, info: strawberry.Info[Context]) -> Any:
            key = getattr(root, relation.local, None)
            if key is None:
                return None
            target = get(relation.target)
            columns = per_field(info, lambda: frozenset(selected_columns(target, picked(info))))
            return await one_loader(info.context, target, relation.remote, columns).load(key)

        return _resolver(to_one, [], nullable(target_ref), root=True)

    page_ref = lazy(f"{target_name}Page")
    filter_ref = lazy(f"{target_name}Filter")
    order_ref = lazy(f"{target_name}OrderBy")

    def plan(info: strawberry.Info[Context], kw: dict[str, Any]) -> RelationPage:
        target = get(relation.target)
        fields = picked(info)
        columns = frozenset(selected_columns(target, _child(fields, "items")))
        with_total = _is_selected(fields, "totalCount")
        return relation_page(info.context, relation, kw, columns, with_total)

    async def to_many(root: Any, info: strawberry.Info[Context], **kw: Any) -> Any:
        loader, offset, limit = per_field(info, lambda: plan(info, kw))
        rows, total = await loader.load(getattr(root, relation.local))
        page_type = getattr(NAMESPACE, f"{target_name}Page")

        async def count() -> int:
            return total

        return page_type(items=rows, offset=offset, limit=limit, _count=count)

    return _resolver(
        to_many,
        [
            ("filter", nullable(filter_ref), None),
            ("order_by", nullable(list_of(order_ref)), None),
            ("offset", int, RELATION_DEFAULTS["offset"]),
            ("limit", int, RELATION_DEFAULTS["limit"]),
        ],
        page_ref,
        root=True,
    )


RELATION_DEFAULTS: dict[str, Any] = {"filter": None, "order_by": None, "offset": 0, "limit": 50}


class RelationPage(NamedTuple):
    loader: Any  # DataLoader: parent key -> (rows, total)
    offset: int
    limit: int


class RelationPlan(NamedTuple):
    """What a to-many relation's (converted) arguments and selection ask for; nothing in it
    belongs to a request, `page` binds it to one."""

    relation: Relation
    spec: q.QuerySpec
    columns: frozenset[str]
    with_total: bool
    signature: Hashable  # the loader's key, computed once

    def page(self, ctx: Context) -> RelationPage:
        loader = many_loader(
            ctx, self.relation, self.spec, self.columns, self.with_total, self.signature
        )
        return RelationPage(loader, self.spec.offset, self.spec.limit)


def relation_plan(
    ctx: Context,
    relation: Relation,
    kw: dict[str, Any],
    columns: frozenset[str],
    with_total: bool,
) -> RelationPlan:
    """The plan of a to-many relation for its (converted) arguments; ``ctx`` gives only the
    settings (the page-size bound)."""
    args = {**RELATION_DEFAULTS, **kw}
    target = get(relation.target)
    offset, limit = _page_args(ctx, args["offset"], args["limit"])
    spec = q.QuerySpec(
        filter=None if args["filter"] is None else to_node(target, args["filter"]),
        order=to_order(target, args["order_by"]),
        offset=offset,
        limit=limit,
    )
    return RelationPlan(relation, spec, columns, with_total, (repr(spec), columns, with_total))


def relation_page(
    ctx: Context,
    relation: Relation,
    kw: dict[str, Any],
    columns: frozenset[str],
    with_total: bool,
) -> RelationPage:
    """The loader and page bounds of a to-many relation for its (converted) arguments."""
    return relation_plan(ctx, relation, kw, columns, with_total).page(ctx)

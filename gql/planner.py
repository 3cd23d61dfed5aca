"""Planned completion of the output types `gql.factory` generates.

graphql-core completes a list of objects a field at a time: for every row and every
selected field it builds a resolve info, calls the resolver, completes the value and, for a
relation, awaits its own future; a list gets a `gather` over its items. For the types built
from a resource what each field does is known in advance (read a column, mask a secret,
load a relation through the request's loaders), so `PlannedExecution` turns the selection
on such a type into a plan, once per request and field, and shapes the rows into response
dicts directly: a relation level at a time, one loader call (one statement) for all the
rows of the level, leaves coerced by the same `coerce_output_value` graphql-core uses.

A query's root fields are planned too when all of them are generated reads (a row by code,
a page) with planned selections: they are read through the resolvers' own functions and
shaped the same way (`Shaper.roots`). Root plans that depend on the document alone are
kept by operation, and a known query (`gql.known`) runs them without graphql-core's
executor (`run_roots`).

What the plan does not know (a field added by hand, `@defer`, arguments on a column, a
subscription) is left to graphql-core's own completion, and so is any error met while
shaping: the standard path then runs and reports it with its path, exactly as it does
without the planner. Plans read rows only, so running the standard path after an
abandoned plan changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationType,
    Undefined,
    VariableNode,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from graphql import ExecutionResult as GraphQLResult
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path
from strawberry.dataloader import DataLoader
from strawberry.exceptions import WrongNumberOfResultsReturned
from strawberry.scalars import is_scalar
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments

from gql import coercion, factory
from gql.memo import NodeMemo
from models._crypto import mask
from resolvers import _crud
from resolvers._resource import get
from resolvers.errors import BadInput

COLUMN, MASKED, TYPENAME, ONE, MANY, JOINED, NESTED = range(7)
# How much of a row type's relations its rows' read can take in (`PlannedExecution._row_plan`)
SEPARATE, JOIN, NEST = range(3)
ITEMS, OFFSET, LIMIT, TOTAL = range(4)
_PAGE_FIELDS = {"items": ITEMS, "offset": OFFSET, "limit": LIMIT, "totalCount": TOTAL}


class Unplanned(Exception):
    """The rows cannot be shaped by the plan; graphql-core completes them instead."""


class Step(NamedTuple):
    kind: int
    key: str  # response key (the alias, or the field name)
    # column read (COLUMN, MASKED), the local key of ONE/MANY, the joined key of JOINED, the
    # child's id of NESTED; the type name of TYPENAME
    attr: str
    coerce: Any = None  # the leaf type's coerce_output_value
    required: bool = False  # non-null field
    sub: Any = None  # ONE, JOINED: RowPlan; MANY, NESTED: PagePlan
    # ONE: context -> DataLoader; MANY: factory.RelationPlan; JOINED: _crud.Joined;
    # NESTED: _crud.Nested
    load: Any = None
    # COLUMN: values of exactly this type are their own output (for int, within 32 bits)
    plain: type | None = None


# graphql-core's String, ID and Boolean serialize a str (a bool) as itself, and Int an int
# within 32 bits: such a value needs no call (most of a wide row's values are strings and
# small integers).
_PLAIN: dict[str, type] = {"String": str, "ID": str, "Boolean": bool, "Int": int}


class RowPlan(NamedTuple):
    steps: tuple[Step, ...]
    related: tuple[Step, ...]  # the relation steps, shaped before the rows are
    columns: frozenset[str]
    build: Any  # (rows, relation values) -> response dicts (`_builder`)
    joins: tuple[_crud.Joined, ...] = ()  # to-one relations the rows' read must join
    nested: _crud.Nested | None = None  # the to-many relation it must read with them


class Root(NamedTuple):
    """A planned root field: a row by code (``resource``) or a page (``read``), shaped by
    ``plan``; or ``__typename``."""

    key: str
    type_name: str
    resource: Any = None  # a row by code: the resource
    fields: Any = None  # factory.Picked of the field, for the columns its read selects
    plan: Any = None  # RowPlan of the row, PagePlan of the page
    required: bool = False
    read: Any = None  # a page: factory.ROOT_PAGES' read
    arguments: Any = None  # how its arguments are converted (`_Arguments`)
    joins: tuple[_crud.Joined, ...] = ()  # to-one relations read with its rows
    nested: _crud.Nested | None = None  # a page: the to-many relation read with its rows


class _Arguments(NamedTuple):
    """A planned field's arguments (a root's, a relation page's), converted as Strawberry
    converts them."""

    field_def: Any
    node: Any
    strawberry: Any  # the StrawberryField
    schema: Any  # the Strawberry schema
    # Every argument a scalar under its own name: Strawberry would return graphql-core's
    # values as they are (a `{single}(code)` field), so they are not converted again.
    plain: bool

    @classmethod
    def of(cls, field_def: Any, node: Any, schema: Any) -> _Arguments:
        field = field_def.extensions["strawberry-definition"]
        registry = schema.schema_converter.scalar_registry
        plain = set(field_def.args) == {a.python_name for a in field.arguments} and all(
            is_scalar(a.type, registry) for a in field.arguments
        )
        return cls(field_def, node, field, schema, plain)

    def convert(self, variables: VariableValues, fragment_variables: Any = None) -> dict[str, Any]:
        raw = get_argument_values(self.field_def, self.node, variables, fragment_variables, True)
        if self.plain:
            return raw
        schema = self.schema
        converted: dict[str, Any] = convert_arguments(
            raw,
            self.strawberry.arguments,
            scalar_registry=schema.schema_converter.scalar_registry,
            config=schema.config,
        )
        return converted


class PagePlan(NamedTuple):
    type_name: str
    fields: tuple[tuple[int, str, RowPlan | None], ...]  # (ITEMS.., key, items plan)


def _unwrap(t: GraphQLOutputType) -> tuple[Any, bool]:
    return get_nullable_type(t), is_non_null_type(t)


class PlannedExecution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor with planned completion of generated row types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans: dict[tuple[str, int, int], tuple[Any, RowPlan | None]] = {}
        self.planning = self.operation.operation in (OperationType.QUERY, OperationType.MUTATION)
        self.shaper = Shaper(self.context_value)

    # ------------------------------------------------------------ graphql-core hooks

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """graphql-core's response, and the executor let go of once nothing more will run.

        The executor is in a reference cycle (``async_helpers`` holds two of its bound
        methods), so it and all it holds (the request's variables, which for a bulk write
        are a thousand items; the context; the plans) would otherwise live until the
        collector's next pass. By then a long request has been promoted to an old
        generation, and a worker serving bulk writes grew by tens of MB
        (docs/performance.md, eighth round). Incremental responses still need it."""
        response = super().build_response(data)
        if type(response) is GraphQLResult and not self.background_futures:
            del self.async_helpers
        return response

    def execute_root_grouped_field_set(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: Any,
        serially: bool,
        position_context: Any,
    ) -> Any:
        """A query's root fields read straight through their loaders when every one of
        them is planned (`_root_plan`); otherwise, or at any error, graphql-core's own
        execution of them, which reports the error as it does without the planner."""
        standard = partial(
            super().execute_root_grouped_field_set,
            root_type,
            root_value,
            grouped_field_set,
            serially,
            position_context,
        )
        if serially or self.operation.operation != OperationType.QUERY:
            return standard()
        roots = self._root_plan(root_type, grouped_field_set) if self.planning else None
        return standard() if roots is None else self._roots_or(roots, standard)

    def complete_list_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        standard = partial(
            super().complete_list_value,
            return_type,
            field_details_list,
            info,
            path,
            result,
            position_context,
        )
        item_type, _ = _unwrap(return_type.of_type)
        plan = self._plan_for(item_type, field_details_list, info) if type(result) is list else None
        return standard() if plan is None else self._shape_or(plan, result, standard)

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        standard = partial(
            super().complete_object_value,
            return_type,
            field_details_list,
            info,
            path,
            result,
            position_context,
        )
        plan = self._plan_for(return_type, field_details_list, info)
        return standard() if plan is None else self._shape_or(plan, [result], standard, True)

    # ------------------------------------------------------------ shaping

    async def _roots_or(self, roots: list[Root], standard: Any) -> Any:
        try:
            return await self.shaper.roots(roots, self.variable_values)
        except Exception:
            result = standard()
            return await result if self.is_awaitable(result) else result

    def _shape_or(self, plan: RowPlan, rows: list[Any], standard: Any, single: bool = False) -> Any:
        if plan.related:
            return self._shape_related_or(plan, rows, standard, single)
        try:
            shaped = _build(plan, rows, {})
        except Exception:
            return standard()
        return shaped[0] if single else shaped

    async def _shape_related_or(
        self, plan: RowPlan, rows: list[Any], standard: Any, single: bool
    ) -> Any:
        try:
            shaped = await self.shaper.shape(plan, rows)
        except Exception:
            result = standard()
            return await result if self.is_awaitable(result) else result
        return shaped[0] if single else shaped

    # ------------------------------------------------------------ planning

    def _root_plan(self, root_type: GraphQLObjectType, grouped: Any) -> list[Root] | None:
        """How each root field is read, when all are `{single}(code)` fields whose
        selections are planned (and ``__typename``); else None. Roots that depend on the
        document alone are kept for its next executions (`planned_roots`)."""
        operation = self.operation
        # A schema serves one database (zalo_oa.app.create_app), so what a plan reads with a
        # root's rows, which depends on the database's dialect, needs no place in the key.
        memo_key = _ROOTS.key((operation,), id(self.schema))
        shared = _ROOTS.get(memo_key)
        if shared is not None:
            return list(shared)
        roots: list[Root] = []
        shareable = all(
            isinstance(n, FieldNode) and not n.directives
            for n in operation.selection_set.selections
        )
        for key, details in grouped.items():
            first = details[0]
            node = first.node
            name = node.name.value
            if name == "__typename":
                roots.append(Root(key, root_type.name))
                continue
            field_def = root_type.fields.get(name)
            if field_def is None or node.directives or len(details) > 1:
                return None
            if first.fragment_variable_values is not None:
                return None
            read = factory.ROOT_PAGES.get(name)
            resource = factory.ROOT_ONES.get(name) if read is None else None
            if read is None and resource is None:
                return None
            type_, required = _unwrap(field_def.type)
            nodes = [node]
            info = self.build_resolve_info(field_def, nodes, root_type, Path(None, key, None))
            plan: RowPlan | PagePlan | None
            nested = None
            if read is not None:
                level = NEST if self.context_value.database.postgres else JOIN
                planned = self._page_fields(type_, details, info, level)
                plan = None if planned is None else PagePlan(type_.name, planned[0])
                items = [] if plan is None else [sub for _, _, sub in plan.fields if sub]
                joins = _merged([j for sub in items for j in sub.joins])
                nested = next((sub.nested for sub in items if sub.nested), None)
            else:
                plan = self._plan_for(type_, details, info, JOIN)
                joins = () if plan is None else plan.joins
            if plan is None:
                return None
            shareable = shareable and not _depends_on_request((node,), self)
            strawberry_schema = self.schema._strawberry_schema  # type: ignore[attr-defined]
            arguments = _Arguments.of(field_def, node, strawberry_schema)
            fields = factory.picked_nodes(nodes, self.fragment_definitions)
            roots.append(
                Root(key, "", resource, fields, plan, required, read, arguments, joins, nested)
            )
        if shareable:
            _ROOTS.put(memo_key, (operation,), tuple(roots))
        return roots

    def _plan_for(
        self, type_: Any, details: Any, info: GraphQLResolveInfo, joinable: int = SEPARATE
    ) -> RowPlan | None:
        """The plan of ``type_``'s selection ``details``; ``joinable``: what of its
        relations the rows' read can take in (see `_row_plan`)."""
        if not self.planning or not is_object_type(type_) or type_.name not in factory.ROW_TYPES:
            return None
        key = (type_.name, id(details), joinable)
        found = self.plans.get(key)
        if found is None:
            nodes = tuple(d.node for d in details)
            shared_key = _SHARED.key(nodes, id(self.schema), type_.name, joinable)
            shared = _SHARED.get(shared_key)
            if shared is not None:
                return shared
            try:
                plan = self._row_plan(type_, details, info, joinable)
            except (BadInput, GraphQLError):  # a relation's arguments are wrong: the
                plan = None  # standard path reports it on the field
            # The list is kept with its plan so that its id is not reused (as graphql-core's
            # own memo of collected subfields does).
            found = self.plans[key] = (details, plan)
            if plan is not None and not _depends_on_request(nodes, self):
                # Nothing in it belongs to this request (its loaders are bound when rows are
                # shaped): the next execution of the same document (a known query) reuses
                # it.
                _SHARED.put(shared_key, nodes, plan)
        return found[1]

    def _row_plan(
        self,
        type_: GraphQLObjectType,
        details: Any,
        info: GraphQLResolveInfo,
        joinable: int = SEPARATE,
    ) -> RowPlan | None:
        """The plan of a row type's selection, or None when any of it is not planned.

        A relation is a level of its own, loaded through a loader for all the rows at once
        (ONE, MANY: a statement each). The rows of a root are read by the root's own
        statement, which can take relations in (``joinable``): a to-one relation whose
        selection is columns only, by a join on the target's unique key (JOIN: JOINED), and
        for a root page on PostgreSQL also the first to-many relation whose items are
        columns only and whose total is not asked for, as a LATERAL page per row (NEST:
        NESTED). Each is a statement, and a round trip, fewer."""
        row = factory.ROW_TYPES.get(type_.name)
        if row is None:
            return None
        grouped, defers, _ = self.collect_subfields(type_, details)
        if defers:
            return None
        steps: list[Step] = []
        for key, group in grouped.items():
            node = group[0].node
            name = node.name.value
            if name == "__typename":
                steps.append(Step(TYPENAME, key, type_.name))
                continue
            field_def = type_.fields.get(name)
            if field_def is None:
                return None
            field_type, required = _unwrap(field_def.type)
            if name in row.columns or name in row.masked:
                if node.arguments or not is_leaf_type(field_type):
                    return None
                kind, attr = (
                    (COLUMN, row.columns[name])
                    if name in row.columns
                    else (
                        MASKED,
                        row.masked[name],
                    )
                )
                plain = _PLAIN.get(field_type.name) if kind == COLUMN else None
                coerce = field_type.coerce_output_value
                steps.append(Step(kind, key, attr, coerce, required, plain=plain))
                continue
            relation = row.relations.get(name)
            if relation is None or not is_object_type(field_type):
                return None
            if relation.many:
                many = self._page_plan(field_type, group, relation, field_def, info)
                if many is None:
                    return None
                many = many._replace(key=key, required=required)
                if joinable == NEST and _nestable(many):
                    many = _nested_step(many, relation)
                    joinable = JOIN  # one to-many a statement: more would multiply the rows
                steps.append(many)
                continue
            if node.arguments:
                return None
            sub = self._row_plan(field_type, group, info)
            if sub is None:
                return None
            target = get(relation.target)
            if joinable >= JOIN and not sub.related and target.table.c[relation.remote].unique:
                steps.append(_joined_step(key, required, relation, sub))
                continue
            loader = partial(
                factory.one_loader, target=target, key=relation.remote, columns=sub.columns
            )
            steps.append(Step(ONE, key, relation.local, None, required, sub, loader))
        return _row_plan_of(steps)

    def _page_plan(
        self,
        page_type: GraphQLObjectType,
        group: Any,
        relation: Any,
        field_def: Any,
        info: GraphQLResolveInfo,
    ) -> Step | None:
        planned = self._page_fields(page_type, group, info)
        if planned is None:
            return None
        fields, columns = planned
        node = group[0]
        strawberry_schema = self.schema._strawberry_schema  # type: ignore[attr-defined]
        arguments = _Arguments.of(field_def, node.node, strawberry_schema)
        kw = arguments.convert(self.variable_values, node.fragment_variable_values)
        page = factory.relation_plan(
            self.context_value,
            relation,
            kw,
            columns,
            any(kind == TOTAL for kind, _, _ in fields),
        )
        return Step(MANY, "", relation.local, None, False, PagePlan(page_type.name, fields), page)

    def _page_fields(
        self,
        page_type: GraphQLObjectType,
        group: Any,
        info: GraphQLResolveInfo,
        joinable: int = SEPARATE,
    ) -> tuple[tuple[tuple[int, str, RowPlan | None], ...], frozenset[str]] | None:
        """The planned fields of a page type's selection, and the columns its items read
        (``joinable``: as `_row_plan`; a page whose items are selected under more than one
        key nests no relation)."""
        if factory.PAGE_TYPES.get(page_type.name) is None:
            return None
        grouped, defers, _ = self.collect_subfields(page_type, group)
        if defers:
            return None
        fields: list[tuple[int, str, RowPlan | None]] = []
        columns: set[str] = set()
        names = [g[0].node.name.value for g in grouped.values()]
        if names.count("items") > 1:
            joinable = min(joinable, JOIN)
        for key, sub_group in grouped.items():
            name = sub_group[0].node.name.value
            if name == "__typename":
                fields.append((-1, key, None))
                continue
            kind = _PAGE_FIELDS.get(name)
            if kind is None:
                return None
            sub = None
            if kind == ITEMS:
                list_type, _ = _unwrap(page_type.fields[name].type)
                item_type, _ = _unwrap(list_type.of_type)
                sub = self._row_plan(item_type, sub_group, info, joinable)
                if sub is None:
                    return None
                columns |= sub.columns
            fields.append((kind, key, sub))
        return tuple(fields), frozenset(columns)


class Shaper:
    """Shapes rows into response dicts by plan, loading a relation level at a time through
    the request's loaders."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context

    async def shape(
        self, plan: RowPlan, rows: list[Any], groups: list[list[Any]] | None = None
    ) -> list[dict[str, Any]]:
        """The response dicts of ``rows``, their relations shaped a level at a time; a
        nested page's rows come with ``groups``, each row's rows of its nested relation."""
        values: dict[str, list[Any]] = {}
        for step in plan.related:
            if step.kind == MANY:
                values[step.key] = await self.pages(step, [getattr(r, step.attr) for r in rows])
                continue
            if step.kind == NESTED:
                if groups is None:
                    raise Unplanned
                label, spec = step.attr, step.load.spec.spec
                pages = [([r for r in g if getattr(r, label) is not None], 0) for g in groups]
                values[step.key] = await self._page_dicts(step.sub, pages, spec.offset, spec.limit)
                continue
            children: list[Any]
            if step.kind == JOINED:  # the row itself holds the relation's columns
                children = [r if getattr(r, step.attr) is not None else None for r in rows]
            else:
                keys = [getattr(r, step.attr) for r in rows]
                wanted = [k for k in keys if k is not None]
                found = await load_level(step.load(self.context), wanted)
                children = [None if k is None else found[k] for k in keys]
            if step.required and any(c is None for c in children):
                raise Unplanned
            present = [c for c in children if c is not None]
            shaped = iter(await self.rows(step.sub, present))
            values[step.key] = [None if c is None else next(shaped) for c in children]
        return _build(plan, rows, values)

    async def rows(
        self, plan: RowPlan, rows: list[Any], groups: list[list[Any]] | None = None
    ) -> list[dict[str, Any]]:
        return await self.shape(plan, rows, groups) if plan.related else _build(plan, rows, {})

    async def pages(self, step: Step, keys: list[Any]) -> list[dict[str, Any]]:
        page = step.load.page(self.context)
        found = await load_level(page.loader, keys)
        pages = [found[k] for k in keys]
        return await self._page_dicts(step.sub, pages, page.offset, page.limit)

    async def _page_dicts(
        self, plan: PagePlan, pages: list[tuple[list[Any], int]], offset: int, limit: int
    ) -> list[dict[str, Any]]:
        """A relation page's dict for each parent, from its (rows, total): the rows of all
        the parents shaped as one level."""
        flat = [row for rows, _ in pages for row in rows]
        items: dict[str, list[dict[str, Any]]] = {}
        for kind, key, sub in plan.fields:
            if kind == ITEMS and sub is not None:
                items[key] = await self.rows(sub, flat)
        out: list[dict[str, Any]] = []
        start = 0
        for rows, total in pages:
            end = start + len(rows)
            mine = {key: shaped[start:end] for key, shaped in items.items()}
            out.append(_page_dict(plan, mine, offset, limit, total))
            start = end
        return out

    async def roots(self, roots: Sequence[Root], variables: VariableValues) -> dict[str, Any]:
        """The data of planned root fields: one loader call for all the codes a loader
        is asked for (aliases of one field batch as the loader would batch them)."""
        context = self.context
        wanted: dict[int, tuple[Any, list[Any]]] = {}
        reads: list[tuple[Root, Any, Any]] = []  # (root, its loader or None, its arguments)
        for root in roots:
            kw: dict[str, Any] = {} if root.arguments is None else root.arguments.convert(variables)
            loader = None
            if root.resource is not None:
                loader = factory.code_loader(context, root.resource, root.fields, root.joins)
                wanted.setdefault(id(loader), (loader, []))[1].append(kw["code"])
            reads.append((root, loader, kw))
        found: dict[int, dict[Any, Any]] = {
            k: await load_level(loader, codes) for k, (loader, codes) in wanted.items()
        }
        data: dict[str, Any] = {}
        for root, loader, kw in reads:
            if root.read is not None:
                page = await root.read(context, kw, root.fields, root.joins, root.nested)
                data[root.key] = await self.page(root.plan, page, root.nested is not None)
            elif loader is None:
                data[root.key] = root.type_name
            else:
                row = found[id(loader)][kw["code"]]
                if row is None:
                    if root.required:
                        raise Unplanned
                    data[root.key] = None
                else:
                    data[root.key] = (await self.rows(root.plan, [row]))[0]
        return data

    async def page(self, plan: PagePlan, page: Any, nested: bool = False) -> dict[str, Any]:
        """A root page (items, offset, limit, and its total when selected); ``nested``:
        its rows are those of a nested page (`_crud.Nested`)."""
        rows, groups = _crud.nested_groups(page.items) if nested else (page.items, None)
        items = {
            key: await self.rows(sub, rows, groups)
            for kind, key, sub in plan.fields
            if kind == ITEMS and sub is not None
        }
        total = await page._count() if any(f[0] == TOTAL for f in plan.fields) else 0
        return _page_dict(plan, items, page.offset, page.limit, total)


def _page_dict(
    plan: PagePlan, items: dict[str, list[Any]], offset: int, limit: int, total: int
) -> dict[str, Any]:
    """A page's response dict, its fields in the selection's order."""
    shaped: dict[str, Any] = {}
    for kind, key, _ in plan.fields:
        if kind == ITEMS:
            shaped[key] = items[key]
        elif kind == OFFSET:
            shaped[key] = offset
        elif kind == LIMIT:
            shaped[key] = limit
        elif kind == TOTAL:
            shaped[key] = total
        else:
            shaped[key] = plan.type_name
    return shaped


# Row plans by schema, type and the document's field nodes: a plan depends only on the
# document when no directive or variable is in its selection (`_depends_on_request`), so
# executions of the same parsed document share it.
_SHARED: NodeMemo[RowPlan] = NodeMemo(1024)
# Root plans by schema and operation node, for operations whose roots depend on the
# document alone: a known query (gql.known) runs them without graphql-core's executor.
_ROOTS: NodeMemo[tuple[Root, ...]] = NodeMemo(256)


def planned_roots(schema: Any, operation: Any) -> tuple[Root, ...] | None:
    """The planned roots of ``operation`` if an execution of it has planned them all."""
    return _ROOTS.get(_ROOTS.key((operation,), id(schema)))


async def run_roots(
    roots: Sequence[Root],
    schema: Any,
    operation: Any,
    variables: dict[str, Any] | None,
    context: Any,
) -> dict[str, Any] | None:
    """The data of an operation whose roots are all planned, or None when its variables
    are not valid (graphql-core then reports them). Raises what a read raises; the
    caller then runs the operation through graphql-core."""
    coerced = coercion.coerce_variables(
        schema, operation.variable_definitions or (), variables or {}
    )
    if isinstance(coerced, list):
        return None
    return await Shaper(context).roots(roots, coerced)


async def load_level(loader: DataLoader[Any, Any], keys: list[Any]) -> dict[Any, Any]:
    """The values of ``keys`` through ``loader``, for a level whose keys are all known.

    The same as the loader's `load_many`, without its scheduling: what the loader's cache
    holds (or is loading) is awaited, the rest goes to its batch function in this call, and
    the cache learns the answers as a dispatched batch would leave them (a failure is set
    on the keys' futures, and raised). `load_many` instead makes a future and a cache entry
    per key, gathers them, and waits a loop step for a dispatch task; for a page of rows
    that was a tenth of a nested query's CPU (docs/performance.md, ninth round). A loader
    made with ``cache=False`` keeps nothing between loads, so it gets `load_many`."""
    if not loader.cache:
        unique = list(dict.fromkeys(keys))
        return dict(zip(unique, await loader.load_many(unique), strict=True))
    cache = loader.cache_map
    futures: dict[Any, Any] = {}
    missing: list[Any] = []
    for key in keys:
        if key in futures:
            continue
        future = cache.get(key)
        if future is None or future.cancelled():
            future = loader.loop.create_future()
            cache.set(key, future)
            missing.append(key)
        futures[key] = future
    if missing:
        try:
            values = list(await loader.load_fn(missing))
            if len(values) != len(missing):
                raise WrongNumberOfResultsReturned(expected=len(missing), received=len(values))
        except Exception as error:
            for key in missing:
                futures[key].set_exception(error)
            raise
        for key, value in zip(missing, values, strict=True):
            if isinstance(value, BaseException):
                futures[key].set_exception(value)
            else:
                futures[key].set_result(value)
    return {key: await future for key, future in futures.items()}


def _depends_on_request(nodes: tuple[Any, ...], execution: PlannedExecution) -> bool:
    """Whether the selection of ``nodes``, through its fragments and nested fields, carries
    a directive (``@skip``/``@include`` make the collected fields depend on variables) or
    an argument that holds a variable (a relation's page or filter)."""
    pending = [n.selection_set for n in nodes if n.selection_set is not None]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if selection.directives:
                return True
            if isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                details = execution.fragments.get(name)
                if details is None or name in seen:
                    continue
                seen.add(name)
                if details.definition.directives or details.variable_signatures:
                    return True
                pending.append(details.definition.selection_set)
            else:
                if selection.arguments and any(map(_has_variable, selection.arguments)):
                    return True
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
    return False


def _has_variable(node: Any) -> bool:
    """Whether an argument or value node holds a variable anywhere inside."""
    pending = [node.value]
    while pending:
        value = pending.pop()
        if isinstance(value, VariableNode):
            return True
        if isinstance(value, ListValueNode):
            pending.extend(value.values)
        elif isinstance(value, ObjectValueNode):
            pending.extend(f.value for f in value.fields)
    return False


def _build(plan: RowPlan, rows: list[Any], values: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The response dicts of ``rows``; relation values come shaped in ``values``."""
    shaped: list[dict[str, Any]] = plan.build(rows, values)
    return shaped


def _row_plan_of(steps: list[Step]) -> RowPlan:
    columns = frozenset(s.attr for s in steps if s.kind in (COLUMN, MASKED))
    related = tuple(s for s in steps if s.kind in _RELATED)
    # What the shaping function depends on; a relation's plan and loader are left out, so
    # plans made per request share the function of their shape.
    shape = tuple((s.kind, s.key, s.attr, s.coerce, s.required, s.plain) for s in steps)
    joins = _merged([s.load for s in steps if s.kind == JOINED])
    nested = next((s.load for s in steps if s.kind == NESTED), None)
    return RowPlan(tuple(steps), related, columns, _builder(shape), joins, nested)


_RELATED = (ONE, MANY, JOINED, NESTED)


def _nestable(step: Step) -> bool:
    """Whether a to-many relation's page can be read with its parents (`_nested_step`):
    no total asked for, and items of columns only."""
    plan: PagePlan = step.sub
    return all(kind != TOTAL and (sub is None or not sub.related) for kind, _, sub in plan.fields)


def _nested_step(step: Step, relation: Any) -> Step:
    """A to-many relation's page read with its parents' page (`_crud.Nested`): its items'
    plans then read the children's columns from the parents' statement's rows, under their
    nested labels; a row whose child id is null is a parent's without children."""
    page: Any = step.load  # factory.RelationPlan
    plan: PagePlan = step.sub
    name = relation.name
    fields = tuple(
        (kind, key, None if sub is None else _relabelled(sub, name))
        for kind, key, sub in plan.fields
    )
    nested = _crud.Nested(relation, _crud.ByRepr(page.spec), page.columns)
    label = _crud.joined_label(name, "id")
    return step._replace(kind=NESTED, attr=label, sub=plan._replace(fields=fields), load=nested)


def _relabelled(plan: RowPlan, relation: str) -> RowPlan:
    """``plan`` (columns only) reading its columns under ``relation``'s labels."""
    return _row_plan_of(
        [
            s._replace(attr=_crud.joined_label(relation, s.attr))
            if s.kind in (COLUMN, MASKED)
            else s
            for s in plan.steps
        ]
    )


def _joined_step(key: str, required: bool, relation: Any, sub: RowPlan) -> Step:
    """A to-one relation whose columns (those of ``sub``, a plan of columns only) are
    read with the rows that hold it: ``sub`` then reads them from the row itself, under
    their joined labels, and the row names no target when the joined key is null."""
    join = _crud.Joined(relation, sub.columns)
    label = _crud.joined_label(relation.name, relation.remote)
    return Step(JOINED, key, label, None, required, _relabelled(sub, relation.name), join)


def _merged(joins: Sequence[_crud.Joined]) -> tuple[_crud.Joined, ...]:
    """One join per relation (aliases of one relation select the union of their
    columns), in the relations' name order: the statement's shape is the same for every
    selection that joins the same columns."""
    columns: dict[Any, frozenset[str]] = {}
    for join in joins:
        columns[join.relation] = columns.get(join.relation, frozenset()) | join.columns
    ordered = sorted(columns.items(), key=lambda item: item[0].name)
    return tuple(_crud.Joined(relation, cols) for relation, cols in ordered)


@functools.lru_cache(maxsize=1024)
def _builder(
    steps: tuple[tuple[Any, ...], ...],
) -> Callable[[list[Any], dict[str, Any]], list[Any]]:
    """A function that shapes rows by the steps of a plan (kind, key, attr, coerce,
    required, plain), written for them and compiled once.

    Shaping is a loop over the rows and, for each, over the plan's steps; interpreting the
    steps cost about 0.3 µs a field (a wide page of 50 rows and 116 fields is 5,800 of
    them). The function written here does for each step exactly what the step says, as
    straight-line code: a column is read as an attribute, a value of the leaf's own type
    (`Step.plain`; an int within 32 bits) is kept, any other goes through the leaf's ``coerce_output_value`` (a
    null of a non-null field, or a value it cannot serialize, raises `Unplanned`), a
    secret is masked first, a relation's value is taken from ``values``; the dict is
    built in one display, in the selection's order. Keys are GraphQL names and type
    names, so they are written as literals; column names are passed in as constants."""
    env: dict[str, Any] = {"Unplanned": Unplanned, "Undefined": Undefined, "mask": mask}
    head = ["def build(rows, values):", "    out = []", "    append = out.append"]
    body: list[str] = []
    pairs: list[str] = []
    for n, (kind, key, attr, coerce, required, plain) in enumerate(steps):
        if kind == TYPENAME:
            pairs.append(f"{key!r}: {attr!r}")
            continue
        if kind in _RELATED:
            head.append(f"    r{n} = values[{key!r}]")
            pairs.append(f"{key!r}: r{n}[i]")
            continue
        env[f"a{n}"] = attr
        env[f"c{n}"] = coerce
        if kind == MASKED:
            body.append(f"v{n} = mask(getattr(row, a{n}, None))")
        else:
            body.append(f"v{n} = getattr(row, a{n})")
        fail = "raise Unplanned" if required else f"v{n} = None"
        if kind == COLUMN and plain is not None:
            env[f"p{n}"] = plain
            test = f"type(v{n}) is not p{n}"
            if plain is int:
                test += f" or not {GRAPHQL_MIN_INT} <= v{n} <= {GRAPHQL_MAX_INT}"
            body.append(f"if {test}:")
            indent = "    "
        else:
            indent = ""
        body += [
            f"{indent}if v{n} is None:",
            f"{indent}    {fail}",
            f"{indent}else:",
            f"{indent}    v{n} = c{n}(v{n})",
            f"{indent}    if v{n} is None or v{n} is Undefined:",
            f"{indent}        raise Unplanned",
        ]
        pairs.append(f"{key!r}: v{n}")
    related = any(s[0] in _RELATED for s in steps)
    lines = [
        *head,
        "    for i, row in enumerate(rows):" if related else "    for row in rows:",
        *(f"        {line}" for line in body),
        f"        append({{{', '.join(pairs)}}})",
        "    return out",
    ]
    exec("\n".join(lines), env)  # the text is made above from the plan alone
    build: Callable[[list[Any], dict[str, Any]], list[Any]] = env["build"]
    return build

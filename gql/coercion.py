"""Variable values coerced by functions planned once per input type.

graphql-core coerces a request's variables by walking each value beside its type, asking at
every level what kind of type it is, and first walks the whole value once more to make sure
it is not nested too deeply. A bulk write's variable is a thousand items of a wide input
type, so that walk was a third of a bulk create's CPU (docs/performance.md, ninth round).

`coerce_variables` does the same coercion through a function planned once per type and
schema: a non-null check, a list loop, an input object's known fields, a built-in scalar's
type test inline, any other leaf through its own ``coerce_input_value``. The nesting check
runs only for a type that can contain itself (a filter's ``and``/``or``): any other type
bounds the depth of what its coercion follows. It only ever answers for a request whose
variables are all valid: at the first value it would not accept (and for a missing
variable with a default, or a variable whose type is unknown) it hands the whole request to
graphql-core's own `get_variable_values`, so every error, and every value it does return,
is what graphql-core would have made.

`install` puts it in the place graphql-core's executor calls, once per process; a
graphql-core whose executor no longer calls `get_variable_values` is left alone.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import graphql.execution.executor as _executor
import graphql.execution.values as _values
from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLSchema,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    Undefined,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    is_input_object_type,
    is_list_type,
    is_non_null_type,
)
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_variable_values,
    input_is_nested_too_deeply,
)
from graphql.pyutils import is_iterable
from graphql.type import scalars
from graphql.type.definition import is_required_input_field
from graphql.utilities.coerce_input_value import (
    _is_missing_variable,
    _variable_value_is_null,
    coerce_default_value,
)
from graphql.utilities.coerce_input_value import coerce_input_literal as _literal

from gql.memo import NodeMemo

Coerce = Callable[[Any], Any]  # a value -> its coerced value, or Undefined when invalid

_INT_MIN, _INT_MAX = scalars.GRAPHQL_MIN_INT, scalars.GRAPHQL_MAX_INT


def _leaf(coerce_input: Callable[[Any], Any]) -> Coerce:
    """A scalar or enum: its own ``coerce_input_value``, with the common exact types of the
    built-in scalars answered inline (what those functions return for them)."""

    def general(v: Any) -> Any:
        if v is None or v is Undefined:
            return None
        try:
            return coerce_input(v)
        except Exception:  # graphql-core's own rule: invalid, no value
            return Undefined

    if coerce_input is scalars.coerce_string or coerce_input is scalars.coerce_id:
        return lambda v: v if type(v) is str else general(v)
    if coerce_input is scalars.coerce_boolean:
        return lambda v: v if type(v) is bool else general(v)
    if coerce_input is scalars.coerce_int:
        return lambda v: v if type(v) is int and _INT_MIN <= v <= _INT_MAX else general(v)
    return general


class _Planner:
    """The coercion functions of one schema's input types, planned on first use."""

    def __init__(self) -> None:
        self.named: dict[str, Coerce] = {}
        self.wrapped: dict[str, Coerce] = {}
        self.cyclic: dict[str, bool] = {}

    def coerce(self, type_: GraphQLInputType) -> Coerce:
        key = str(type_)
        found = self.wrapped.get(key)
        if found is None:
            found = self.wrapped[key] = self._plan(type_)
        return found

    def _plan(self, type_: GraphQLInputType) -> Coerce:
        if is_non_null_type(type_):
            inner = self._plan(type_.of_type)

            def non_null(v: Any) -> Any:
                return Undefined if v is None or v is Undefined else inner(v)

            return non_null
        if is_list_type(type_):
            item = self._plan(type_.of_type)

            def list_of(v: Any) -> Any:
                if v is None or v is Undefined:
                    return None
                if not is_iterable(v):  # a single value is a list of one
                    one = item(v)
                    return Undefined if one is Undefined else [one]
                out: list[Any] = []
                append = out.append
                for x in v:
                    c = item(x)
                    if c is Undefined:
                        return Undefined
                    append(c)
                return out

            return list_of
        named: Any = type_  # a scalar, an enum or an input object
        name = named.name
        found = self.named.get(name)
        if found is None:
            if is_input_object_type(named):
                # registered before its fields are planned, so a type that contains itself
                # finds its own (not yet filled) function
                cell: list[Coerce] = []
                self.named[name] = lambda v: cell[0](v)
                cell.append(self._input_object(named))
                found = self.named[name] = cell[0]
            else:
                found = self.named[name] = _leaf(named.coerce_input_value)
        return found

    def _input_object(self, type_: GraphQLInputObjectType) -> Coerce:
        fields = type_.fields
        plan = {n: (f.out_name or n, self._plan(f.type)) for n, f in fields.items()}
        required = tuple(n for n, f in fields.items() if is_required_input_field(f))
        defaulted = tuple((n, f.out_name or n, f) for n, f in fields.items() if _defaulted(f))
        one_of = type_.is_one_of
        out_type = type_.out_type
        plain = out_type is GraphQLInputObjectType.out_type

        def input_object(v: Any) -> Any:
            if v is None or v is Undefined:
                return None
            if not isinstance(v, dict):
                return Undefined
            out: dict[str, Any] = {}
            defined = 0
            for name, value in v.items():
                if value is Undefined:
                    continue
                entry = plan.get(name)
                if entry is None:
                    return Undefined
                defined += 1
                c = entry[1](value)
                if c is Undefined:
                    return Undefined
                out[entry[0]] = c
            for name in required:
                if v.get(name, Undefined) is Undefined:
                    return Undefined
            for name, out_name, field in defaulted:
                if v.get(name, Undefined) is Undefined:
                    d = coerce_default_value(field)
                    if d is not Undefined:
                        out[out_name] = d
            if one_of and (defined != 1 or len(out) != 1 or next(iter(out.values())) is None):
                return Undefined
            return out if plain else out_type(out)

        return input_object

    def can_contain_itself(self, type_: GraphQLInputType) -> bool:
        """Whether an input object reachable from ``type_`` reaches itself again."""
        named = get_named_type(type_)
        key = named.name
        found = self.cyclic.get(key)
        if found is None:
            found = self.cyclic[key] = _reaches_itself(named)
        return found


def _reaches_itself(start: Any) -> bool:
    seen: set[str] = set()
    path: set[str] = set()

    def visit(t: Any) -> bool:
        if not is_input_object_type(t):
            return False
        if t.name in path:
            return True
        if t.name in seen:
            return False
        seen.add(t.name)
        path.add(t.name)
        found = any(visit(get_named_type(f.type)) for f in t.fields.values())
        path.discard(t.name)
        return found

    return visit(start)


_planners: weakref.WeakKeyDictionary[GraphQLSchema, _Planner] = weakref.WeakKeyDictionary()
# A variable's name and type by its definition node: a known query's document is the same
# parsed nodes on every request.
_SIGNATURES: NodeMemo[GraphQLVariableSignature] = NodeMemo(1024)


def coerce_variables(
    schema: GraphQLSchema,
    var_def_nodes: Collection[VariableDefinitionNode],
    inputs: dict[str, Any],
    max_errors: int | None = None,
    hide_suggestions: bool = False,
) -> VariableValues | list[GraphQLError]:
    """`get_variable_values`, with a planned coercion for requests whose values are valid."""
    planner = _planners.get(schema)
    if planner is None:
        planner = _planners[schema] = _Planner()
    sources: dict[str, VariableValueSource] = {}
    coerced: dict[str, Any] = {}
    try:
        for node in var_def_nodes:
            memo_key = _SIGNATURES.key((node,), id(schema))
            signature = _SIGNATURES.get(memo_key)
            if signature is None:
                found = get_variable_signature(schema, node)
                if isinstance(found, GraphQLError):
                    raise _Standard
                signature = found
                _SIGNATURES.put(memo_key, (node,), signature)
            name, type_ = signature.name, signature.type
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if node.default_value or is_non_null_type(type_):
                    raise _Standard
                sources[name] = VariableValueSource(signature)
                continue
            sources[name] = VariableValueSource(signature, value)
            if planner.can_contain_itself(type_) and input_is_nested_too_deeply(value, type_):
                raise _Standard
            result = planner.coerce(type_)(value)
            if result is Undefined:
                raise _Standard
            coerced[name] = result
    except (_Standard, GraphQLError, RecursionError):  # an input type's out_type may raise
        return get_variable_values(
            schema, var_def_nodes, inputs, max_errors=max_errors, hide_suggestions=hide_suggestions
        )
    return VariableValues(sources, coerced)


class _Standard(Exception):
    """This request's variables go to graphql-core's own coercion."""


def _defaulted(field: Any) -> bool:
    """Whether an input field has a default value (what `coerce_default_value` reads)."""
    return field.default is not None or field.default_value is not Undefined


class _Fields(NamedTuple):
    """What literal coercion needs of an input object type's fields."""

    by_name: dict[str, tuple[int, str, Any]]  # name -> (position, out name, field)
    absent: tuple[tuple[str, bool, Any], ...]  # fields that matter when not given


_fields: weakref.WeakKeyDictionary[GraphQLInputObjectType, _Fields] = weakref.WeakKeyDictionary()


def _fields_of(type_: GraphQLInputObjectType) -> _Fields:
    found = _fields.get(type_)
    if found is None:
        items = type_.fields.items()
        found = _fields[type_] = _Fields(
            {n: (i, f.out_name or n, f) for i, (n, f) in enumerate(items)},
            tuple(
                (n, is_required_input_field(f), f)
                for n, f in items
                if is_required_input_field(f) or _defaulted(f)
            ),
        )
    return found


def coerce_literal(
    value_node: ValueNode,
    type_: GraphQLInputType,
    variable_values: VariableValues | None = None,
    fragment_variable_values: Any = None,
) -> Any:
    """graphql-core's `coerce_input_literal`, with an input object's fields looked at only
    when given, required or defaulted.

    graphql-core visits every field of an input object type for each object literal, to
    find the required and defaulted ones: a filter literal of a wide resource is over a
    hundred fields at each level, every request (a tenth of a nested list query's CPU,
    docs/performance.md, twelfth round). Which fields are required or defaulted is known
    per type, so only those and the given ones are visited here. Everything else (a
    variable, a leaf, a one-of's rule) is graphql-core's own code or the same steps."""
    vv, fvv = variable_values, fragment_variable_values
    if isinstance(value_node, VariableNode):
        return _literal(value_node, type_, vv, fvv)
    if is_non_null_type(type_):
        if isinstance(value_node, NullValueNode):
            return Undefined
        return coerce_literal(value_node, type_.of_type, vv, fvv)
    if isinstance(value_node, NullValueNode):
        return None
    if is_list_type(type_):
        item_type = type_.of_type
        if not isinstance(value_node, ListValueNode):
            item = coerce_literal(value_node, item_type, vv, fvv)
            return Undefined if item is Undefined else [item]
        items: list[Any] = []
        for item_node in value_node.values:
            item = coerce_literal(item_node, item_type, vv, fvv)
            if item is Undefined:
                if (
                    isinstance(item_node, VariableNode)
                    and not is_non_null_type(item_type)
                    and _variable_value_is_null(item_node, vv, fvv)
                ):
                    items.append(None)
                    continue
                return Undefined
            items.append(item)
        return items
    if not is_input_object_type(type_):
        return _literal(value_node, type_, vv, fvv)  # a leaf
    if not isinstance(value_node, ObjectValueNode):
        return Undefined
    fields = _fields_of(type_)
    given = {field.name.value: field for field in value_node.fields}
    entries: list[tuple[int, str, Any]] = []
    for name, node in given.items():
        found = fields.by_name.get(name)
        if found is None:
            return Undefined
        position, out_name, field = found
        if isinstance(node.value, VariableNode) and _is_missing_variable(node.value, vv, fvv):
            continue  # as if not given (below)
        value = coerce_literal(node.value, field.type, vv, fvv)
        if value is Undefined:
            return Undefined
        entries.append((position, out_name, value))
    for name, required, field in fields.absent:
        at = given.get(name)
        if at is None or (
            isinstance(at.value, VariableNode) and _is_missing_variable(at.value, vv, fvv)
        ):
            if required:
                return Undefined
            default = coerce_default_value(field)
            if default is not Undefined:
                position, out_name, _ = fields.by_name[name]
                entries.append((position, out_name, default))
    if len(entries) > 1:
        entries.sort(key=_position)
    coerced = {out_name: value for _, out_name, value in entries}
    if type_.is_one_of:
        if len(given) != 1 or len(coerced) != 1:
            return Undefined
        for name, node in given.items():
            out_name = fields.by_name[name][1]
            if isinstance(node.value, NullValueNode) or coerced.get(out_name) is None:
                return Undefined
    return type_.out_type(coerced)


def _position(entry: tuple[int, str, Any]) -> int:
    return entry[0]


def install() -> bool:
    """Make graphql-core's executor coerce variables with `coerce_variables`, and
    argument literals with `coerce_literal`; says whether it does."""
    if getattr(_values, "coerce_input_literal", None) is _literal:
        _values.coerce_input_literal = coerce_literal
    current = getattr(_executor, "get_variable_values", None)
    if current is coerce_variables:
        return True
    if current is not get_variable_values:
        return False
    _executor.get_variable_values = coerce_variables
    return True

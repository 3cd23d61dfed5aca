"""`gql.coercion.coerce_variables`: on the module's own schema, a request's variables come
out exactly as graphql-core's `get_variable_values` makes them — the same coerced values for
valid ones, the same errors (graphql-core's own) for invalid ones."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import graphql.execution.executor as executor
import pytest
from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.execution.values import VariableValues, get_variable_values

from gql.coercion import coerce_variables
from gql.schema import create_schema
from zalo_oa.settings import Settings

SCHEMA: Any = create_schema(Settings())

BULK = "mutation($items: [FollowerCreate!]!, $c: FollowerOnConflict) { __typename }"
LIST = "query($f: FollowerFilter, $o: [FollowerOrderBy!], $n: Int! = 5, $s: String) { __typename }"
SEND = "mutation($m: SendMessageInput!, $w: Boolean) { __typename }"
DEEP: dict[str, Any] = {"not": {"name": {"eq": "x"}}}
for _ in range(300):
    DEEP = {"and": [DEEP]}

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("bulk", BULK, {"items": [{"code": "F1", "name": "Nguyễn Văn An", "zaloOaCode": "OA1"}]}),
    ("bulk, numbers", BULK, {"items": [{"rewardPoints": "12.5", "avatarBk": 3, "canLogin": 0}]}),
    ("bulk, nulls", BULK, {"items": [{"name": None, "phone": None}], "c": None}),
    ("bulk, a single item", BULK, {"items": {"name": "An"}}),
    ("bulk, on conflict", BULK, {"items": [], "c": {"target": "CODE"}}),
    ("bulk, on conflict fields", BULK, {"items": [], "c": {"updateFields": "name"}}),
    ("bulk, a date", BULK, {"items": [{"followedAt": "2026-12-03T08:00:00+07:00"}]}),
    ("bulk, JSON", BULK, {"items": [{"extendData": {"a": [1, "b", None]}}]}),
    ("bulk, unknown field", BULK, {"items": [{"name": "An"}, {"nmae": "An"}]}),
    ("bulk, wrong type", BULK, {"items": [{"name": "An"}, {"name": 5}]}),
    ("bulk, int out of range", BULK, {"items": [{"avatarBk": 2**31}]}),
    ("bulk, a float int", BULK, {"items": [{"avatarBk": 3.0}]}),
    ("bulk, a bool for an int", BULK, {"items": [{"avatarBk": True}]}),
    ("bulk, a bad decimal", BULK, {"items": [{"rewardPoints": "many"}]}),
    ("bulk, a bad date", BULK, {"items": [{"followedAt": "yesterday"}]}),
    ("bulk, a null item", BULK, {"items": [None]}),
    ("bulk, missing", BULK, {}),
    ("bulk, null", BULK, {"items": None}),
    ("bulk, not an object", BULK, {"items": ["An"]}),
    ("bulk, a bad enum", BULK, {"items": [], "c": {"target": "NAME_OF_OA"}}),
    ("bulk, an enum's value", BULK, {"items": [], "c": {"target": 1}}),
    ("list", LIST, {"f": {"name": {"contains": "an"}, "or": [{"code": {"eq": "F1"}}]}}),
    ("list, defaults", LIST, {}),
    ("list, nested", LIST, {"f": DEEP}),
    ("list, order", LIST, {"o": [{"name": "ASC"}, {"id": "DESC"}], "n": 10, "s": "an"}),
    ("list, order of two", LIST, {"o": [{"name": "ASC", "id": "DESC"}]}),
    ("list, order of none", LIST, {"o": [{}]}),
    ("list, order null", LIST, {"o": [{"name": None}]}),
    ("list, null for a default", LIST, {"n": None}),
    ("list, in", LIST, {"f": {"id": {"in": [1, 2, 3]}, "isFollower": {"in": 1}}}),
    ("list, in with null", LIST, {"f": {"id": {"in": [1, None]}}}),
    ("send", SEND, {"m": {"followerCode": "F1", "text": "xin chào"}, "w": True}),
    ("send, wrong bool", SEND, {"m": {"text": "hi"}, "w": "yes"}),
    ("send, null type", SEND, {"m": {"type": None}}),
]


def _variables(source: str) -> Any:
    operation = parse(source).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.variable_definitions


def _seen(result: VariableValues | list[GraphQLError]) -> Any:
    if isinstance(result, list):
        return ["errors", [(e.message, e.locations) for e in result]]
    return [
        result.coerced,
        {k: (s.signature.name, str(s.signature.type), s.value) for k, s in result.sources.items()},
    ]


@pytest.mark.parametrize(("source", "values"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_variables_are_coerced_as_graphql_core_does(source: str, values: dict[str, Any]) -> None:
    nodes = _variables(source)
    ours = coerce_variables(SCHEMA._schema, nodes, values)
    theirs = get_variable_values(SCHEMA._schema, nodes, values)
    assert _seen(ours) == _seen(theirs)


def test_a_valid_bulk_is_coerced_to_plain_values() -> None:
    """The values handed to the resolvers, and the executor calling this coercion."""
    nodes = _variables(BULK)
    item = {"name": "An", "rewardPoints": "1.5", "canLogin": 1}
    ours = coerce_variables(SCHEMA._schema, nodes, {"items": [item]})
    assert isinstance(ours, VariableValues)
    assert ours.coerced == {
        "items": [{"name": "An", "rewardPoints": Decimal("1.5"), "canLogin": 1}]
    }
    assert executor.get_variable_values is coerce_variables


# Argument literals: every field with arguments in these documents, coerced by
# `coerce_literal` and by graphql-core's own `coerce_input_literal`, with these variables.
LITERALS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "filter with a variable",
        "query($oa: String!) { followers(filter: {zaloOaCode: {eq: $oa}}, limit: 20) { items {"
        " messages(limit: 5, orderBy: [{id: DESC}], filter: {text: {contains: $oa}}) { totalCount } } } }",
        {"oa": "OA01"},
    ),
    (
        "nested and/or/not",
        '{ followers(filter: {or: [{name: {contains: "an"}}, {not: {id: {in: [1, 2]}}}],'
        " and: {isFollower: {eq: 1}}}, orderBy: [{name: ASC}, {id: DESC}]) { totalCount } }",
        {},
    ),
    (
        "missing and null variables",
        "query($a: String, $b: [Int]) { followers(filter: {name: {eq: $a}, id: {in: $b}}) { totalCount }"
        " again: followers(filter: {id: {in: [1, $b]}}) { totalCount } }",
        {"b": None},
    ),
    (
        "a list of one",
        '{ followers(codes: "F1", orderBy: {id: ASC}) { totalCount } }',
        {},
    ),
    (
        "one-of with two, none, null",
        "query($d: SortDirection) { a: followers(orderBy: [{id: ASC, name: DESC}]) { totalCount }"
        " b: followers(orderBy: [{}]) { totalCount } c: followers(orderBy: [{id: null}]) { totalCount }"
        " d: followers(orderBy: [{id: $d}]) { totalCount } }",
        {},
    ),
    (
        "defaults and required fields",
        'mutation($t: String) { sendMessage(input: {followerCode: "F1", text: "xin chào"}) { code }'
        " b: sendMessage(input: {type: $t}) { code } c: sendMessage(input: {type: null}) { code }"
        ' createFollowers(input: [{code: "F9", rewardPoints: "1.5", extendData: {a: [1, $t]}}],'
        ' onConflict: {updateFields: "name"}) { affectedCount } }',
        {},
    ),
    (
        "unknown field, wrong types",
        '{ a: followers(filter: {nmae: {eq: "x"}}) { totalCount } b: followers(filter: {id: {eq: "x"}})'
        " { totalCount } c: followers(limit: 2.5) { totalCount } }",
        {},
    ),
]


def _argument_values(document: Any, variables: dict[str, Any], literal: Any) -> list[Any]:
    from graphql import TypeInfo, TypeInfoVisitor, Visitor, visit
    from graphql.execution import values

    schema = SCHEMA._schema
    operation = document.definitions[0]
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    assert isinstance(coerced, VariableValues)
    given: VariableValues = coerced
    info = TypeInfo(schema)
    seen: list[Any] = []

    class Fields(Visitor):
        def enter_field(self, node: Any, *_: Any) -> None:
            field_def = info.get_field_def()
            if field_def is None or not node.arguments:
                return
            try:
                seen.append(values.get_argument_values(field_def, node, given))
            except GraphQLError as error:
                seen.append(("error", error.message))

    original = values.coerce_input_literal
    values.coerce_input_literal = literal
    try:
        visit(document, TypeInfoVisitor(info, Fields()))
    finally:
        values.coerce_input_literal = original
    return seen


@pytest.mark.parametrize(
    ("source", "variables"), [c[1:] for c in LITERALS], ids=[c[0] for c in LITERALS]
)
def test_argument_literals_are_coerced_as_graphql_core_does(
    source: str, variables: dict[str, Any]
) -> None:
    from graphql.utilities.coerce_input_value import coerce_input_literal

    from gql.coercion import coerce_literal

    document = parse(source)
    ours = _argument_values(document, variables, coerce_literal)
    theirs = _argument_values(document, variables, coerce_input_literal)
    assert ours
    assert repr(ours) == repr(theirs)
    assert ours == theirs

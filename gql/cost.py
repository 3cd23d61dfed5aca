"""A query cost limit: every field costs the product of the page sizes above it.

Strawberry has no built-in complexity analysis, so this extension computes it before
execution, with the operation's variables, and refuses a query over ``graphql_max_cost``
without touching the database. ``followers(limit: 1000) { items { messages(limit: 100)
{ items { text } } } }`` costs about 1000 * 100 per selected leaf.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

PAGE_ARGUMENTS = ("limit", "first", "last")


class QueryCost(SchemaExtension):
    def __init__(self, max_cost: int, default_page: int = 50) -> None:
        self.max_cost = max_cost
        self.default_page = default_page

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            operations = [
                d
                for d in document.definitions
                if isinstance(d, OperationDefinitionNode)
                and (
                    context.operation_name is None
                    or (d.name and d.name.value == context.operation_name)
                )
            ]
            schema = context.schema._schema
            for operation in operations[:1]:
                root = schema.get_root_type(operation.operation)
                if root is not None:
                    cost = self._cost(
                        operation.selection_set, root, 1, fragments, context.variables or {}, 0
                    )
                    if cost > self.max_cost:
                        raise GraphQLError(
                            f"query cost {cost} is over the limit of {self.max_cost} "
                            "(cost multiplies page sizes; ask for smaller pages or less nesting)",
                            extensions={"code": "BAD_USER_INPUT"},
                        )
        yield

    def _page_size(self, node: FieldNode, variables: dict[str, Any]) -> int | None:
        sizes = []
        for argument in node.arguments or ():
            if argument.name.value in PAGE_ARGUMENTS:
                value = value_from_ast_untyped(argument.value, variables)
                if isinstance(value, int):
                    sizes.append(value)
        return max(sizes) if sizes else None

    def _cost(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        multiplier: int,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        depth: int,
    ) -> int:
        if selection_set is None or depth > 50 or not isinstance(parent, GraphQLObjectType):
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                field = parent.fields.get(selection.name.value)
                if field is None:
                    continue
                named = get_named_type(field.type)
                inner = multiplier
                if named.name.endswith(("Page", "Connection")):
                    inner *= max(self._page_size(selection, variables) or self.default_page, 1)
                total += multiplier + self._cost(
                    selection.selection_set, named, inner, fragments, variables, depth + 1
                )
            elif isinstance(selection, InlineFragmentNode):
                total += self._cost(
                    selection.selection_set, parent, multiplier, fragments, variables, depth + 1
                )
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    total += self._cost(
                        fragment.selection_set, parent, multiplier, fragments, variables, depth + 1
                    )
        return total

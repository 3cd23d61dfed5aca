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
    BREAK,
    SKIP,
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    get_named_type,
    value_from_ast_untyped,
    visit,
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
            self.check(context.schema._schema, document, context.operation_name, context.variables)
        yield

    def check(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> None:
        """Raise the cost error when the operation costs more than the limit."""
        cost = self.cost(schema, document, operation_name, variables or {})
        if cost > self.max_cost:
            raise GraphQLError(
                f"query cost {cost} is over the limit of {self.max_cost} "
                "(cost multiplies page sizes; ask for smaller pages or less nesting)",
                extensions={"code": "BAD_USER_INPUT"},
            )

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any],
    ) -> int:
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        for d in document.definitions:
            if isinstance(d, OperationDefinitionNode) and (
                operation_name is None or (d.name and d.name.value == operation_name)
            ):
                root = schema.get_root_type(d.operation)
                if root is None:
                    return 0
                return self._cost(d.selection_set, root, 1, fragments, variables, 0)
        return 0

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


def cost_uses_variables(document: DocumentNode) -> bool:
    """Whether a page size in ``document`` is a variable, so that its cost depends on them."""
    found = False

    class Finder(Visitor):
        def enter_variable_definition(self, *_: Any) -> Any:
            return SKIP

        def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
            return None if node.name.value in PAGE_ARGUMENTS else SKIP

        def enter_variable(self, *_: Any) -> Any:
            nonlocal found
            found = True
            return BREAK

    visit(document, Finder())
    return found

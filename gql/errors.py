"""The one mapping from exceptions to GraphQL errors (SPEC §4 error codes).

Domain errors keep their message and gain ``extensions.code`` and the problems they carry;
parse, validation and variable errors are ``BAD_USER_INPUT``; anything else is masked as
``INTERNAL`` with the request id, so no stack trace or SQL reaches a caller.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import BREAK, ArgumentNode, Node, ObjectFieldNode, Visitor, visit
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.errors import DomainError

log = logging.getLogger("zalo_oa.graphql")


def _extensions(error: DomainError) -> dict[str, object]:
    ext: dict[str, object] = {"code": error.code, **error.extensions}
    if error.problems:
        ext["field"] = error.problems[0].field
        ext["problems"] = [p.as_dict() for p in error.problems]
    return ext


class ErrorMapping(MaskErrors):
    def __init__(self) -> None:
        super().__init__(error_message="Internal error.")

    def _request_id(self) -> str | None:
        return getattr(self.execution_context.context, "request_id", None)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._map(error) for error in errors]

    def _map(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        message = error.message
        if isinstance(original, DomainError):
            ext = _extensions(original)
        elif original is None or error.path is None:
            ext = {"code": "BAD_USER_INPUT", **(error.extensions or {})}
            where = self._input_path(error)
            if where:
                ext["field"] = where
                message = f"{where}: {message}"
        else:
            log.error(
                "unexpected error in %s (request %s)",
                ".".join(map(str, error.path)),
                self._request_id(),
                exc_info=original,
            )
            message = self.error_message
            ext = {"code": "INTERNAL", "requestId": self._request_id()}
        return GraphQLError(
            message, error.nodes, error.source, error.positions, error.path, None, ext
        )

    def _input_path(self, error: GraphQLError) -> str | None:
        """Which argument and input field a literal value error is about (``filter.branchId.eq``)."""
        document = getattr(self.execution_context, "graphql_document", None)
        if document is None or not error.nodes:
            return None
        target = error.nodes[0]
        found: list[str] = []

        class Finder(Visitor):
            def enter(self, node: Node, key: Any, parent: Any, path: Any, ancestors: Any) -> Any:
                if node is target:
                    found.extend(
                        a.name.value
                        for a in [*ancestors, node]
                        if isinstance(a, ArgumentNode | ObjectFieldNode)
                    )
                    return BREAK
                return None

        visit(document, Finder())
        return ".".join(found) or None


class RequestTransaction(SchemaExtension):
    """Commits the request's session when the operation succeeded, else rolls it back.
    A query gets a read-only session (`Database.readers`)."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.operation_type is OperationType.QUERY and hasattr(ec.context, "read_only"):
            ec.context.read_only = True
        yield

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        finish = getattr(context, "finish", None)
        if finish is not None:
            result = self.execution_context.result
            await finish(commit=not getattr(result, "errors", None))

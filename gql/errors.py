"""The one mapping from exceptions to GraphQL errors (SPEC §4 error codes).

Domain errors keep their message and gain ``extensions.code`` and the problems they carry;
parse, validation and variable errors are ``BAD_USER_INPUT``; anything else is masked as
``INTERNAL`` with the request id, so no stack trace or SQL reaches a caller.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

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
        out: list[GraphQLError] = []
        for error in errors:
            original = error.original_error
            if isinstance(original, DomainError):
                out.append(
                    GraphQLError(
                        error.message,
                        error.nodes,
                        error.source,
                        error.positions,
                        error.path,
                        None,
                        _extensions(original),
                    )
                )
            elif original is None or error.path is None:
                ext = {"code": "BAD_USER_INPUT", **(error.extensions or {})}
                out.append(
                    GraphQLError(
                        error.message,
                        error.nodes,
                        error.source,
                        error.positions,
                        error.path,
                        None,
                        ext,
                    )
                )
            else:
                log.error(
                    "unexpected error in %s (request %s)",
                    ".".join(map(str, error.path)),
                    self._request_id(),
                    exc_info=original,
                )
                out.append(
                    GraphQLError(
                        self.error_message,
                        error.nodes,
                        error.source,
                        error.positions,
                        error.path,
                        None,
                        {"code": "INTERNAL", "requestId": self._request_id()},
                    )
                )
        return out


class RequestTransaction(SchemaExtension):
    """Commits the request's session when the operation succeeded, else rolls it back."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        finish = getattr(context, "finish", None)
        if finish is not None:
            result = self.execution_context.result
            await finish(commit=not getattr(result, "errors", None))

"""Known queries: a query document that has run once without errors is run again straight
through graphql-core's executor.

Strawberry's `Schema.execute` wraps every operation in its extension pipeline: the
extensions are instantiated, and each of the operation, parsing, validation and execution
steps enters and leaves a context manager per extension. For a document already parsed and
validated that is about a fifth of a small query's CPU time (docs/performance.md, fifth
round). What the pipeline decides about a query document does not change from one request
to the next: parsing with the token limit, validation with the depth, alias and
introspection rules. So once a query has run through it without an error, `KnownQueries`
remembers its parsed document, and the next request with the same text and operation name
skips the pipeline. What still depends on the request is done here, with the extensions'
own code: the cost limit when a page size is a variable (`QueryCost.check`), the read-only
session and its end (`Context.finish`), the operation metric (`count_operation`).

When an execution of the document has planned all its root fields (`gql.planner`,
"planned roots"), the next requests are answered by those plans alone, without
graphql-core's executor: their variables coerced, the rows read and shaped.

Only success takes this path. A result with errors (an unauthenticated caller, a bad
variable, a resolver's domain error, a cost over the limit) is dropped and the request runs
again through the whole pipeline, which maps and reports the errors as it always does.
Queries only read, so running one again changes nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    validate,
)
from graphql import ExecutionResult as GraphQLResult
from strawberry.types import ExecutionResult
from strawberry.utils.await_maybe import await_maybe

from gql.context import Context
from gql.cost import QueryCost, cost_uses_variables
from gql.planner import planned_roots, run_roots
from zalo_oa.metrics import count_operation

_UNSEEN = object()


class KnownQuery(NamedTuple):
    document: DocumentNode
    operation: OperationDefinitionNode
    name: str | None  # the operation's name, as the metrics label it
    variable_cost: bool  # a page size is a variable: the cost is checked per request


class KnownQueries:
    """The last ``size`` query documents that ran without errors, by text and operation."""

    def __init__(self, size: int, cost: QueryCost) -> None:
        self.size = size
        self.cost = cost
        # None: a document already seen not to be a query (a mutation), not parsed again.
        self._entries: LRUCache[tuple[str, str | None], KnownQuery | None] = LRUCache(max(size, 1))
        self._own: LRUCache[str, KnownQuery | None] = LRUCache(max(size, 1))  # see `own`
        self.served = 0  # requests answered here, not by the pipeline
        self.planned = 0  # of which by planned roots alone

    def __len__(self) -> int:
        return len(self._entries)

    def own(self, query: str, schema: Any) -> KnownQuery | None:
        """A query the module itself wrote (the REST shim's reads), parsed and validated
        against ``schema`` once, or None when it is not a valid query. Such a document
        runs through `run` from its first request; the caller-facing limits (depth,
        aliases, tokens) are not applied to it, and it is not entered among the known
        queries, so a caller sending the same text still meets them."""
        if query not in self._own:
            document = parse(query)
            operation = get_operation_ast(document)
            found = None
            if operation is not None and operation.operation == OperationType.QUERY:
                if not validate(schema._schema, document):
                    found = KnownQuery(document, operation, None, cost_uses_variables(document))
            self._own[query] = found
        return self._own[query]

    def get(self, query: str, operation_name: str | None) -> KnownQuery | None:
        found: KnownQuery | None = self._entries.get((query, operation_name))
        return found

    def learn(self, query: str, operation_name: str | None) -> None:
        """Remember ``query``, which has just run through the pipeline without errors: as
        known if its operation is a query, else as seen (so that a mutation's document is
        parsed here once, not on every request)."""
        key = (query, operation_name)
        if not self.size:
            return
        if self._entries.get(key, _UNSEEN) is not _UNSEEN:  # seen (and now the most recent)
            return
        document = parse(query)
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.QUERY:
            self._entries[key] = None
        else:
            name = operation.name.value if operation.name else None
            self._entries[key] = KnownQuery(
                document, operation, name, cost_uses_variables(document)
            )

    async def run(
        self,
        known: KnownQuery,
        schema: Any,  # gql.schema.Schema
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
    ) -> ExecutionResult | None:
        """The result of ``known`` for this request, or None when the whole pipeline must
        run instead (any error, or a context that is not the module's)."""
        if not isinstance(context, Context):
            return None
        if known.variable_cost:
            try:
                self.cost.check(schema._schema, known.document, operation_name, variables)
            except GraphQLError:
                return None
        context.read_only = True
        try:
            data = await self._planned(known, schema, variables, context)
            if data is None:
                result: GraphQLResult = await await_maybe(
                    schema.execute_known(known.document, variables, context, operation_name)
                )
                if result.errors:
                    await context.finish(commit=False)  # the pipeline starts afresh
                    context.clear_loaders()
                    return None
                data = result.data
        except BaseException:  # cancelled, or a fault outside the resolvers: the
            await context.finish(commit=False)  # connection goes back to the pool
            raise
        await context.finish(commit=True)
        count_operation(known.name, "query", True)
        self.served += 1
        return ExecutionResult(data=data, errors=None)

    async def _planned(
        self, known: KnownQuery, schema: Any, variables: dict[str, Any] | None, context: Context
    ) -> dict[str, Any] | None:
        """The data of ``known`` read by its planned roots (`gql.planner.run_roots`)
        without graphql-core's executor, or None when it has none or they fail (graphql-core
        then runs it and reports what is wrong)."""
        roots = planned_roots(schema._schema, known.operation)
        if roots is None:
            return None
        try:
            data = await run_roots(roots, schema._schema, known.operation, variables, context)
        except Exception:
            data = None
        if data is None:
            await context.finish(commit=False)  # graphql-core starts afresh
            context.clear_loaders()
        else:
            self.planned += 1
        return data

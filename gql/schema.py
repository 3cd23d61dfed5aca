"""The schema, assembled from every resource's contribution (the only module that imports
them all)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode
from graphql.error import GraphQLError
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema._graphql_core import execute, execution_context_class_kwargs
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from gql import coercion
from gql.cost import QueryCost
from gql.errors import ErrorMapping, RequestTransaction
from gql.known import KnownQueries
from gql.planner import PlannedExecution
from gql.scalars import SCALARS
from gql.types import (
    api_token,
    callback,
    delivery,
    follower,
    job,
    message,
    message_event,
    official_account,
    sending,
    webhook,
    zalo,
    zns_template,
)
from zalo_oa.metrics import GraphQLMetrics
from zalo_oa.settings import Settings

CONFIG = StrawberryConfig(disable_field_suggestions=True, scalar_map=SCALARS)
_parts = (official_account, follower, zns_template, message, webhook, callback)
Query = merge_types(
    "Query",
    (
        *(p.built.query for p in _parts),
        api_token.ApiTokenQuery,
        delivery.DeliveryQuery,
        job.JobQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        *(p.built.mutation for p in _parts),
        api_token.ApiTokenMutation,
        zalo.ZaloMutation,
        delivery.DeliveryMutation,
        job.JobMutation,
        sending.SendingMutation,
    ),
)
Subscription = merge_types("Subscription", (message_event.MessageSubscription,))


class Schema(strawberry.Schema):
    known: KnownQueries | None = None  # set by create_schema

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Expected errors are the caller's business; unexpected ones are logged by
        `ErrorMapping` with the request id, once."""

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Strawberry's execution, except that a known query (gql/known.py) is run without
        the extension pipeline; a query that succeeds through the pipeline becomes known."""
        # A subscription reaches `execute` only when no streaming transport (WebSocket,
        # multipart, SSE) carries it, and would fail inside its resolver: refuse it up front
        # (the HTTP views answer 400 "subscriptions are not allowed when using POST").
        allowed = frozenset(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES) - {
            OperationType.SUBSCRIPTION
        }
        known = self.known
        plain = known is not None and bool(query) and root_value is None
        found = None
        if plain and not operation_extensions:
            assert known is not None and query is not None
            found = known.get(query, operation_name)
            if found is not None:
                result = await known.run(
                    found, self, variable_values, context_value, operation_name
                )
                if result is not None:
                    return result
        result = await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )
        if plain and found is None and not operation_extensions and not result.errors:
            assert known is not None and query is not None
            known.learn(query, operation_name)
        return result

    def execute_known(
        self,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
    ) -> Any:
        """graphql-core's execution of ``document``, called as Strawberry calls it."""
        return execute(
            self._schema,
            document,
            middleware=None,  # no extension of this schema resolves fields (create_schema)
            variable_values=variables,
            operation_name=operation_name,
            context_value=context,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
            **execution_context_class_kwargs(self.execution_context_class),
            operation_extensions=None,
        )


def create_schema(settings: Settings) -> strawberry.Schema:
    coercion.install()  # planned variable coercion (gql/coercion.py)
    limit_rules: list[type[ASTValidationRule]] = [
        depth_validator(settings.graphql_max_depth, None),
        alias_validator(settings.graphql_max_aliases),
    ]

    def cost() -> QueryCost:
        # One instance per request: Strawberry sets each extension's execution context on
        # the instance, so one shared by concurrent requests would read another's.
        return QueryCost(settings.graphql_max_cost, settings.default_page_size)

    extensions: list[Callable[[], SchemaExtension]] = [
        RequestTransaction,
        GraphQLMetrics,
        ErrorMapping,
        # Strawberry's depth and alias limiters, with their rules built once: a rule class
        # made per request is part of the ValidationCache key, which then never hits.
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        cost,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=CONFIG,
        execution_context_class=PlannedExecution if settings.graphql_planned else None,
    )
    # Known queries run without the extensions, so only while none of them wraps resolvers.
    if settings.graphql_known_queries and not any(
        e._implements_resolve() for e in schema.get_extensions()
    ):
        schema.known = KnownQueries(settings.graphql_known_queries, cost())  # uses check()
    return schema


def sdl() -> str:
    schema: Any = strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, config=CONFIG
    )
    return str(schema.as_str())

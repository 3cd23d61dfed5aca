"""The schema, assembled from every resource's contribution (the only module that imports
them all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import ASTValidationRule
from graphql.error import GraphQLError
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
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from gql.cost import QueryCost
from gql.errors import ErrorMapping, RequestTransaction
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
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Expected errors are the caller's business; unexpected ones are logged by
        `ErrorMapping` with the request id, once."""


def create_schema(settings: Settings) -> strawberry.Schema:
    limit_rules: list[type[ASTValidationRule]] = [
        depth_validator(settings.graphql_max_depth, None),
        alias_validator(settings.graphql_max_aliases),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        RequestTransaction,
        GraphQLMetrics,
        ErrorMapping,
        # Strawberry's depth and alias limiters, with their rules built once: a rule class
        # made per request is part of the ValidationCache key, which then never hits.
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: QueryCost(settings.graphql_max_cost, settings.default_page_size),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=CONFIG,
        execution_context_class=PlannedExecution if settings.graphql_planned else None,
    )


def sdl() -> str:
    schema: Any = strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, config=CONFIG
    )
    return str(schema.as_str())

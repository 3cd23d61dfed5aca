"""The forwarding log in GraphQL: ``deliveries`` (read) and ``redeliver`` (admin)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry import Maybe

from gql.common import DateTimeFilter, IntFilter, StringFilter
from gql.context import Context
from gql.factory import _page_args, to_node
from gql.scalars import DateTime
from resolvers import _crud, forwarding
from resolvers import _query as q
from resolvers.caller import Scope
from resolvers.delivery import DELIVERIES, attempts_of
from resolvers.errors import NotFound


@strawberry.enum(description="Where a delivery goes.")
class DeliveryRouteKind(Enum):
    WEBHOOK = "WEBHOOK"
    CALLBACK = "CALLBACK"
    FORWARD = "FORWARD"


@strawberry.enum(description="Where a delivery stands.")
class DeliveryStatus(Enum):
    PENDING = "PENDING"
    FAILED = "FAILED"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


@strawberry.type(description="One HTTP attempt of a delivery.")
class DeliveryAttempt:
    at: DateTime
    status_code: int | None = strawberry.field(description="HTTP status; null when none came.")
    error: str | None
    duration_ms: int | None


@strawberry.type(
    description="One event sent to one route: a Webhook or Callback route, or an OA's "
    "Forward URL. `id` is the `X-ZaloOa-Delivery` header and the body's `delivery`."
)
class Delivery:
    id: strawberry.ID
    route_kind: DeliveryRouteKind
    route_code: str | None = strawberry.field(
        description="The Webhook or Callback code; the OA code for FORWARD."
    )
    event: str
    oa_code: str | None
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: DateTime | None = strawberry.field(
        description="When the next try is due (PENDING or FAILED)."
    )
    created: DateTime
    delivered_at: DateTime | None
    row_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        return cls(
            id=strawberry.ID(row.key),
            route_kind=DeliveryRouteKind(row.route_kind),
            route_code=row.route_code,
            event=row.event,
            oa_code=row.oa_code,
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
            created=row.created,
            delivered_at=row.delivered_at,
            row_id=row.id,
        )

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempt_log(self, info: strawberry.Info[Context]) -> list[DeliveryAttempt]:
        ctx = info.context

        async def load(ids: list[int]) -> list[list[Any]]:
            async with ctx.db() as session:
                found = await attempts_of(session, ids)
            return [found[i] for i in ids]

        rows = await ctx.loader("delivery_attempts", load).load(self.row_id)
        return [
            DeliveryAttempt(
                at=r.at, status_code=r.status_code, error=r.error, duration_ms=r.duration_ms
            )
            for r in rows
        ]


@strawberry.input(description="Conditions on deliveries; siblings combine with AND.")
class DeliveryFilter:
    # Attribute names are the columns the compiler filters (`key` is the public id).
    key: Maybe[StringFilter | None] = strawberry.field(name="id")
    route_kind: Maybe[StringFilter | None]
    route_code: Maybe[StringFilter | None]
    event: Maybe[StringFilter | None]
    oa_code: Maybe[StringFilter | None]
    status: Maybe[StringFilter | None]
    attempts: Maybe[IntFilter | None]
    last_status_code: Maybe[IntFilter | None]
    last_error: Maybe[StringFilter | None]
    next_attempt_at: Maybe[DateTimeFilter | None]
    created: Maybe[DateTimeFilter | None]
    delivered_at: Maybe[DateTimeFilter | None]
    and_: Maybe[list[DeliveryFilter] | None] = strawberry.field(name="and")
    or_: Maybe[list[DeliveryFilter] | None] = strawberry.field(name="or")
    not_: Maybe[DeliveryFilter | None] = strawberry.field(name="not")


@strawberry.type
class DeliveryPage:
    items: list[Delivery]
    offset: int
    limit: int
    spec: strawberry.Private[q.QuerySpec]

    @strawberry.field(description="Computed only when selected.")
    async def total_count(self, info: strawberry.Info[Context]) -> int:
        ctx = info.context
        async with ctx.reads() as session:
            return await _crud.count(session, DELIVERIES, self.spec, ctx.limits)


@strawberry.type
class DeliveryQuery:
    @strawberry.field(
        description="The forwarding log (SPEC §7), newest first: one entry per event and "
        "route, with its status, attempts and next try."
    )
    async def deliveries(
        self,
        info: strawberry.Info[Context],
        filter: DeliveryFilter | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> DeliveryPage:
        ctx = info.context
        ctx.caller.require(Scope.READ, "reading deliveries")
        offset, limit = _page_args(ctx, offset, limit)
        spec = q.QuerySpec(
            filter=None if filter is None else to_node(DELIVERIES, filter),
            order=[q.Order(("id",), q.Direction.DESC)],
            offset=offset,
            limit=limit,
        )
        async with ctx.reads() as session:
            rows = await _crud.fetch_page(session, DELIVERIES, spec, ctx.limits)
        return DeliveryPage(
            items=[Delivery.from_row(r) for r in rows], offset=offset, limit=limit, spec=spec
        )


@strawberry.type
class DeliveryMutation:
    @strawberry.mutation(
        description="Send a delivery again now (admin): the same id and the same body, "
        "whatever its status. The 24 h retry window still counts from its creation."
    )
    async def redeliver(self, info: strawberry.Info[Context], id: strawberry.ID) -> Delivery:
        ctx = info.context
        ctx.caller.require(Scope.ADMIN, "redelivering")
        async with ctx.db() as session:
            row = await forwarding.redeliver(session, str(id))
        if row is None:
            raise NotFound(f"no delivery with id {id!r}", "id")
        if ctx.services is not None:
            ctx.services.forwarder.wake()
        return Delivery.from_row(row)

"""Reading the forwarding log: deliveries (through the one query compiler) and their attempts.

Deliveries are declared as a `Resource` so ``deliveries(filter:)`` reuses the filter and
paging compiler of the six resources. The declaration is not registered: deliveries are not
a resource of the REST API or of the generic GraphQL factory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import models
from resolvers._resource import Resource

DELIVERIES = Resource(
    key="deliveries",
    model=models.Delivery,
    type_name="Delivery",
    single="delivery",
    plural="deliveries",
    rest_path="",
    # The body and headers are what was sent (signatures included); the claim is internal.
    hidden=frozenset({"body", "headers", "claimed_until", "event_id", "url"}),
)
_attempts = models.DeliveryAttempt.__table__  # type: ignore[attr-defined]


async def attempts_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Any]]:
    """Every attempt of each delivery, oldest first, in one statement."""
    rows = await session.execute(
        sa.select(_attempts)
        .where(_attempts.c.delivery_id.in_(list(set(ids))))
        .order_by(_attempts.c.delivery_id, _attempts.c.id)
    )
    found: dict[int, list[Any]] = {i: [] for i in ids}
    for row in rows:
        found[row.delivery_id].append(row)
    return found

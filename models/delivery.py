from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import JSONText, UTCDateTime


class Delivery(SQLModel, table=True):
    """One event to one route (Webhook, Callback or an OA's Forward URL), tried until it lands.

    ``body`` is the exact bytes sent on every attempt, so signatures and the ``delivery`` id
    in it stay the same across retries and redeliveries.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=40, unique=True)
    event_id: int | None = Field(
        default=None, foreign_key="events.id", ondelete="SET NULL", index=True
    )
    route_kind: str = Field(max_length=10)
    route_code: str | None = Field(default=None, max_length=64)
    url: str
    event: str = Field(max_length=100)
    oa_code: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=10)
    attempts: int = Field(default=0)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    body: str
    headers: Any = Field(default=None, sa_type=JSONText, nullable=True)
    created: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeliveryAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery: when, what came back, how long it took."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", ondelete="CASCADE", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = Field(default=None)
    error: str | None = Field(default=None)
    duration_ms: int | None = Field(default=None)

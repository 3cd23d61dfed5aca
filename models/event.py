from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import JSONText, UTCDateTime


class Event(SQLModel, table=True):
    """Something that happened, committed with the change that caused it (the outbox).

    ``source`` is ``module`` for the module's own events (``token.refreshed``,
    ``message.sent``, …) and ``zalo`` for events received from Zalo.
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_dispatched_id", "dispatched", "id"),
        sa.Index("ix_events_source_applied_id", "source", "applied", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=10)
    kind: str = Field(max_length=100)
    oa_code: str | None = Field(default=None, max_length=64)
    payload: Any = Field(default=None, sa_type=JSONText, nullable=True)
    created: datetime = Field(sa_type=UTCDateTime)
    dispatched: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Inbound Zalo events: the raw body as received, a key that drops duplicates, and when
    # (and whether) the event was applied to the module's data.
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    raw: str | None = Field(default=None)
    applied: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    error: str | None = Field(default=None)

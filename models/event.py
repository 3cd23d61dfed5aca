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
    __table_args__ = (sa.Index("ix_events_dispatched_id", "dispatched", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=10)
    kind: str = Field(max_length=100)
    oa_code: str | None = Field(default=None, max_length=64)
    payload: Any = Field(default=None, sa_type=JSONText, nullable=True)
    created: datetime = Field(sa_type=UTCDateTime)
    dispatched: datetime | None = Field(default=None, sa_type=UTCDateTime)

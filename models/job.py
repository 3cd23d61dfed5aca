from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models._types import JSONText, UTCDateTime


class Job(SQLModel, table=True):
    """A long-running task (follower or template sync) with its counts and resume cursor."""

    __tablename__ = "jobs"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    oa_code: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(max_length=20, index=True)
    total: int | None = Field(default=None)
    done: int = Field(default=0)
    created_count: int = Field(default=0)
    updated_count: int = Field(default=0)
    failed_count: int = Field(default=0)
    error: str | None = Field(default=None)
    cursor: Any = Field(default=None, sa_type=JSONText, nullable=True)
    holder: str | None = Field(default=None, max_length=100)
    heartbeat: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

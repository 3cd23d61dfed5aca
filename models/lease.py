from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models._types import UTCDateTime


class Lease(SQLModel, table=True):
    """A named, expiring lock shared by every process on the database (see resolvers.lease)."""

    __tablename__ = "leases"

    name: str = Field(max_length=200, primary_key=True)
    holder: str | None = Field(default=None, max_length=100)
    expires: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None)

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models._types import UTCDateTime


class ApiToken(SQLModel, table=True):
    """A caller's API token, kept as a SHA-256 hash: the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    module: str = Field(max_length=100)
    scope: str = Field(max_length=10)
    created: datetime = Field(sa_type=UTCDateTime)
    last_used: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked: datetime | None = Field(default=None, sa_type=UTCDateTime)

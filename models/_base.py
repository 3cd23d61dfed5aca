"""What every table shares: the integer ``id`` and the client-facing ``code`` key."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Keyed(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)

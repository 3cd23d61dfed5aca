from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Field

from models._base import Keyed
from models._types import DecimalNumber, JSONText, UTCDateTime


class Template(Keyed, table=True):
    """A ZNS template of one OA."""

    __tablename__ = "templates"

    description: str | None = Field(default=None)
    name: str | None = Field(default=None)
    template_id: str | None = Field(default=None, index=True)
    zalo_oa: str | None = Field(
        default=None, foreign_key="official_accounts.code", ondelete="RESTRICT", index=True
    )
    # Extension fields mirrored from ZNS (SPEC §3).
    status: str | None = Field(default=None)
    quality: str | None = Field(default=None)
    tag: str | None = Field(default=None)
    params: Any = Field(default=None, sa_type=JSONText, nullable=True)
    preview_url: str | None = Field(default=None)
    price: Decimal | None = Field(default=None, sa_type=DecimalNumber)
    synced: datetime | None = Field(default=None, sa_type=UTCDateTime)

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from models._base import Keyed
from models._types import JSONText, UTCDateTime


class Message(Keyed, table=True):
    """A conversation message of an OA, inbound or outbound, OA API or ZNS."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_zalo_oa_id", "zalo_oa", "id"),
        sa.Index("ix_messages_follower_id", "follower", "id"),
        sa.Index("ix_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    zalo_oa: str | None = Field(
        default=None, foreign_key="official_accounts.code", ondelete="RESTRICT"
    )
    follower: str | None = Field(default=None, foreign_key="followers.code", ondelete="CASCADE")
    zalo_user_id: str | None = Field(default=None)
    direction: str | None = Field(default=None)
    channel: str | None = Field(default=None)
    event: str | None = Field(default=None)
    type: str | None = Field(default=None)
    text: str | None = Field(default=None)
    attachments: Any = Field(default=None, sa_type=JSONText, nullable=True)
    template: str | None = Field(
        default=None, foreign_key="templates.code", ondelete="SET NULL", index=True
    )
    template_data: Any = Field(default=None, sa_type=JSONText, nullable=True)
    phone: str | None = Field(default=None)
    tracking_id: str | None = Field(default=None, index=True)
    zalo_message_id: str | None = Field(default=None, index=True)
    quote_message_id: str | None = Field(default=None)
    status: str | None = Field(default=None)
    error: str | None = Field(default=None)
    attempts: int | None = Field(default=None)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    creator: str | None = Field(default=None)
    # Internal, not part of the API: folded text for `search`, and the sender's schedule.
    keyword: str | None = Field(default=None)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=100)

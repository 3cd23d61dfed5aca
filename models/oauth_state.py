from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models._types import EncryptedText, UTCDateTime


class OAuthState(SQLModel, table=True):
    """A pending authorization: the one-time ``state`` and its PKCE verifier."""

    __tablename__ = "oauth_states"

    id: int | None = Field(default=None, primary_key=True)
    state_hash: str = Field(max_length=64, unique=True)
    oa_code: str = Field(max_length=64, foreign_key="official_accounts.code", ondelete="CASCADE")
    redirect_uri: str | None = Field(default=None)
    verifier: str = Field(sa_type=EncryptedText)
    created: datetime = Field(sa_type=UTCDateTime)
    used: datetime | None = Field(default=None, sa_type=UTCDateTime)

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from models._base import Keyed
from models._types import EncryptedText, UTCDateTime


class OfficialAccount(Keyed, table=True):
    __tablename__ = "official_accounts"

    access_token: str | None = Field(default=None, sa_type=EncryptedText)
    access_token_expired: str | None = Field(default=None)
    api_url: str | None = Field(default=None)
    app_domain: str | None = Field(default=None)
    app_id: str | None = Field(default=None, index=True)
    app_name: str | None = Field(default=None)
    app_secret: str | None = Field(default=None, sa_type=EncryptedText)
    callback_url: str | None = Field(default=None)
    challenge_code: str | None = Field(default=None)
    description: str | None = Field(default=None)
    forward: str | None = Field(default=None)
    forward_user_token: str | None = Field(default=None, sa_type=EncryptedText)
    is_default: bool | None = Field(default=None)
    is_enabled: bool | None = Field(default=None)
    last_refresh_token: str | None = Field(default=None, sa_type=EncryptedText)
    name: str | None = Field(default=None)
    oa_id: str | None = Field(default=None, index=True)
    refresh_token: str | None = Field(default=None, sa_type=EncryptedText)
    status: int | None = Field(default=None)
    type: str | None = Field(default=None)
    verifier_code: str | None = Field(default=None, sa_type=EncryptedText)
    webhook_user: str | None = Field(default=None)
    webhook_user_token: str | None = Field(default=None, sa_type=EncryptedText)
    webhook_user_token_expired: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Extension fields (SPEC §3).
    oa_secret_key: str | None = Field(default=None, sa_type=EncryptedText)
    refresh_token_expired: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_refreshed: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    modified: datetime | None = Field(default=None, sa_type=UTCDateTime)

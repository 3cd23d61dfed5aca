"""The long-lived parts one process shares: database, Zalo client, token keeper."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.oa_token import TokenKeeper
from zalo.client import ZaloClient
from zalo_oa.db import Database
from zalo_oa.settings import Settings


@dataclass
class Services:
    settings: Settings
    database: Database
    zalo: ZaloClient
    tokens: TokenKeeper

    @classmethod
    def create(cls, settings: Settings, database: Database) -> Services:
        zalo = ZaloClient(
            settings.oauth_base_url,
            settings.openapi_base_url,
            settings.zns_base_url,
            timeout=settings.zalo_timeout_seconds,
            rate_limit_per_minute=settings.zalo_rate_limit_per_minute,
        )
        tokens = TokenKeeper(database.sessions, zalo, http_timeout=settings.zalo_timeout_seconds)
        return cls(settings, database, zalo, tokens)

    async def close(self) -> None:
        await self.zalo.close()

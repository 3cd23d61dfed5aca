"""The one settings object of the module (environment variables prefixed ``ZALO_OA_``)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SignatureMode(StrEnum):
    strict = "strict"
    log_only = "log_only"
    off = "off"


def _async_url(url: str) -> str:
    """Map plain SQLAlchemy URLs onto the async drivers the module runs on."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZALO_OA_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: Annotated[
        str, Field(description="SQLAlchemy URL; sqlite:/// and postgresql:// are accepted.")
    ] = "sqlite:///zalo-oa.db"
    data_dir: Annotated[
        Path, Field(description="Where the embedded default keeps its key and token files.")
    ] = Path("var")
    secret_key: Annotated[
        str | None,
        Field(description="Key that encrypts secrets at rest; generated into data_dir if unset."),
    ] = None

    oauth_base_url: str = "https://oauth.zaloapp.com"
    openapi_base_url: str = "https://openapi.zalo.me"
    zns_base_url: str = "https://business.openapi.zalo.me"
    zalo_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    zalo_rate_limit_per_minute: Annotated[
        int, Field(gt=0, description="Client-side cap per Zalo app.")
    ] = 3600

    webhook_signature: SignatureMode = SignatureMode.strict
    webhook_replay_window_seconds: Annotated[int, Field(ge=0)] = 300
    timezone: str = "Asia/Ho_Chi_Minh"
    log_level: str = "INFO"
    log_json: bool = False
    max_body_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    retry_base_seconds: Annotated[float, Field(gt=0)] = 10.0

    graphql_introspection: bool = True
    graphiql: bool = True
    graphql_max_depth: Annotated[int, Field(gt=0)] = 10
    graphql_max_aliases: Annotated[int, Field(gt=0)] = 15
    graphql_max_tokens: Annotated[int, Field(gt=0)] = 2000
    graphql_max_cost: Annotated[int, Field(gt=0)] = 50_000
    default_page_size: Annotated[int, Field(gt=0)] = 50
    max_page_size: Annotated[int, Field(gt=0)] = 1000
    max_filter_depth: Annotated[int, Field(gt=0)] = 8
    max_filter_branches: Annotated[int, Field(gt=0)] = 50
    max_in_values: Annotated[int, Field(gt=0)] = 500
    statement_timeout_ms: Annotated[int, Field(ge=0)] = 15_000
    pool_size: Annotated[int, Field(gt=0)] = 10

    @field_validator("database_url")
    @classmethod
    def _map_driver(cls, value: str) -> str:
        return _async_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()

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

    oauth_base_url: Annotated[str, Field(description="Zalo OAuth v4 host.")] = (
        "https://oauth.zaloapp.com"
    )
    openapi_base_url: Annotated[str, Field(description="Zalo OA Open API host.")] = (
        "https://openapi.zalo.me"
    )
    zns_base_url: Annotated[str, Field(description="Zalo ZNS (business) API host.")] = (
        "https://business.openapi.zalo.me"
    )
    zalo_timeout_seconds: Annotated[
        float, Field(gt=0, description="Timeout of every call to Zalo.")
    ] = 10.0
    zalo_rate_limit_per_minute: Annotated[
        int, Field(gt=0, description="Client-side cap per Zalo app.")
    ] = 3600

    webhook_signature: Annotated[
        SignatureMode,
        Field(
            description="strict rejects unsigned or badly signed hooks; log_only accepts "
            "and logs them; off skips the check."
        ),
    ] = SignatureMode.strict
    webhook_replay_window_seconds: Annotated[
        int, Field(ge=0, description="Hooks whose timestamp is further off are refused.")
    ] = 300
    timezone: Annotated[str, Field(description="Zone of date-times given without an offset.")] = (
        "Asia/Ho_Chi_Minh"
    )
    log_level: Annotated[str, Field(description="DEBUG, INFO, WARNING or ERROR.")] = "INFO"
    log_json: Annotated[bool, Field(description="One JSON object per log line.")] = False
    max_body_bytes: Annotated[int, Field(gt=0, description="Larger request bodies get 413.")] = (
        10 * 1024 * 1024
    )
    large_body_bytes: Annotated[
        int,
        Field(
            gt=0,
            description="Bodies at least this large (bulk writes) are served a few at a "
            "time per process, so concurrent bulk requests cannot exhaust memory.",
        ),
    ] = 256 * 1024
    large_body_concurrency: Annotated[
        int, Field(gt=0, description="Large-body requests served at once per process.")
    ] = 2
    retry_base_seconds: Annotated[
        float,
        Field(
            gt=0,
            description="First retry delay of deliveries and transient Zalo "
            "failures; doubles with jitter, capped at 1 h.",
        ),
    ] = 10.0
    background_workers: Annotated[
        bool,
        Field(
            description="Run the message sender and resume interrupted sync jobs inside serve "
            "(off: an API-only instance; another instance must send)."
        ),
    ] = True
    worker_lease_seconds: Annotated[
        float,
        Field(
            gt=0,
            description="How long a claim on a message, the SQLite sender lease or a running "
            "job outlives a silent holder; a crashed process's work is taken over after this.",
        ),
    ] = 30.0
    sender_concurrency: Annotated[
        int, Field(gt=0, description="Messages one process sends at the same time.")
    ] = 8
    sync_concurrency: Annotated[
        int, Field(gt=0, description="Concurrent user/detail and template calls of a sync.")
    ] = 8

    graphql_introspection: Annotated[
        bool, Field(description="Allow schema introspection (switch off in production).")
    ] = True
    graphiql: Annotated[bool, Field(description="Serve GraphiQL at /graphql.")] = True
    lean_dispatch: Annotated[
        bool,
        Field(
            description="Answer plain JSON POSTs to /graphql straight from the schema "
            "(gql/http.py) and find REST endpoints by one look-up (legacy_rest.routes."
            "RestDispatch); off sends every request through the framework's router."
        ),
    ] = True
    graphql_planned: Annotated[
        bool,
        Field(
            description="Shape rows of generated types from a plan per selection instead of "
            "resolving every field (gql/planner.py); off gives graphql-core's own completion."
        ),
    ] = True
    graphql_max_depth: Annotated[int, Field(gt=0, description="Selection depth.")] = 10
    graphql_known_queries: Annotated[
        int,
        Field(
            ge=0,
            description="Queries remembered after a first successful run and then executed "
            "without the per-request extension pipeline (gql/known.py); 0 turns this off.",
        ),
    ] = 256
    graphql_max_aliases: Annotated[int, Field(gt=0, description="Aliases per query.")] = 15
    graphql_max_tokens: Annotated[int, Field(gt=0, description="Tokens per query.")] = 2000
    graphql_max_cost: Annotated[
        int, Field(gt=0, description="Query cost: fields times the page sizes above them.")
    ] = 50_000
    default_page_size: Annotated[int, Field(gt=0, description="Default page size.")] = 50
    max_page_size: Annotated[int, Field(gt=0, description="Largest page (limit).")] = 1000
    max_filter_depth: Annotated[int, Field(gt=0, description="Filter nesting.")] = 8
    max_filter_branches: Annotated[int, Field(gt=0, description="Conditions in one filter.")] = 50
    max_in_values: Annotated[int, Field(gt=0, description="Values in one in/notIn.")] = 500
    statement_timeout_ms: Annotated[
        int, Field(ge=0, description="PostgreSQL statement_timeout (0: none).")
    ] = 15_000
    token_cache_seconds: Annotated[
        float,
        Field(
            ge=0,
            description="How long a process trusts an API token it has checked (0: every "
            "request looks it up). A revocation made elsewhere takes effect within this time.",
        ),
    ] = 30.0
    direct_reads: Annotated[
        bool,
        Field(
            description="On PostgreSQL, run the reads of GraphQL queries on a pooled "
            "connection through asyncpg itself, past SQLAlchemy's execution layer "
            "(resolvers/_direct.py DirectReads); false sends them through the session."
        ),
    ] = True
    pool_size: Annotated[
        int,
        Field(
            gt=0,
            description="PostgreSQL connections each process keeps open. A request holds "
            "one while it runs; beyond them a request waits for one (or takes an overflow "
            "connection, see pool_overflow).",
        ),
    ] = 20
    pool_overflow: Annotated[
        int,
        Field(
            ge=0,
            description="PostgreSQL connections a process may open beyond pool_size, each "
            "closed again when its request ends. 0: a request beyond the pool waits for a "
            "pooled connection, which under a steady load costs less than a PostgreSQL "
            "backend started per request (docs/performance.md, seventh round).",
        ),
    ] = 0

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

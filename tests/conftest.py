"""Fixtures: the real app over ASGI, on a real SQLite file and a real PostgreSQL.

Every test that takes `api` runs once per backend. PostgreSQL comes from
``ZALO_OA_TEST_POSTGRES_URL`` (``scripts/test`` starts a throwaway one); without it the
PostgreSQL half is skipped locally, and CI sets ``ZALO_OA_REQUIRE_POSTGRES=1`` so it cannot be.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table)
from resolvers import token as tokens
from resolvers.caller import Scope
from zalo.sandbox import SandboxControl, SandboxServer, demo_seed
from zalo_oa import migrate
from zalo_oa.app import create_app
from zalo_oa.db import Database
from zalo_oa.services import Services
from zalo_oa.settings import Settings

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """The fake Zalo, over real HTTP on loopback, for the whole run."""
    with SandboxServer(demo_seed()) as server:
        yield server


@pytest.fixture
async def fake(sandbox: SandboxServer) -> AsyncIterator[SandboxControl]:
    """The sandbox's control API, reset to the demo world for each test."""
    control = SandboxControl(sandbox.base_url)
    await control.reset()
    yield control
    await control.close()


def _settings(backend: str, tmp: Path, sandbox: SandboxServer) -> Settings:
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'test.db'}"
    else:
        url = os.environ.get("ZALO_OA_TEST_POSTGRES_URL", "")
        if not url:
            if os.environ.get("ZALO_OA_REQUIRE_POSTGRES"):
                pytest.fail("ZALO_OA_TEST_POSTGRES_URL is required here")
            pytest.skip("no PostgreSQL (set ZALO_OA_TEST_POSTGRES_URL or run scripts/test)")
    return Settings(
        database_url=url,
        data_dir=tmp / "data",
        secret_key=None,
        oauth_base_url=sandbox.oauth_base_url,
        openapi_base_url=sandbox.openapi_base_url,
        zns_base_url=sandbox.zns_base_url,
        zalo_timeout_seconds=2.0,
        _env_file=None,  # type: ignore[call-arg]
    )


async def _reset_postgres(settings: Settings) -> None:
    database = Database.from_settings(settings)
    async with database.engine.begin() as connection:
        await connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        await connection.execute(sa.text("CREATE SCHEMA public"))
    await database.dispose()


@dataclass
class Statements:
    """Counts the SQL statements an engine runs (token look-ups excluded)."""

    seen: list[str] = field(default_factory=list)
    active: bool = False

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (
            self.active
            and "api_tokens" not in statement
            and not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"))
        ):
            self.seen.append(statement)

    def direct(self, statement: str) -> None:
        """The hook of `resolvers._direct.DirectReads`, which SQLAlchemy's event does not see."""
        self(None, None, statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.seen = []
        self.active = True
        try:
            yield self.seen
        finally:
            self.active = False


@dataclass
class Backend:
    name: str
    settings: Settings
    app: Any
    database: Database
    statements: Statements

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: SandboxServer,
) -> AsyncIterator[Backend]:
    tmp = tmp_path_factory.mktemp(request.param)
    settings = _settings(request.param, tmp, sandbox)
    if request.param == "postgres":
        await _reset_postgres(settings)
    migrate.upgrade(settings)
    app = create_app(settings)
    database: Database = app.state.database
    statements = Statements()
    event.listen(database.engine.sync_engine, "before_cursor_execute", statements)
    database.statement_hooks.append(statements.direct)
    yield Backend(request.param, settings, app, database, statements)
    await database.dispose()


class Api:
    """Talks to the app over ASGI with a token of a chosen scope."""

    def __init__(self, backend: Backend, client: httpx.AsyncClient, tokens: dict[str, str]):
        self.backend = backend
        self.client = client
        self.tokens = tokens

    @property
    def statements(self) -> Statements:
        return self.backend.statements

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        scope: str = "admin",
        expect_errors: bool = False,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        if not expect_errors:
            assert "errors" not in body, body.get("errors")
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        body = await self.gql(query, variables, **kw)
        result: dict[str, Any] = body["data"]
        return result

    async def errors(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> list[dict[str, Any]]:
        body = await self.gql(query, variables, expect_errors=True, **kw)
        assert body.get("errors"), body
        result: list[dict[str, Any]] = body["errors"]
        return result


def comparable(response: httpx.Response) -> tuple[int, str | None, str]:
    """What a differential test compares: status, content type and body, with request ids
    blanked (they differ between two requests by design)."""
    body = re.sub(r'"requestId":"[0-9a-f]+"', '"requestId":"-"', response.text)
    return response.status_code, response.headers.get("content-type"), body


@asynccontextmanager
async def twin_client(api: Api, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app, on the same database, with some settings changed."""
    app = create_app(api.backend.settings.model_copy(update=changes))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await app.state.database.dispose()


async def _clean(database: Database) -> None:
    async with database.engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await connection.execute(table.delete())


@pytest.fixture
async def api(backend: Backend) -> AsyncIterator[Api]:
    await _clean(backend.database)
    made: dict[str, str] = {}
    async with backend.database.sessions() as session:
        for scope in Scope:
            name = scope.name.lower()
            made[name], _ = await tokens.create(session, f"{name}-module", scope)
        await session.commit()
    transport = httpx.ASGITransport(app=backend.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(backend, client, made)

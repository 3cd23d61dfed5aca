"""The async engine and session factory, identical in use on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

import models  # noqa: F401  (the tables whose column types _array_types_statement reads)
from resolvers._direct import DirectReads, Plans
from resolvers._query import sqlite_lower
from zalo_oa.settings import Settings


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function("zalo_lower", 1, sqlite_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _array_types_statement() -> str:
    """A statement naming the array of every column type the tables use. asyncpg knows only a
    few array types by itself and asks the server about any other the first time a
    connection meets it (three more statements: the type query and the JIT switch around
    it); a relation loaded with ``= ANY($1)`` meets one in its first request on each pooled
    connection. Preparing this once per new connection asks about all of them in one go."""
    dialect = postgresql.dialect()
    names = {
        re.sub(r"\(.*\)", "", column.type.compile(dialect=dialect))
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
    }
    return "SELECT " + ", ".join(f"NULL::{name}[]" for name in sorted(names))


def _on_postgres_connect(statement: str) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(lambda connection: connection.prepare(statement))

    return on_connect


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    server_settings = {"application_name": "zalo-oa"}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_overflow,
        pool_recycle=1800,  # no pre-ping round trip per checkout (see docs/performance.md)
        connect_args={"server_settings": server_settings},
    )
    event.listen(engine.sync_engine, "connect", _on_postgres_connect(_array_types_statement()))
    return engine


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Sessions for read-only GraphQL operations. On PostgreSQL they run in autocommit: no
    # BEGIN/COMMIT round trips, and under READ COMMITTED every statement of a transaction
    # takes its own snapshot anyway, so a query sees exactly what it would inside one.
    readers: async_sessionmaker[AsyncSession] | None = None
    # Called with the SQL of every statement `DirectReads` runs (SQLAlchemy's own
    # ``before_cursor_execute`` event does not see them).
    direct: bool = True  # Settings.direct_reads
    statement_hooks: list[Callable[[str], None]] = field(default_factory=list)
    _plans: Plans | None = None

    def __post_init__(self) -> None:
        if self.readers is None:
            bind = self.engine
            if self.reads_autocommit:
                bind = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            self.readers = async_sessionmaker(bind, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_engine(settings)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        return cls(engine, sessions, direct=settings.direct_reads)

    def read_sessions(self) -> async_sessionmaker[AsyncSession]:
        assert self.readers is not None
        return self.readers

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def reads_autocommit(self) -> bool:
        """Read-only sessions run in autocommit (PostgreSQL): they hold no transaction."""
        return self.postgres

    def direct_reads(self, fallback: Callable[[], Awaitable[AsyncSession]]) -> DirectReads | None:
        """Reads of a read-only operation on one pooled connection, used directly (see
        `resolvers._direct.DirectReads`); None where that does not apply (SQLite)."""
        if not (self.direct and self.reads_autocommit):
            return None
        if self._plans is None:
            self._plans = Plans(self.engine.dialect)
        return DirectReads(self.engine, self._plans, self.statement_hooks, fallback)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.engine.dispose()


async def open_transaction(session: AsyncSession) -> None:
    """Make sure ``session`` is inside a real database transaction before a SAVEPOINT.

    pysqlite (under aiosqlite) begins a transaction only before a write statement, so a
    SAVEPOINT issued first opens the transaction itself, and its RELEASE then commits it:
    the request could no longer roll that work back. On SQLite this issues the BEGIN first;
    PostgreSQL sessions are always in one.
    """
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.in_transaction:
        await connection.exec_driver_sql("BEGIN")

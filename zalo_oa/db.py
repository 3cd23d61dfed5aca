"""The async engine and session factory, identical in use on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from cachetools import LRUCache
from sqlalchemy import event
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

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


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    connect_args: dict[str, Any] = {}
    if settings.statement_timeout_ms:
        connect_args["server_settings"] = {
            "statement_timeout": str(settings.statement_timeout_ms),
            "application_name": "zalo-oa",
        }
    return create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_overflow,
        pool_recycle=1800,  # no pre-ping round trip per checkout (see docs/performance.md)
        connect_args=connect_args,
    )


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
    _plans: LRUCache[int, tuple[Any, _Plan | None]] = field(
        default_factory=lambda: LRUCache(_PLANS)
    )

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
    def reads_autocommit(self) -> bool:
        """Read-only sessions run in autocommit (PostgreSQL): they hold no transaction."""
        return self.engine.dialect.name == "postgresql"

    def direct_reads(self, fallback: Callable[[], Awaitable[AsyncSession]]) -> DirectReads | None:
        """Reads of a read-only operation on one pooled connection, used directly (see
        `DirectReads`); None where that does not apply (SQLite)."""
        return DirectReads(self, fallback) if self.direct and self.reads_autocommit else None

    def plan(self, stmt: Any) -> _Plan | None:
        """How `DirectReads` runs ``stmt`` (a statement built once and reused: the plan is
        kept by its identity), or None when it cannot (expanding parameters)."""
        key = id(stmt)
        found = self._plans.get(key)
        if found is not None and found[0] is stmt:
            return found[1]
        plan = _plan_of(stmt, self.engine.dialect)
        self._plans[key] = (stmt, plan)  # the statement is kept so that its id stays its own
        return plan

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


# ---------------------------------------------------------------- direct reads

_PLANS = 2048  # statements whose plans are kept (the statement builders cache 512 each)


class _Plan:
    """How `DirectReads` runs one statement."""

    __slots__ = ("binds", "constants", "keys", "names", "results", "row", "sql", "types")

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...],
        binds: tuple[Callable[[Any], Any] | None, ...],
        constants: dict[str, Any],
        keys: tuple[str, ...],
        types: tuple[Any, ...],
    ) -> None:
        self.sql = sql
        self.names = names  # the parameters, in position order
        self.binds = binds  # their bind processors
        self.constants = constants  # the values of those the statement itself holds
        self.keys = keys  # the result columns
        self.types = types  # their SQL types
        self.row = row_class(keys)
        # The columns' result processors (by position, those that have one), known once the
        # server has described the result.
        self.results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None


def _plan_of(stmt: Any, dialect: Dialect) -> _Plan | None:
    compiled: Any = stmt.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None  # the SQL text depends on the values (an expanding IN)
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[n] for n in names]
    if any(b.callable is not None for b in binds):
        return None
    processors = compiled._bind_processors
    columns = compiled._result_columns
    keys = tuple(c.keyname for c in columns)
    if len(set(keys)) != len(keys):
        return None
    return _Plan(
        compiled.string,
        names,
        tuple(processors.get(n) for n in names),
        {n: b.value for n, b in zip(names, binds, strict=True) if not b.required},
        keys,
        tuple(c.type for c in columns),
    )


def row_class(keys: tuple[str, ...]) -> type[tuple[Any, ...]]:
    """A row type with SQLAlchemy's `Row` surface the module uses: values by position and
    by attribute, and ``_mapping``."""
    namespace: dict[str, Any] = {
        "__slots__": (),
        "_fields": keys,
        "_mapping": property(lambda self: dict(zip(keys, self, strict=True))),
        "__repr__": lambda self: f"DirectRow{tuple.__repr__(self)}",
    }
    for i, key in enumerate(keys):
        namespace[key] = property(itemgetter(i))
    return type("DirectRow", (tuple,), namespace)


class DirectReads:
    """The generic reads of one read-only operation on PostgreSQL, run on a pooled
    connection through the driver itself.

    A one-row read spends about a third of its CPU time in SQLAlchemy's execution layer
    (session state, connection and transaction bookkeeping, execution context, the
    driver adaptor's cursor), all of which repeats per statement what is the same for
    every execution of a statement built once. `Database.plan` compiles such a statement
    once, with SQLAlchemy, into its SQL text, its parameters in order with their bind
    processors, and its result columns; a read then binds the values, runs the SQL with
    asyncpg (which keeps it prepared per connection) and applies the columns' result
    processors, chosen by the type the server reports as SQLAlchemy chooses them. The
    rows are the same values SQLAlchemy's path gives (tests/gql/test_direct.py compares
    them for every resource).

    Read-only operations on PostgreSQL already run in autocommit, one snapshot per
    statement, so a statement run here sees exactly what it would through the session.
    A statement this cannot run (one whose SQL depends on its values) goes through the
    operation's session (``fallback``) instead, and so does every read after the session
    is opened (`stop`): an operation holds one connection at a time.
    """

    def __init__(self, database: Database, fallback: Callable[[], Awaitable[AsyncSession]]):
        self.database = database
        self.session = fallback
        self.dialect = database.engine.dialect
        self._raw: PoolProxiedConnection | None = None
        self._stopped = False

    async def fetch(self, stmt: Any, params: Mapping[str, Any] | None) -> list[Any] | None:
        """The rows of ``stmt``, or None when it must run through the session."""
        if self._stopped:
            return None
        plan = self.database.plan(stmt)
        if plan is None:
            return None
        raw = self._raw
        if raw is None:
            raw = self._raw = await self.database.engine.raw_connection()
        connection: Any = raw.driver_connection
        values = {**plan.constants, **params} if params else plan.constants
        args = [
            values[name] if bind is None else bind(values[name])
            for name, bind in zip(plan.names, plan.binds, strict=True)
        ]
        for hook in self.database.statement_hooks:
            hook(plan.sql)
        try:
            processors = plan.results
            if processors is None:
                processors = plan.results = await self._processors(connection, plan)
            records = await connection.fetch(plan.sql, *args)
        except Exception:
            if connection.is_closed():  # the server or the network ended it
                self._raw = None
                await greenlet_spawn(raw.invalidate)  # discarded; the pool opens another
            raise
        row = plan.row
        if not processors:
            return [row(r) for r in records]
        rows = []
        for record in records:
            row_values = list(record)
            for i, process in processors:
                row_values[i] = process(row_values[i])
            rows.append(row(row_values))
        return rows

    async def _processors(
        self, connection: Any, plan: _Plan
    ) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        # The server's type of each result column, as SQLAlchemy's cursor reports it to
        # the result processors (a NUMERIC's depends on it).
        prepared = await connection.prepare(plan.sql)
        oids = [a.type.oid for a in prepared.get_attributes()]
        processors = (
            t._cached_result_processor(self.dialect, oid)
            for t, oid in zip(plan.types, oids, strict=True)
        )
        return tuple((i, p) for i, p in enumerate(processors) if p is not None)

    async def stop(self) -> None:
        """Give the connection back; the operation's reads go through its session now."""
        self._stopped = True
        await self.close()

    async def close(self) -> None:
        """Give the connection back to the pool."""
        raw, self._raw = self._raw, None
        if raw is not None:
            await greenlet_spawn(raw.close)

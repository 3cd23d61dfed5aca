"""Direct reads: the generic reads of a read-only operation on PostgreSQL, run on a pooled
connection through asyncpg itself (see `DirectReads`). `resolvers._crud.read` sends a
statement here when its source is a `DirectReads`; `zalo_oa.db.Database.direct_reads`
makes one per operation."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from cachetools import LRUCache
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

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


class Plans:
    """How `DirectReads` runs each statement built once and reused, for one engine's
    dialect: kept by the statement's identity (the entry holds the statement, so its id
    stays its own), or None for one it cannot run (expanding parameters)."""

    def __init__(self, dialect: Dialect, size: int = _PLANS) -> None:
        self.dialect = dialect
        self._entries: LRUCache[int, tuple[Any, _Plan | None]] = LRUCache(size)

    def get(self, stmt: Any) -> _Plan | None:
        found = self._entries.get(id(stmt))
        if found is not None and found[0] is stmt:
            return found[1]
        plan = _plan_of(stmt, self.dialect)
        self._entries[id(stmt)] = (stmt, plan)
        return plan


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


@functools.lru_cache(maxsize=1024)
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
    every execution of a statement built once. `Plans` compiles such a statement
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

    def __init__(
        self,
        engine: AsyncEngine,
        plans: Plans,
        hooks: Sequence[Callable[[str], None]],
        fallback: Callable[[], Awaitable[AsyncSession]],
    ) -> None:
        self.engine = engine
        self.plans = plans
        self.hooks = hooks
        self.session = fallback
        self.dialect = engine.dialect
        self._raw: PoolProxiedConnection | None = None
        self._stopped = False

    async def fetch(self, stmt: Any, params: Mapping[str, Any] | None) -> list[Any] | None:
        """The rows of ``stmt``, or None when it must run through the session."""
        if self._stopped:
            return None
        plan = self.plans.get(stmt)
        if plan is None:
            return None
        raw = self._raw
        if raw is None:
            raw = self._raw = await self.engine.raw_connection()
        connection: Any = raw.driver_connection
        values = {**plan.constants, **params} if params else plan.constants
        args = [
            values[name] if bind is None else bind(values[name])
            for name, bind in zip(plan.names, plan.binds, strict=True)
        ]
        for hook in self.hooks:
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

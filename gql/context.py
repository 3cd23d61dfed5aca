"""The per-request GraphQL context: one session, the caller, and lazily built loaders.

graphql-core resolves sibling fields concurrently, and an `AsyncSession` must not be used by
two tasks at once, so every database call goes through `Context.db()` (or `Context.reads()`
for the generic reads), which serialises them on one lock. DataLoaders still batch: one
statement per relation level.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from resolvers._direct import DirectReads
from resolvers._query import Limits
from resolvers.caller import Caller
from resolvers.errors import Unauthenticated
from zalo_oa.db import Database
from zalo_oa.services import Services
from zalo_oa.settings import Settings


@dataclass
class Context(BaseContext):
    database: Database
    settings: Settings
    services: Services | None = None
    caller_: Caller | None = None
    auth_error: str | None = None
    request_id: str = field(default_factory=lambda: os.urandom(8).hex())
    # Set once the operation is known to be a query: its statements need no transaction.
    read_only: bool = False
    _session: AsyncSession | None = None
    _direct: DirectReads | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: dict[Hashable, DataLoader[Any, Any]] = field(default_factory=dict)
    plans: dict[Hashable, Any] = field(default_factory=dict)  # see gql.factory.per_field

    def __post_init__(self) -> None:
        super().__init__()

    @property
    def caller(self) -> Caller:
        if self.caller_ is None:
            raise Unauthenticated(self.auth_error or "a valid API token is required")
        return self.caller_

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_filter_depth, s.max_filter_branches, s.max_in_values)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            yield await self._open()

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncSession | DirectReads]:
        """Where the generic reads (`resolvers._crud`) run: the request's session, or for a
        read-only operation on PostgreSQL one pooled connection used directly
        (`resolvers._direct.DirectReads`)."""
        async with self._lock:
            if not self.read_only or self._session is not None:
                yield await self._open()
                return
            if self._direct is None:
                self._direct = self.database.direct_reads(self._open)
            yield self._direct if self._direct is not None else await self._open()

    async def _open(self) -> AsyncSession:
        if self._session is None:
            if self._direct is not None:
                # A request holds one connection at a time (a pool without overflow cannot
                # then run dry with every request waiting for its second): from here on its
                # reads go through the session.
                await self._direct.stop()
            if self.read_only:
                self._session = self.database.read_sessions()()
            else:
                self._session = self.database.sessions()
        return self._session

    async def finish(self, commit: bool) -> None:
        """End the request's transaction: the request, not the services, commits."""
        if self._session is None and self._direct is None:
            return
        async with self._lock:
            direct, self._direct = self._direct, None
            try:
                if direct is not None:
                    await direct.close()
            finally:
                await self._end(commit)

    async def _end(self, commit: bool) -> None:
        if self._session is not None:
            try:
                if self.read_only and self.database.reads_autocommit:
                    pass  # nothing to commit or roll back: closing releases the connection
                elif commit:
                    await self._session.commit()
                else:
                    await self._session.rollback()
            finally:
                await self._session.close()
                self._session = None

    @property
    def zalo(self) -> Services:
        if self.services is None:
            raise RuntimeError("no Zalo services in this context")
        return self.services

    def loader(self, key: Hashable, load: Callable[[list[Any]], Any]) -> DataLoader[Any, Any]:
        """The request's loader for ``key``, created on first use."""
        found = self._loaders.get(key)
        if found is None:
            found = self._loaders[key] = DataLoader(load_fn=load)
        return found

    def clear_loaders(self) -> None:
        self._loaders.clear()
        self.plans.clear()

"""What one read costs the module's process: through a read session, and as a direct read.

Reads one follower by code (`_crud.fetch_by_keys`, the columns W4 asks for) again and
again on a loaded PostgreSQL database, in-process on uvloop, and prints the CPU time a
read takes on each path: the read session SQLAlchemy runs it on when direct reads are off,
and `resolvers._direct.DirectReads` (a pooled connection used through asyncpg). Each path opens
and closes what a request would (the session, or the pooled connection), so the figures
are per request of one statement. The paths alternate; ``--rounds`` sets how often.

    ZALO_OA_DATABASE_URL=postgresql://…  .venv/bin/python bench/reads.py [--reads 3000]

The database is the one `bench/run` loads (any with followers works); ZALO_OA_SECRET_KEY
must be the key it was written with only if encrypted columns are read (these are not).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
import uvloop

from bench.workloads import W4_FIELDS
from resolvers import _crud
from resolvers.resources import FOLLOWERS
from zalo_oa.db import Database
from zalo_oa.settings import Settings


async def main(reads: int, rounds: int) -> None:
    database = Database.from_settings(Settings())
    if database.engine.dialect.name != "postgresql":
        raise SystemExit("direct reads are PostgreSQL's: set ZALO_OA_DATABASE_URL")
    columns = list(W4_FIELDS)
    async with database.read_sessions()() as session:
        code = (await session.execute(sa.text("SELECT code FROM followers LIMIT 1"))).scalar()
    if code is None:
        raise SystemExit("no followers in this database")

    async def through_session() -> Any:
        session = database.read_sessions()()
        try:
            return await _crud.fetch_by_keys(session, FOLLOWERS, "code", [code], columns)
        finally:
            await session.close()

    async def direct() -> Any:
        reader = database.direct_reads(_no_session)  # this statement never falls back
        assert reader is not None
        try:
            return await _crud.fetch_by_keys(reader, FOLLOWERS, "code", [code], columns)
        finally:
            await reader.close()

    paths: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("read session", through_session),
        ("direct read", direct),
    ]
    assert (await through_session()).keys() == (await direct()).keys()
    print(f"one follower by code, {len(columns)} columns; CPU µs a read, {reads} reads a round")
    for _ in range(rounds):
        for name, run in paths:
            for _ in range(100):  # warm: prepared statements, plans, the pool
                await run()
            started = time.process_time()
            for _ in range(reads):
                await run()
            spent = time.process_time() - started
            print(f"  {name:13s} {spent / reads * 1e6:7.1f}")
    await database.dispose()


async def _no_session() -> Any:
    raise AssertionError("the statement went through the session")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    uvloop.run(main(args.reads, args.rounds))

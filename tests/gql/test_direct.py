"""Direct reads (`resolvers._direct.DirectReads`): on PostgreSQL the reads of a query run on a
pooled connection through asyncpg, and must give exactly what the session gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models._types import DecimalNumber, EncryptedText, JSONText, UTCDateTime
from resolvers import _crud
from resolvers import _query as q
from resolvers._resource import Kind, Resource, all_resources, get
from tests.conftest import Api, comparable, twin_client
from zalo_oa.db import Database

ROWS = 3  # per resource; the last one has every nullable column NULL


@pytest.fixture
def pg(api: Api) -> Api:
    if api.backend.name != "postgres":
        pytest.skip("direct reads are PostgreSQL's")
    return api


def _value(column: sa.Column[Any], resource: Resource, i: int) -> Any:
    """A value of the column's type for row ``i``; foreign keys name row ``i`` of their
    target (whose code is made the same way)."""
    if column.key == "id":
        return None
    for fk in column.foreign_keys:
        return f"{fk.column.table.name}-{i}"
    if column.key == "code":
        return f"{resource.table.name}-{i}"
    if column.key == "is_deleted":
        return 0  # soft-deleted rows are not read
    if i == ROWS - 1 and column.nullable:
        return None
    t = column.type
    if isinstance(t, UTCDateTime):
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(days=i, microseconds=7000)
    if isinstance(t, DecimalNumber):
        return 1234.5678 + i
    if isinstance(t, JSONText):
        return {"list": [1, "hai", None], "i": i}
    if isinstance(t, EncryptedText):
        return f"secret-{column.key}-{i}"
    if isinstance(t, sa.Boolean):
        return i % 2 == 0
    if isinstance(t, sa.Integer):
        return 40 + i
    return f"Nguyễn {column.key} {i}"


async def _fill(database: Database) -> None:
    """Every resource table, every column set (then NULL in the last row), in the order
    their foreign keys need."""
    resources = {r.table.name: r for r in all_resources()}
    async with database.engine.begin() as connection:
        for name in _sorted(resources):
            resource = resources[name]
            columns = [c for c in resource.table.columns if c.key != "id"]
            rows = [{c.key: _value(c, resource, i) for c in columns} for i in range(ROWS)]
            await connection.execute(resource.table.insert(), rows)


def _sorted(resources: dict[str, Resource]) -> list[str]:
    done: list[str] = []
    pending = dict(resources)
    while pending:
        ready = len(done)
        for name, resource in list(pending.items()):
            needs = {
                fk.column.table.name
                for c in resource.table.columns
                for fk in c.foreign_keys
                if fk.column.table.name != name
            }
            if needs <= set(done):
                done.append(name)
                del pending[name]
        assert len(done) > ready, f"foreign keys in a cycle: {sorted(pending)}"
    return done


@pytest.fixture
async def filled(pg: Api) -> Api:
    await _fill(pg.backend.database)
    return pg


class Pair:
    """A read session and a `DirectReads` whose fallback is that session (counted)."""

    def __init__(self, database: Database) -> None:
        self.session = database.read_sessions()()
        self.fallbacks = 0
        direct = database.direct_reads(self._fallback)
        assert direct is not None
        self.direct = direct

    async def _fallback(self) -> AsyncSession:
        self.fallbacks += 1
        return self.session


@pytest.fixture
async def pair(filled: Api) -> AsyncIterator[Pair]:
    made = Pair(filled.backend.database)
    try:
        yield made
    finally:
        await made.direct.close()
        await made.session.close()


def in_use(pool: Any) -> int:
    """Connections of the pool checked out now."""
    return int(pool.checkedout())


def _same(expected: Any, got: Any) -> None:
    assert [tuple(r) for r in got] == [tuple(r) for r in expected]
    assert [dict(r._mapping) for r in got] == [dict(r._mapping) for r in expected]
    for want, have in zip(expected, got, strict=True):
        assert [type(v) for v in have] == [type(v) for v in want]
        for key in want._mapping:
            assert getattr(have, key) == getattr(want, key)


@pytest.mark.parametrize("key", [r.key for r in all_resources()])
async def test_rows_are_the_sessions(pair: Pair, key: str) -> None:
    session, direct = pair.session, pair.direct
    resource = get(key)
    limits = q.Limits()
    spec = q.QuerySpec(limit=10)
    page = await _crud.fetch_page(session, resource, spec, limits)
    assert len(page) == ROWS
    direct_page = await _crud.fetch_page(direct, resource, spec, limits)
    _same(page, direct_page)
    # One row type for both paths: columns as attributes of a tuple (a SQLAlchemy Row's
    # attribute look-up is a Python-level __getattr__).
    assert type(page[0]) is type(direct_page[0])

    codes = [f"{resource.table.name}-{i}" for i in range(ROWS)] + ["none"]
    by_session = await _crud.fetch_by_keys(session, resource, "code", codes)
    by_direct = await _crud.fetch_by_keys(direct, resource, "code", codes)
    assert sorted(by_direct) == sorted(by_session)
    for code in by_session:
        _same([by_session[code]], [by_direct[code]])

    assert await _crud.count(direct, resource, spec, limits) == ROWS
    orderable = [f.name for f in resource.fields if f.orderable and f.kind is not Kind.BOOL]
    low = await _crud.aggregate(session, resource, spec, limits, orderable, orderable)
    assert await _crud.aggregate(direct, resource, spec, limits, orderable, orderable) == low

    for relation in resource.relations:
        if not relation.many:
            continue
        target = get(relation.target)
        parents = [f"{resource.table.name}-{i}" for i in range(ROWS)]
        child = q.QuerySpec(limit=2, order=[q.Order(("id",), q.Direction.DESC)])
        want = await _crud.fetch_children(
            session, target, relation.remote, parents, child, limits, None, True
        )
        got = await _crud.fetch_children(
            direct, target, relation.remote, parents, child, limits, None, True
        )
        assert sorted(got) == sorted(want)
        for parent in want:
            assert got[parent][1] == want[parent][1]
            _same(want[parent][0], got[parent][0])
    assert pair.fallbacks == 0  # every statement above ran directly


async def test_a_statement_whose_sql_depends_on_its_values_goes_through_the_session(
    pair: Pair,
) -> None:
    resource = get("followers")
    codes = [f"followers-{i}" for i in range(ROWS)]
    # ``codes`` is an expanding IN: its SQL has one parameter per value.
    spec = q.QuerySpec(codes=codes[:2], limit=10)
    rows = await _crud.fetch_page(pair.direct, resource, spec, q.Limits())
    assert sorted(r.code for r in rows) == codes[:2]
    assert pair.fallbacks == 1


FOLLOWER = """code name creditPoints birthday lastInteraction
  zaloOa { code name isDefault appSecret refreshTokenExpired }
  messages(limit: 2, orderBy: [{id: DESC}]) {
    totalCount items { code text sentAt attachments templateData }
  }"""

QUERIES = [
    f"{{ followers(limit: 10, orderBy: [{{id: DESC}}]) {{ totalCount items {{ {FOLLOWER} }} }} }}",
    f'{{ follower(code: "followers-1") {{ {FOLLOWER} }} }}',
    '{ follower(code: "none") { code } }',
    '{ followers(filter: {name: {contains: "name 1"}}) { totalCount items { code name } } }',
    "{ followers(filter: {creditPoints: {gt: 1234.6}}) { items { code creditPoints } } }",
    '{ followers(filter: {code: {in: ["followers-0", "followers-2"]}}) { items { code } } }',
    '{ followers(codes: ["followers-1"]) { items { code } } }',
    "{ followersAggregate { count min { creditPoints name } max { creditPoints code } } }",
    "{ followersConnection(first: 2) { edges { cursor node { code } } pageInfo { hasNextPage } } }",
    "{ znsTemplates { items { code params price synced zaloOa { code } } } }",
    """{ officialAccounts(orderBy: [{code: ASC}]) { items { code accessToken isEnabled
         followers(limit: 1) { totalCount items { code } }
         messages(offset: 1, limit: 1) { totalCount items { code created } } } } }""",
    "{ webhooks { items { code extendData isApplied } } callbacks { totalCount } }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_queries_answer_as_through_the_session(filled: Api, query: str) -> None:
    headers = {"Authorization": f"Bearer {filled.tokens['admin']}"}
    pool = filled.backend.database.engine.pool
    async with twin_client(filled, direct_reads=False) as session_client:
        for _ in range(2):  # the second time as a known query
            want = await session_client.post("/graphql", json={"query": query}, headers=headers)
            got = await filled.client.post("/graphql", json={"query": query}, headers=headers)
            assert "errors" not in want.json(), want.json()
            assert comparable(got) == comparable(want)
            assert in_use(pool) == 0  # the request gave its connection back


async def test_a_query_counts_its_direct_statements(filled: Api) -> None:
    with filled.statements.counting() as seen:
        await filled.data(QUERIES[0])
    # followers with their OAs (joined), their count, their messages with totals
    assert len(seen) == 3, seen
    assert "JOIN official_accounts" in seen[0], seen


async def test_a_failed_request_gives_its_connection_back(filled: Api) -> None:
    pool = filled.backend.database.engine.pool
    # the limit is checked once the filter has been read
    errors = await filled.errors(
        '{ followers(filter: {name: {contains: "a"}}, limit: 5000) { totalCount } }'
    )
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    errors = await filled.errors("{ followers { items { code } } }", scope="")
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert in_use(pool) == 0


async def test_a_connection_ended_by_the_server_is_replaced(filled: Api) -> None:
    database = filled.backend.database
    pool = database.engine.pool
    query = '{ follower(code: "followers-0") { code } }'
    await filled.data(query)
    # From outside the pool (the module's own idle connections are the ones to end).
    outside = await asyncpg.connect(
        database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        ended = await outside.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await outside.close()
    assert ended
    # Each pooled connection the server ended fails the one request that meets it (as
    # through SQLAlchemy, which does not ping either); then the pool opens new ones.
    answers = []
    for _ in range(cast(Any, pool).size() + 2):
        body = await filled.gql(query, expect_errors=True)
        answers.append(body)
        if "errors" not in body:
            break
    assert answers[-1]["data"] == {"follower": {"code": "followers-0"}}
    assert all(a["errors"][0]["extensions"]["code"] == "INTERNAL" for a in answers[:-1])
    assert in_use(pool) == 0


@pytest.mark.parametrize(
    "query",
    [
        # a page whose SQL depends on its values (through the session), then relations
        '{ followers(codes: ["followers-0", "followers-1"]) { items { code zaloOa { name }'
        " messages { totalCount items { code } } } } }",
        # a hand-written resolver's session beside direct reads, in either order
        "{ followers { items { code zaloOa { name } } } apiTokens { module } }",
        "{ apiTokens { module } followers { items { code zaloOa { name } } } }",
    ],
)
async def test_a_query_holds_one_connection_at_a_time(filled: Api, query: str) -> None:
    engine = filled.backend.database.engine.sync_engine
    held = [0, 0]  # now, most

    def checkout(*_: Any) -> None:
        held[0] += 1
        held[1] = max(held)

    def checkin(*_: Any) -> None:
        held[0] -= 1

    sa.event.listen(engine, "checkout", checkout)
    sa.event.listen(engine, "checkin", checkin)
    try:
        for _ in range(2):  # through the pipeline, then as a known query
            data = await filled.data(query)
            assert data["followers"]["items"]
    finally:
        sa.event.remove(engine, "checkout", checkout)
        sa.event.remove(engine, "checkin", checkin)
    assert held == [0, 1]

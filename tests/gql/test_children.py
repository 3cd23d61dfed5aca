"""A relation level's pages (`resolvers._crud.fetch_children`): one statement for every
parent. On PostgreSQL a page without its total is read by a LATERAL subquery per parent,
and a page with its total by window functions over all children; both must give every
parent the same rows in the same order, whatever the order, filter and offset."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from resolvers import _crud
from resolvers import _query as q
from resolvers._direct import DirectReads
from resolvers._resource import all_resources, get
from tests.conftest import Api
from tests.gql.test_direct import ROWS, _fill, _value

# Children per parent follower: one with many, one with few, one with only the filled row.
EXTRA = {"followers-0": 9, "followers-1": 3}
PARENTS = [f"followers-{i}" for i in range(ROWS)] + ["followers-none"]

Q, A, D = q.Order, q.Direction.ASC, q.Direction.DESC
SPECS = {
    "last three": q.QuerySpec(limit=3, order=[Q(("id",), D)]),
    "by text, nulls first": q.QuerySpec(limit=4, order=[Q(("text",), A, nulls_first=True)]),
    "by text descending": q.QuerySpec(limit=4, order=[Q(("text",), D)]),
    "by created then id": q.QuerySpec(limit=5, offset=2, order=[Q(("created",), D)]),
    "through a relation": q.QuerySpec(limit=2, order=[Q(("template", "name"), A)]),
    "filtered": q.QuerySpec(
        limit=3, offset=1, filter=q.Cmp("text", q.Op.CONTAINS, "chào"), order=[Q(("id",), D)]
    ),
    "past the end": q.QuerySpec(limit=3, offset=20),
}


async def _children(api: Api) -> None:
    """The filled tables, plus messages of varied text (some NULL), times and templates."""
    await _fill(api.backend.database)
    messages = get("messages")
    columns = [c for c in messages.table.columns if c.key != "id"]
    base = datetime(2026, 3, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for parent, count in EXTRA.items():
        for n in range(count):
            row = {c.key: _value(c, messages, 0) for c in columns}
            row.update(
                code=f"{parent}-m{n}",
                follower=parent,
                text=None if n % 4 == 3 else f"{'xin chào' if n % 2 else 'tạm biệt'} {n % 3}",
                created=base + timedelta(hours=n % 4),  # ties, broken by id
                template=f"templates-{n % ROWS}",
            )
            rows.append(row)
    async with api.backend.database.engine.begin() as connection:
        await connection.execute(messages.table.insert(), rows)


def _pages(found: dict[Any, tuple[list[Any], int]]) -> dict[Any, list[str]]:
    return {parent: [row.code for row in rows] for parent, (rows, _) in found.items()}


@pytest.mark.parametrize("name", list(SPECS))
async def test_pages_are_the_same_with_and_without_totals(api: Api, name: str) -> None:
    await _children(api)
    database = api.backend.database
    spec, limits, messages = SPECS[name], q.Limits(), get("messages")
    sources: list[Any] = []
    async with database.read_sessions()() as session:
        sources.append(session)
        direct = database.direct_reads(lambda: _fallback(session))
        if direct is not None:
            sources.append(direct)
        expected = _expected(await _all(session), spec, name)
        # Every column, or only the code: then the page's order values (text, created…)
        # are not among the selected columns and ride along in the LATERAL form.
        for source, columns in itertools.product(sources, [None, frozenset({"code"})]):
            pages = _pages(
                await _crud.fetch_children(
                    source, messages, "follower", PARENTS, spec, limits, columns
                )
            )
            counted = await _crud.fetch_children(
                source, messages, "follower", PARENTS, spec, limits, columns, True
            )
            assert pages == _pages(counted), (name, type(source).__name__, columns)
            assert pages == expected, (name, type(source).__name__, columns)
        if isinstance(direct, DirectReads):
            await direct.close()


async def _fallback(session: Any) -> Any:
    return session


async def _all(session: Any) -> list[Any]:
    messages, templates = get("messages").table, get("templates").table
    stmt = messages.outerjoin(templates, templates.c.code == messages.c.template).select()
    result = await session.execute(
        stmt.with_only_columns(
            messages.c.id,
            messages.c.code,
            messages.c.follower,
            messages.c.text,
            messages.c.created,
            templates.c.name,
        )
    )
    return list(result.all())


def _expected(rows: list[Any], spec: q.QuerySpec, name: str) -> dict[Any, list[str]]:
    """The pages computed in Python from every message, for the orders above."""
    keys: dict[str, Any] = {
        "last three": lambda r: -r.id,
        "by text, nulls first": lambda r: (r.text is not None, r.text or "", r.id),
        "by text descending": lambda r: (r.text is not None, _desc(r.text or ""), r.id),
        "by created then id": lambda r: (r.created is not None, -_ts(r.created), r.id),
        "through a relation": lambda r: (r.name is None, r.name or "", r.id),
        "filtered": lambda r: -r.id,
        "past the end": lambda r: r.id,
    }
    wanted = [r for r in rows if name != "filtered" or "chào" in (r.text or "")]
    out: dict[Any, list[str]] = {}
    for parent in PARENTS:
        mine = sorted((r for r in wanted if r.follower == parent), key=keys[name])
        out[parent] = [r.code for r in mine[spec.offset : spec.offset + spec.limit]]
    return out


def _ts(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def _desc(text: str) -> tuple[int, ...]:
    return (*(-ord(ch) for ch in text), 1)


def test_every_many_relation_is_keyed_by_an_indexed_column() -> None:
    """The LATERAL form reads a parent's page by an index on (parent key, …); every to-many
    relation's key column leads some index of its table."""
    for resource in all_resources():
        for relation in resource.relations:
            if not relation.many:
                continue
            table = get(relation.target).table
            leading = {next(iter(ix.columns)).key for ix in table.indexes}
            leading |= {
                next(iter(c.columns)).key
                for c in table.constraints
                if isinstance(c, sa.PrimaryKeyConstraint | sa.UniqueConstraint) and len(c.columns)
            }
            assert relation.remote in leading, (resource.key, relation.name)

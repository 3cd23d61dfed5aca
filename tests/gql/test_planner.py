"""Planned completion (gql/planner.py) answers exactly what graphql-core's own completion
answers: the same documents run through the app and through a twin app with
``graphql_planned=False`` on the same database, and the bodies must be equal, key order
included. The twin proves the plan changes nothing; a count of planned shapings proves the
plan ran at all."""

from __future__ import annotations

import gc
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gql import planner
from tests.conftest import Api, twin_client
from tests.factories import insert, oa

ROW = """
fragment Contact on Follower { phone email }
query($skip: Boolean!, $limit: Int!) {
  followers(limit: $limit, orderBy: [{id: ASC}]) {
    totalCount offset limit __typename
    items {
      __typename id code name creditPoints gender followedAt isDeleted
      who: name
      ...Contact
      ... on Follower { address }
      sipPassword
      age: zalo @skip(if: $skip)
      kept: zalo @include(if: $skip)
    }
  }
}
"""

NESTED = """
query($n: Int!) {
  followers(limit: 50, orderBy: [{id: ASC}]) {
    items {
      code
      zaloOa { __typename code name appSecret isEnabled lastRefreshed }
      recent: messages(limit: $n, orderBy: [{id: DESC}]) {
        __typename totalCount offset limit items { code text attachments created }
      }
      second: messages(limit: 2, offset: 1, filter: {text: {contains: "1"}}) {
        items { code text }
        totalCount
      }
      messages(limit: 1) { items { follower { code zaloOa { name } } } }
    }
  }
}
"""

ONE = """
query($code: String!) {
  follower(code: $code) {
    code name sipPassword
    zaloOa { name }
    messages(limit: 3) { totalCount items { text zaloOa { code } } }
  }
}
"""

CONNECTION = """
query($after: String) {
  followersConnection(first: 4, after: $after, orderBy: [{name: ASC}]) {
    totalCount
    pageInfo { hasNextPage endCursor startCursor }
    nodes { code name zaloOa { code } }
    edges { cursor node { code } }
  }
}
"""

OAS = """
{
  officialAccounts(orderBy: [{code: ASC}]) {
    items {
      code name oaSecretKey accessToken
      followers(limit: 3, orderBy: [{name: DESC}]) { totalCount items { name } }
    }
  }
}
"""

# To-one relations of a root's rows, read in the rows' own statement (JOINED): aliases of one
# relation with different columns, a secret, a row with no OA, a filter and an order through
# the same relation's table, a root row by code beside the page.
JOINED = """
{
  followers(
    limit: 50
    filter: {zaloOa: {name: {contains: "OA"}}, isDeleted: {eq: 0}}
    orderBy: [{zaloOa: {name: DESC}}, {id: ASC}]
  ) {
    items {
      code
      a: zaloOa { name }
      b: zaloOa { __typename code isEnabled appSecret oaSecretKey }
      zaloOa { code }
    }
  }
  unfiltered: followers(limit: 50, orderBy: [{id: ASC}]) { items { code zaloOa { name } } }
  follower(code: "F01") { code zaloOa { name code } }
  none: follower(code: "F02") { code zaloOa { name } }
}
"""

# A to-many relation of a root page's rows read in the page's statement on PostgreSQL
# (NESTED): its filter, order by a column not selected, offset; parents without children; a
# second to-many relation (a level of its own) and a joined to-one beside it.
NESTED_PAGE = """
{
  followers(limit: 50, orderBy: [{name: DESC}, {id: ASC}], filter: {name: {contains: "V"}}) {
    totalCount offset
    items {
      code name
      zaloOa { name appSecret }
      recent: messages(
        limit: 2, offset: 1, orderBy: [{created: DESC}, {id: DESC}]
        filter: {text: {contains: "t"}}
      ) { __typename offset limit items { code text attachments } }
      messages(limit: 1) { items { code } }
    }
  }
  officialAccounts(orderBy: [{code: ASC}]) {
    items { code followers(limit: 3, orderBy: [{name: DESC}]) { items { name sipPassword } } }
  }
}
"""

OUT_OF_BOUNDS = """
{ followers(limit: 2) { items { code messages(limit: 100000) { items { code } } } } }
"""

CREATE = """
mutation($items: [FollowerCreate!]!) {
  createFollowers(input: $items) {
    affectedCount
    items { code name zaloOa { name } messages { totalCount } }
    errors { field message }
  }
}
"""


async def _seed(api: Api) -> None:
    db = api.backend.database
    await oa(db, "OA1", app_secret="s3cr3t-value", oa_secret_key="k3y-value", is_enabled=True)
    await oa(db, "OA2")
    await insert(
        db,
        "followers",
        [
            {
                "code": f"F{i:02d}",
                "zalo_oa": ("OA1", "OA2", None)[i % 3],
                "name": f"Nguyễn Văn {chr(65 + i)}",
                "phone": None if i % 4 else f"09{i:08d}",
                "credit_points": i * 1.5 if i % 2 else None,
                "sip_password": "sip-secret" if i % 5 == 0 else None,
                "zalo": f"U{i}",
            }
            for i in range(12)
        ],
    )
    await insert(
        db,
        "messages",
        [
            {
                "code": f"M{f:02d}-{m}",
                "zalo_oa": ("OA1", "OA2", None)[f % 3],
                "follower": f"F{f:02d}",
                "text": f"text {m}",
                "direction": "in",
                "attachments": [{"type": "image", "n": m}] if m % 2 else None,
            }
            for f in range(0, 12, 2)
            for m in range(f % 5)
        ],
    )


@pytest.fixture
async def twin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The same app on the same database, with graphql-core's own completion."""
    async with twin_client(api, graphql_planned=False) as client:
        yield client


async def _both(
    api: Api, twin: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    payload = {"query": query, "variables": variables or {}}
    planned = await api.client.post("/graphql", json=payload, headers=headers)
    standard = await twin.post("/graphql", json=payload, headers=headers)
    # Pairs keep the key order: a response is compared as the client reads it.
    return (
        json.loads(planned.text, object_pairs_hook=list),
        json.loads(standard.text, object_pairs_hook=list),
    )


@pytest.fixture
def shaped(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(rows, relations) of every shaping the plan made (wraps the planner's row builder)."""
    counts: list[tuple[int, int]] = []
    build = planner._build

    def counting(plan: Any, rows: list[Any], values: Any) -> Any:
        counts.append((len(rows), len(plan.related)))
        return build(plan, rows, values)

    monkeypatch.setattr(planner, "_build", counting)
    return counts


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (ROW, {"skip": True, "limit": 50}),
        (ROW, {"skip": False, "limit": 5}),
        (NESTED, {"n": 3}),
        (ONE, {"code": "F00"}),
        (ONE, {"code": "F04"}),
        (ONE, {"code": "nobody"}),
        (CONNECTION, {"after": None}),
        (OAS, None),
        (JOINED, None),
        (NESTED_PAGE, None),
    ],
    ids=[
        "row-skip",
        "row-include",
        "nested",
        "one",
        "one-no-oa",
        "one-missing",
        "keyset",
        "oas",
        "joined",
        "nested-page",
    ],
)
async def test_planned_answers_equal_graphql_cores(
    api: Api,
    twin: httpx.AsyncClient,
    shaped: list[tuple[int, int]],
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    await _seed(api)
    shaped.clear()
    planned, standard = await _both(api, twin, query, variables)
    assert planned == standard
    assert "errors" not in dict(planned), planned
    # The plan ran, relations included (no row: nothing to shape).
    missing = variables is not None and variables.get("code") == "nobody"
    assert bool(shaped) is not missing, shaped
    if query in (NESTED, ONE, OAS, CONNECTION, JOINED, NESTED_PAGE) and not missing:
        assert any(related for _, related in shaped), shaped


@pytest.mark.parametrize(
    ("query", "sqlite", "postgres"),
    [(JOINED, 4, 4), (NESTED_PAGE, 6, 4)],
    ids=["joined", "nested-page"],
)
async def test_joined_and_nested_reads_are_not_abandoned(
    api: Api, query: str, sqlite: int, postgres: int
) -> None:
    """The twin comparison above cannot tell a joined or nested read from one the plan
    gave up on (the standard path answers the same): the statements can. JOINED is two
    pages and two rows by code, each with its OA; NESTED_PAGE on PostgreSQL is the nested
    followers' page, their second messages relation, the total and the nested OAs' page
    (on SQLite each to-many relation is a statement of its own)."""
    await _seed(api)
    with api.statements.counting() as seen:
        await api.data(query)
    assert len(seen) == (postgres if api.backend.name == "postgres" else sqlite), seen


async def test_secrets_stay_masked_when_planned(api: Api, shaped: list[tuple[int, int]]) -> None:
    await _seed(api)
    data = await api.data(OAS)
    first = data["officialAccounts"]["items"][0]
    assert first["oaSecretKey"] != "k3y-value" and first["oaSecretKey"].endswith("alue")
    assert "s3cr3t" not in json.dumps(data)
    assert shaped


async def test_errors_fall_back_to_the_standard_path(
    api: Api, twin: httpx.AsyncClient, shaped: list[tuple[int, int]]
) -> None:
    await _seed(api)
    planned, standard = await _both(api, twin, OUT_OF_BOUNDS)
    assert planned == standard
    errors = dict(planned)["errors"]
    assert errors and "limit" in json.dumps(errors)


@pytest.mark.parametrize("value", [2**31 - 1, -(2**31), 2**31, -(2**31) - 1])
async def test_ints_at_and_past_32_bits_answer_as_graphql_core_does(
    api: Api, twin: httpx.AsyncClient, shaped: list[tuple[int, int]], value: int
) -> None:
    """An int column's value is its own output only within 32 bits; past them graphql-core
    refuses it, and so does the plan (it falls back, and the error is graphql-core's)."""
    if api.backend.name != "sqlite":
        pytest.skip("PostgreSQL's INTEGER column cannot hold more than 32 bits")
    await insert(api.backend.database, "followers", [{"code": "F1", "sex": value}])
    planned, standard = await _both(api, twin, "{ followers { items { code sex } } }")
    # An unexpected error is reported with the request's own id: compare without it.
    ids = re.compile(r'"requestId", "\w+"')
    assert ids.sub("", json.dumps(planned)) == ids.sub("", json.dumps(standard))
    errors = dict(planned).get("errors")
    fits = -(2**31) <= value < 2**31
    assert bool(errors) is not fits, planned
    if not fits:
        assert '"path", ["followers", "items", 0, "sex"]' in json.dumps(errors)


async def test_mutation_payload_rows_are_planned(
    api: Api, twin: httpx.AsyncClient, shaped: list[tuple[int, int]]
) -> None:
    await _seed(api)
    items = [{"code": "NEW1", "name": "Trần Thị Ánh", "zaloOaCode": "OA1"}]
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    response = await api.client.post(
        "/graphql", json={"query": CREATE, "variables": {"items": items}}, headers=headers
    )
    body = response.json()
    assert "errors" not in body, body
    created = body["data"]["createFollowers"]
    assert created["items"] == [
        {
            "code": "NEW1",
            "name": "Trần Thị Ánh",
            "zaloOa": {"name": "Shop OA1"},
            "messages": {"totalCount": 0},
        }
    ]
    assert shaped
    # The twin creates its own row; both payloads must have the same shape.
    items[0]["code"] = "NEW2"
    standard = await twin.post(
        "/graphql", json={"query": CREATE, "variables": {"items": items}}, headers=headers
    )
    twin_items = standard.json()["data"]["createFollowers"]["items"]
    assert twin_items == [{**created["items"][0], "code": "NEW2"}]


@pytest.mark.parametrize(
    "document",
    [
        "query { followers(limit: 2) { totalCount items { code name } } }",  # pipeline, then known
        "query { followers(limit: 2) { totalCount items { code name } } }",
        'mutation { createFollowers(input: [{name: "An", zaloOaCode: "OA1"}]) { affectedCount } }',
    ],
)
async def test_an_execution_is_let_go_of_without_the_collector(api: Api, document: str) -> None:
    """graphql-core's executor is in a reference cycle; once its response is built the
    planner breaks it, so the executor and all it holds (variables, context) are freed at
    once instead of at the collector's next pass."""
    await oa(api.backend.database, "OA1")
    gc.collect()
    gc.disable()
    try:
        await api.data(document)
        alive = [o for o in gc.get_objects() if isinstance(o, planner.PlannedExecution)]
    finally:
        gc.enable()
    assert alive == []


async def test_a_level_loads_through_the_loaders_cache() -> None:
    """`planner.load_level`: distinct keys, one call of the batch function for the keys the
    loader's cache lacks, the answers left in the cache for `load`; a failure is raised and
    left on the keys' futures, as a dispatched batch leaves it."""
    from strawberry.dataloader import DataLoader

    calls: list[list[int]] = []

    async def batch(keys: list[int]) -> list[Any]:
        calls.append(keys)
        return [ValueError("no 13") if k == 13 else k * 10 for k in keys]

    loader: DataLoader[int, Any] = DataLoader(load_fn=batch)
    assert await loader.load(1) == 10
    found = await planner.load_level(loader, [2, 1, 2, 3])
    assert found == {2: 20, 1: 10, 3: 30}
    assert calls == [[1], [2, 3]]
    assert await loader.load(3) == 30 and len(calls) == 2
    with pytest.raises(ValueError, match="no 13"):
        await planner.load_level(loader, [4, 13])
    with pytest.raises(ValueError, match="no 13"):
        await loader.load(13)
    assert await loader.load(4) == 40 and len(calls) == 3

    async def broken(keys: list[int]) -> list[Any]:
        raise RuntimeError("database gone")

    failing: DataLoader[int, Any] = DataLoader(load_fn=broken)
    with pytest.raises(RuntimeError):
        await planner.load_level(failing, [1, 2])
    for key in (1, 2):
        with pytest.raises(RuntimeError):
            await failing.load(key)

    uncached: DataLoader[int, Any] = DataLoader(load_fn=batch, cache=False)
    calls.clear()
    assert await planner.load_level(uncached, [5, 6, 5]) == {5: 50, 6: 60}
    assert await planner.load_level(uncached, [5]) == {5: 50}
    assert calls == [[5, 6], [5]]

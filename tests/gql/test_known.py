"""Known queries (gql/known.py) answer exactly what the whole Strawberry pipeline answers.

Every document runs three times on the app (the first run goes through the pipeline and
makes the query known, the next two are served as known) and once on a twin app with
``graphql_known_queries=0`` on the same database; the bodies must be equal, key order
included. The count of requests served as known proves the path was taken; requests that
must fail (a cost over the limit, a bad variable, a page over the limit, no token) must
fail exactly as in the pipeline and not be counted as served.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from gql import planner
from gql.cost import QueryCost
from gql.known import KnownQueries
from gql.memo import NodeMemo
from tests.conftest import Api, comparable, twin_client
from tests.gql.test_planner import CONNECTION, CREATE, NESTED, OAS, ONE, ROW, _seed

PAGED = """
query Paged($n: Int!, $m: Int!) {
  followers(limit: $n, orderBy: [{id: ASC}]) { items { code messages(limit: $m) { items { code } } } }
}
"""


@pytest.fixture
async def twin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The same app on the same database, every query through the whole pipeline."""
    async with twin_client(api, graphql_known_queries=0) as client:
        yield client


@pytest.fixture
async def plain(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The same app on the same database, every query through graphql-core's completion
    alone: no known queries, no planner."""
    async with twin_client(api, graphql_known_queries=0, graphql_planned=False) as client:
        yield client


def _known(api: Api) -> KnownQueries:
    known = api.backend.app.state.schema.known
    assert known is not None
    return known


async def _post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None,
    token: str | None,
    operation: str | None = None,
) -> tuple[int, str | None, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation:
        payload["operationName"] = operation
    response = await client.post("/graphql", json=payload, headers=headers)
    return comparable(response)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (ROW, {"skip": True, "limit": 50}),
        (ROW, {"skip": False, "limit": 5}),
        (NESTED, {"n": 3}),
        (ONE, {"code": "F00"}),
        (ONE, {"code": "nobody"}),
        (CONNECTION, {"after": None}),
        (OAS, None),
        (PAGED, {"n": 3, "m": 2}),
        ('{ __type(name: "Follower") { name kind } }', None),
    ],
    ids=[
        "row-skip",
        "row-include",
        "nested",
        "one",
        "one-missing",
        "keyset",
        "oas",
        "paged",
        "type",
    ],
)
async def test_known_queries_answer_as_the_pipeline_does(
    api: Api, twin: httpx.AsyncClient, query: str, variables: dict[str, Any] | None
) -> None:
    await _seed(api)
    known = _known(api)
    token = api.tokens["read"]
    served = known.served
    answers = [await _post(api.client, query, variables, token) for _ in range(3)]
    assert known.served - served >= 2  # at most the first run went through the pipeline
    expected = await _post(twin, query, variables, token)
    assert expected[0] == 200 and '"errors"' not in expected[2]
    assert answers == [expected] * 3


BY_CODE = """
query($a: String!, $b: String!) {
  __typename
  first: follower(code: $a) { __typename code name sipPassword zaloOa { name } ...Reach }
  again: follower(code: $a) { code messages(limit: 2, orderBy: [{id: DESC}]) { items { code } } }
  other: follower(code: $b) { code name }
  fixed: follower(code: "F02") { code zalo }
  oa: officialAccount(code: "OA1") { code name appSecret }
}
fragment Reach on Follower { phone email }
"""


PAGES = """
query($oa: String!, $n: Int!, $name: String) {
  followers(filter: {zaloOaCode: {eq: $oa}, name: {contains: $name}}, limit: $n, offset: 1) {
    __typename totalCount offset limit
    items { code name zaloOa { name } messages(limit: 2, orderBy: [{id: DESC}]) { items { code text } } }
  }
  all: followers(orderBy: [{name: DESC}], limit: 3) { items { code ...Reach } }
  counted: followers(codes: ["F01", "F02", "nobody"]) { totalCount }
  one: follower(code: "F04") { code }
}
fragment Reach on Follower { phone email }
"""


@pytest.mark.parametrize(
    ("query", "variables", "planned"),
    [
        (BY_CODE, {"a": "F01", "b": "nobody"}, True),
        (ONE, {"code": "F05"}, True),
        (PAGES, {"oa": "OA1", "n": 3, "name": "V"}, True),
        (PAGES, {"oa": "OA2", "n": 0, "name": "V"}, True),
        ('{ follower(code: "F03") { code name } }', {}, True),
        (ROW, {"skip": False, "limit": 5}, False),  # @skip and @include inside
        (
            "query($c: String!) { follower(code: $c) @include(if: true) { code } }",
            {"c": "F01"},
            False,
        ),
        ("{ followersConnection(first: 2) { nodes { code } } }", None, False),
        ('{ ... on Query { follower(code: "F01") { code } } }', {}, False),  # a root fragment
    ],
    ids=[
        "aliases",
        "relations",
        "pages",
        "empty-page",
        "no-variables",
        "directives",
        "root-directive",
        "connection",
        "root-fragment",
    ],
)
async def test_root_reads_by_code_run_without_the_executor_and_answer_the_same(
    api: Api, plain: httpx.AsyncClient, query: str, variables: dict[str, Any], planned: bool
) -> None:
    """Root fields that read one row by code, all of them planned, are answered by their
    planned roots alone (gql.planner.run_roots); any other document by the executor."""
    await _seed(api)
    known = _known(api)
    token = api.tokens["read"]
    query += f"# {uuid.uuid4()}: a text not run before in this process\n"
    before = known.planned
    # The pipeline, then the executor (which plans the roots), then the planned roots.
    answers = [await _post(api.client, query, variables, token) for _ in range(4)]
    assert known.planned - before == (2 if planned else 0)
    expected = await _post(plain, query, variables, token)
    assert expected[0] == 200 and '"errors"' not in expected[2]
    assert answers == [expected] * 4


@pytest.mark.parametrize(
    ("query", "variables", "token_scope"),
    [
        (BY_CODE, {"a": 5, "b": "F01"}, "read"),
        (BY_CODE, {"a": "F01"}, "read"),
        (BY_CODE, {"a": "F01", "b": "F02"}, None),
        (PAGES, {"oa": "OA1", "n": 100_000, "name": "V"}, "read"),  # over max_page_size
        (PAGES, {"oa": "OA1", "n": -1, "name": "V"}, "read"),
        (PAGES, {"oa": "OA1", "n": 2, "name": None}, "read"),  # contains needs a value
        (PAGES, {"oa": "OA1", "n": 2, "name": "V"}, None),
    ],
    ids=[
        "wrong-type",
        "missing",
        "no-token",
        "page-size",
        "negative",
        "null-operand",
        "page-no-token",
    ],
)
async def test_planned_roots_that_fail_fail_as_in_the_pipeline(
    api: Api,
    plain: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    token_scope: str | None,
) -> None:
    await _seed(api)
    known = _known(api)
    read = api.tokens["read"]
    good = {"a": "F01", "b": "F02"} if query is BY_CODE else {"oa": "OA1", "n": 2, "name": "V"}
    for _ in range(3):
        await _post(api.client, query, good, read)
    planned, served = known.planned, known.served
    token = api.tokens[token_scope] if token_scope else None
    got = await _post(api.client, query, variables, token)
    assert (known.planned, known.served) == (planned, served)
    expected = await _post(plain, query, variables, token)
    assert '"errors"' in expected[2]
    assert got == expected
    await _post(api.client, query, good, read)
    assert known.planned == planned + 1


@pytest.mark.parametrize(
    ("variables", "token_scope"),
    [
        ({"n": 1000, "m": 1000}, "read"),  # cost over the limit (page sizes are variables)
        ({"n": 100_000, "m": 1}, "read"),  # a page over max_page_size: the resolver refuses
        ({"n": "x", "m": 1}, "read"),  # a variable of the wrong type
        ({"n": 3, "m": 2}, None),  # no token
    ],
    ids=["cost", "page-size", "bad-variable", "no-token"],
)
async def test_a_known_query_that_fails_fails_as_in_the_pipeline(
    api: Api, twin: httpx.AsyncClient, variables: dict[str, Any], token_scope: str | None
) -> None:
    await _seed(api)
    known = _known(api)
    read = api.tokens["read"]
    await _post(api.client, PAGED, {"n": 3, "m": 2}, read)  # learned (or already known)
    assert known.get(PAGED, None) is not None
    token = api.tokens[token_scope] if token_scope else None
    served = known.served
    got = await _post(api.client, PAGED, variables, token)
    assert known.served == served  # not answered as known
    expected = await _post(twin, PAGED, variables, token)
    assert '"errors"' in expected[2]
    assert got == expected
    # And the document stays known for the next good request.
    await _post(api.client, PAGED, {"n": 3, "m": 2}, read)
    assert known.served == served + 1


async def test_mutations_and_failed_queries_are_not_learned(api: Api) -> None:
    await _seed(api)
    known = _known(api)
    admin = api.tokens["admin"]
    item = {"code": "NEW1", "name": "Trần Thị Mai"}
    for code in ("NEW1", "NEW2"):
        await _post(api.client, CREATE, {"items": [{**item, "code": code}]}, admin)
        assert known.get(CREATE, None) is None
    wrong = "{ followers(limit: 5) { items { nope } } }"
    await _post(api.client, wrong, None, admin)
    assert known.get(wrong, None) is None
    # An operation chosen by name is known under that name only.
    both = "query A { followers(limit: 1) { totalCount } } mutation B { deleteFollowers(codes: []) { deletedCount } }"
    await _post(api.client, both, None, admin, operation="A")
    await _post(api.client, both, None, admin, operation="B")
    assert known.get(both, "A") is not None and known.get(both, "B") is None


async def test_known_queries_release_the_session_and_count_the_operation(api: Api) -> None:
    await _seed(api)
    known = _known(api)
    token = api.tokens["read"]
    labels = {"operation": "Paged", "type": "query", "outcome": "ok"}
    await _post(api.client, PAGED, {"n": 2, "m": 1}, token)
    before = REGISTRY.get_sample_value("zalo_oa_graphql_operations_total", labels) or 0
    served = known.served
    for _ in range(3):
        await _post(api.client, PAGED, {"n": 2, "m": 1}, token)
    assert known.served == served + 3
    assert REGISTRY.get_sample_value("zalo_oa_graphql_operations_total", labels) == before + 3
    pool: Any = api.backend.database.engine.pool
    assert pool.checkedout() == 0


async def test_rest_reads_are_served_as_known_queries(api: Api) -> None:
    await _seed(api)
    known = _known(api)
    headers = {"Authorization": f"Bearer {api.tokens['read']}"}
    bodies = []
    for _ in range(3):
        response = await api.client.get("/v4/zalo-oa/followers/F00", headers=headers)
        assert response.status_code == 200
        bodies.append(response.text)
    served = known.served
    response = await api.client.get("/v4/zalo-oa/followers/F00", headers=headers)
    assert known.served == served + 1
    assert bodies == [response.text] * 3


def test_known_queries_keep_the_most_recently_used() -> None:
    known = KnownQueries(2, QueryCost(100))
    for query in ("{ a }", "{ b }"):
        known.learn(query, None)
    assert known.get("{ a }", None) is not None  # a is now the most recent
    known.learn("{ c }", None)
    assert len(known) == 2
    assert known.get("{ b }", None) is None
    assert known.get("{ a }", None) is not None and known.get("{ c }", None) is not None
    known.learn("mutation { m }", None)
    assert known.get("mutation { m }", None) is None and len(known) == 2
    off = KnownQueries(0, QueryCost(100))
    off.learn("{ a }", None)
    assert len(off) == 0


async def test_row_plans_are_made_once_per_document(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row plan that holds nothing of its request (no directive, no variable in its
    selection; relation loaders are bound when rows are shaped) is shared by every
    execution of the same parsed document; one with a variable in a relation's arguments
    is made per request."""
    await _seed(api)
    made: list[str] = []
    row_plan = planner.PlannedExecution._row_plan

    def counting(self: Any, type_: Any, details: Any, info: Any, joinable: bool = False) -> Any:
        made.append(type_.name)
        return row_plan(self, type_, details, info, joinable)

    monkeypatch.setattr(planner.PlannedExecution, "_row_plan", counting)
    token = api.tokens["read"]
    flat = "query Flat($c: String!) { follower(code: $c) { code name zalo } }"
    for code in ("F00", "F03", "F06", "F09"):
        await _post(api.client, flat, {"c": code}, token)
    # Once for the pipeline's parse of the text, once for the known document: not again.
    assert made.count("Follower") == 2
    made.clear()
    answers = []
    fresh = ONE + "# not run before in this process\n"
    for code in ("F00", "F03", "F06"):  # with zaloOa and messages
        answers.append(json.loads((await _post(api.client, fresh, {"code": code}, token))[2]))
    assert made.count("Follower") == 2
    # Shared plans bind each request's own loaders: every answer is its follower's.
    assert [a["data"]["follower"]["code"] for a in answers] == ["F00", "F03", "F06"]
    made.clear()
    paged = fresh.replace("($code: String!)", "($code: String!, $n: Int!)").replace(
        "messages(limit: 3)", "messages(limit: $n)"
    )
    assert paged != fresh
    for n in (1, 2, 3):
        answer = json.loads((await _post(api.client, paged, {"code": "F04", "n": n}, token))[2])
        assert len(answer["data"]["follower"]["messages"]["items"]) == n
    assert made.count("Follower") == 3


def test_node_memo_keeps_its_nodes_and_drops_the_least_recently_used() -> None:
    memo: NodeMemo[str] = NodeMemo(2)
    a, b, c = object(), object(), object()
    memo.put(memo.key([a], "T"), [a], "plan a")
    memo.put(memo.key([b], "T"), [b], "plan b")
    assert memo.get(memo.key([a], "T")) == "plan a"  # a is now the most recent
    assert memo.get(memo.key([a], "U")) is None  # another type
    memo.put(memo.key([c], "T"), [c], "plan c")
    assert len(memo) == 2
    assert memo.get(memo.key([b], "T")) is None
    assert memo.get(memo.key([a], "T")) == "plan a"
    # The entry holds its nodes: while it lives, their ids cannot be taken by new objects.
    node = object()
    memo.put(memo.key([node], "T"), [node], "plan d")
    held = id(node)
    del node
    assert memo.get((("T"), held)) == "plan d"

"""Offset pages, keyset connections, ordering and aggregates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Api
from tests.factories import insert, oa

ROWS = 10_000


@pytest.fixture
async def many(api: Api) -> Api:
    await oa(api.backend.database, "OA1", name="Alpha")
    await oa(api.backend.database, "OA2", name="Beta")
    rng = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "code": f"F{i:05d}",
            "zalo_oa": "OA1" if i % 3 else "OA2",
            # Few distinct values and many nulls, so ties and null placement matter.
            "name": rng.choice(["An", "Bình", "Chi", None]),
            "reward_points": rng.choice([None, Decimal("1.5"), Decimal("10"), Decimal("2")]),
            "followed_at": rng.choice([None, base, base + timedelta(days=1)]),
        }
        for i in range(ROWS)
    ]
    await insert(api.backend.database, "followers", rows)
    return api


ORDERS: list[list[dict[str, Any]]] = [
    [],
    [{"name": "ASC"}],
    [{"name": "DESC"}],
    [{"rewardPoints": "DESC_NULLS_LAST"}, {"name": "ASC_NULLS_FIRST"}],
    [{"followedAt": "ASC_NULLS_FIRST"}, {"code": "DESC"}],
    [{"zaloOa": {"name": "DESC"}}, {"name": "ASC"}],
    [{"id": "DESC"}],
]

WALK = """
query($order: [FollowerOrderBy!], $after: String) {
  followersConnection(orderBy: $order, first: 1000, after: $after) {
    nodes { code }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.mark.parametrize("order", ORDERS, ids=[str(o) for o in ORDERS])
async def test_keyset_visits_every_row_once(many: Api, order: list[dict[str, Any]]) -> None:
    seen: list[str] = []
    after = None
    for _ in range(ROWS // 1000 + 2):
        page = (await many.data(WALK, {"order": order, "after": after}))["followersConnection"]
        seen += [n["code"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == ROWS and len(set(seen)) == ROWS
    # The same order through offset pages gives the same sequence.
    offset_page = await many.data(
        "query($order: [FollowerOrderBy!]) { followers(orderBy: $order, offset: 4990, "
        "limit: 20) { items { code } } }",
        {"order": order},
    )
    assert [i["code"] for i in offset_page["followers"]["items"]] == seen[4990:5010]


async def test_backward_paging_mirrors_forward(many: Api) -> None:
    query = """
    query($before: String, $after: String, $first: Int, $last: Int) {
      followersConnection(orderBy: [{name: ASC}], first: $first, last: $last,
                          before: $before, after: $after) {
        nodes { code } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }"""
    first = (await many.data(query, {"first": 30}))["followersConnection"]
    second = (await many.data(query, {"first": 30, "after": first["pageInfo"]["endCursor"]}))[
        "followersConnection"
    ]
    back = (await many.data(query, {"last": 30, "before": second["pageInfo"]["startCursor"]}))[
        "followersConnection"
    ]
    assert back["nodes"] == first["nodes"]
    assert back["pageInfo"]["hasPreviousPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True


async def test_cursor_of_another_order_is_refused(many: Api) -> None:
    page = await many.data(
        "{ followersConnection(first: 2, orderBy: [{name: ASC}]) { pageInfo { endCursor } } }"
    )
    cursor = page["followersConnection"]["pageInfo"]["endCursor"]
    errors = await many.errors(
        "query($c: String) { followersConnection(first: 2, after: $c) { nodes { code } } }",
        {"c": cursor},
    )
    assert errors[0]["extensions"]["field"] == "after"


async def test_page_and_counts(many: Api) -> None:
    result = await many.data(
        '{ followers(filter: {zaloOaCode: {eq: "OA2"}}, offset: 10, limit: 5) '
        "{ totalCount offset limit items { code } } "
        'followersAggregate(filter: {zaloOaCode: {eq: "OA2"}}) { count '
        "min { rewardPoints followedAt code } max { rewardPoints name } } "
        'conn: followersConnection(filter: {zaloOaCode: {eq: "OA2"}}) { totalCount } }'
    )
    expected = len(range(0, ROWS, 3))
    page = result["followers"]
    assert page["totalCount"] == expected and page["offset"] == 10 and page["limit"] == 5
    assert [i["code"] for i in page["items"]] == [f"F{i:05d}" for i in range(30, 45, 3)]
    agg = result["followersAggregate"]
    assert agg["count"] == expected and result["conn"]["totalCount"] == expected
    assert agg["min"] == {
        "rewardPoints": 1.5,
        "followedAt": "2026-01-01T00:00:00Z",
        "code": "F00000",
    }
    assert agg["max"] == {"rewardPoints": 10, "name": "Chi"}


async def test_codes_argument(many: Api) -> None:
    result = await many.data(
        '{ followers(codes: ["F00002", "F00009", "nope"]) { totalCount items { code } } }'
    )
    assert result["followers"] == {
        "totalCount": 2,
        "items": [{"code": "F00002"}, {"code": "F00009"}],
    }

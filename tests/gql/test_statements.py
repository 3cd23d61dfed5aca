"""One SQL statement per relation level, whatever the page size."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.factories import insert, oa

NESTED = """
query($limit: Int!) {
  followers(limit: $limit, orderBy: [{id: ASC}]) {
    items {
      code name
      zaloOa { name }
      messages(limit: 5, orderBy: [{id: DESC}]) { totalCount items { code text } }
    }
  }
}
"""


@pytest.mark.parametrize("followers", [5, 50])
async def test_nested_page_costs_one_statement_per_level(api: Api, followers: int) -> None:
    db = api.backend.database
    for code in ("OA1", "OA2", "OA3"):
        await oa(db, code)
    await insert(
        db,
        "followers",
        [
            {"code": f"F{i:03d}", "zalo_oa": f"OA{i % 3 + 1}", "name": f"n{i}"}
            for i in range(followers)
        ],
    )
    await insert(
        db,
        "messages",
        [
            {
                "code": f"M{f:03d}-{m}",
                "zalo_oa": f"OA{f % 3 + 1}",
                "follower": f"F{f:03d}",
                "text": f"m{m}",
                "direction": "in",
            }
            for f in range(followers)
            for m in range(8)
        ],
    )
    with api.statements.counting() as seen:
        result = await api.data(NESTED, {"limit": 50})
    items = result["followers"]["items"]
    assert len(items) == followers
    assert items[0]["messages"]["totalCount"] == 8
    assert [m["text"] for m in items[0]["messages"]["items"]] == ["m7", "m6", "m5", "m4", "m3"]
    assert items[1]["zaloOa"]["name"] == "Shop OA2"
    assert len(seen) == 3, seen


async def test_page_reads_only_selected_columns(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    with api.statements.counting() as seen:
        await api.data("{ followers { items { name } } }")
    assert len(seen) == 1
    selected = seen[0].split("FROM")[0]
    assert "name" in selected and "sip_password" not in selected and "address" not in selected


async def test_total_count_only_when_selected(api: Api) -> None:
    with api.statements.counting() as seen:
        await api.data("{ followers { items { code } } }")
    assert not any("count(" in s.lower() for s in seen)
    with api.statements.counting() as seen:
        await api.data("{ followers { totalCount } }")
    assert len(seen) == 1 and "count(" in seen[0].lower()

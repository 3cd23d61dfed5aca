"""One SQL statement per relation level, whatever the page size; a root's to-one relations
read in the statement of its rows."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers import _crud
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
    """The page and its OAs in one statement (a join), the messages in one more; the
    messages' own to-one relation, under a relation page, one statement of its own."""
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
    assert len(seen) == 2, seen
    assert "JOIN official_accounts" in seen[0] and "official_accounts" not in seen[1], seen
    deeper = NESTED.replace("items { code text }", "items { code text zaloOa { name } }")
    with api.statements.counting() as seen:
        result = await api.data(deeper, {"limit": 50})
    first = result["followers"]["items"][0]
    assert first["messages"]["items"][0]["zaloOa"] == {"name": "Shop OA1"}
    assert len(seen) == 3, seen
    assert "JOIN" not in seen[2] and "official_accounts" in seen[2], seen


async def test_a_root_pages_relations_are_read_in_its_statement(api: Api) -> None:
    """On PostgreSQL a root page's to-one relations and one to-many relation (no total,
    items of columns only) are read with its rows: one statement for W2's shape. SQLite
    has no LATERAL: the to-many relation is a statement of its own there."""
    db = api.backend.database
    await oa(db, "OA1")
    await insert(db, "followers", [{"code": f"F{i}", "zalo_oa": "OA1"} for i in range(3)])
    await insert(
        db,
        "messages",
        [
            {"code": f"M{i}-{m}", "follower": f"F{i}", "text": f"m{m}", "direction": "in"}
            for i in range(2)
            for m in range(7)
        ],
    )
    w2 = NESTED.replace("totalCount items", "items").replace("$limit: Int!", "$limit: Int")
    with api.statements.counting() as seen:
        result = await api.data(w2, {"limit": 20})
    items = result["followers"]["items"]
    assert [len(i["messages"]["items"]) for i in items] == [5, 5, 0]
    assert [m["text"] for m in items[1]["messages"]["items"]] == ["m6", "m5", "m4", "m3", "m2"]
    assert items[2]["zaloOa"] == {"name": "Shop OA1"}
    want = 1 if api.backend.name == "postgres" else 2
    assert len(seen) == want, seen
    assert "JOIN official_accounts" in seen[0], seen
    assert ("LATERAL" in seen[0]) is (want == 1), seen


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


async def test_bulk_create_is_one_insert_per_column_set(api: Api) -> None:
    """A batch goes in as one INSERT per set of given columns (on PostgreSQL one statement
    whatever the size: a column per array), every kind of value intact."""
    await oa(api.backend.database, "OA1")
    full = [
        {
            "code": f"B{i:03d}",
            "name": f"Người {i}",
            "zaloOaCode": "OA1",
            "rewardPoints": f"{i}.25",
            "followedAt": f"2026-11-{1 + i % 28:02d}T08:00:00Z",
            "sipPassword": f"sip-secret-{i}",
            "gender": None,
        }
        for i in range(300)
    ]
    sparse = [{"code": f"S{i:03d}", "zaloOaCode": "OA1"} for i in range(3)]
    mutation = """mutation($items: [FollowerCreate!]!) {
      createFollowers(input: $items) { affectedCount } }"""
    with api.statements.counting() as seen:
        made = await api.data(mutation, {"items": full + sparse})
    assert made["createFollowers"]["affectedCount"] == 303
    inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 2, inserts  # one per column set
    assert not any(s.lstrip().upper().startswith("SELECT FOLLOWERS.ID") for s in seen[-1:])
    page = await api.data(
        """{ followers(codes: ["B007", "B299", "S002"], orderBy: [{code: ASC}]) {
          items { code name rewardPoints followedAt sipPassword gender keyword } } }"""
    )
    b7, b299, s2 = page["followers"]["items"]
    assert (b7["name"], b7["rewardPoints"], b7["followedAt"]) == (
        "Người 7",
        7.25,
        "2026-11-08T08:00:00Z",
    )
    assert b7["sipPassword"] == "****et-7" and b7["gender"] is None
    assert b7["keyword"] == "nguoi 7" and b299["rewardPoints"] == 299.25
    assert s2["name"] is None and s2["sipPassword"] is None


async def test_keyset_on_the_primary_key_is_a_plain_range(api: Api) -> None:
    """``id`` is NOT NULL: the seek is ``id > $1`` (an index range), with no ``OR id IS NULL``
    branch and no NULLS clause that would make the database scan from the first row."""
    db = api.backend.database
    await oa(db, "OA1")
    await insert(db, "followers", [{"code": f"F{i}", "zalo_oa": "OA1"} for i in range(5)])
    query = """query($after: String) { followersConnection(first: 2, after: $after) {
      pageInfo { endCursor } nodes { code } } }"""
    first = await api.data(query, {"after": None})
    with api.statements.counting() as seen:
        second = await api.data(
            query, {"after": first["followersConnection"]["pageInfo"]["endCursor"]}
        )
    assert [n["code"] for n in second["followersConnection"]["nodes"]] == ["F2", "F3"]
    (sql,) = [s for s in seen if "FROM followers" in s]
    assert "followers.id >" in sql and "IS NULL" not in sql and "NULLS" not in sql, sql


async def test_relation_statements_are_reused_per_arguments_not_across_them(api: Api) -> None:
    """Relation-page statements are cached by shape: the same arguments share one, and a
    different filter value must never be answered by another value's statement."""
    db = api.backend.database
    await oa(db, "OA1")
    await insert(db, "followers", [{"code": "F1", "zalo_oa": "OA1"}])
    await insert(
        db,
        "messages",
        [
            {"code": f"M{t}", "zalo_oa": "OA1", "follower": "F1", "text": t, "direction": "in"}
            for t in ("apple", "banana", "cherry")
        ],
    )
    query = """query($t: String!) { followers { items {
      messages(filter: {text: {contains: $t}}) { totalCount items { text } } } } }"""
    for needle, expected in [("an", ["banana"]), ("e", ["apple", "cherry"]), ("an", ["banana"])]:
        data = await api.data(query, {"t": needle})
        page = data["followers"]["items"][0]["messages"]
        assert [m["text"] for m in page["items"]] == expected, needle
        assert page["totalCount"] == len(expected)


async def test_page_and_count_statements_are_built_once_per_filter_shape(api: Api) -> None:
    """A list read's statement is cached by the shape of its filter, order and columns, the
    values being parameters: other values reuse it and still get their own rows; another
    shape (an operator, a null, one more condition) gets its own statement."""
    db = api.backend.database
    await oa(db, "OA1")
    names = ["Lan", "Hân", "Binh", "Mai", None]
    await insert(
        db,
        "followers",
        [{"code": f"F{i}", "zalo_oa": "OA1", "name": n} for i, n in enumerate(names)],
    )
    query = """query($f: FollowerFilter, $n: Int!) {
      followers(filter: $f, limit: $n, orderBy: [{name: ASC}]) { items { code } }
      followersAggregate(filter: $f) { count } }"""
    _crud._page.cache_clear()
    _crud._aggregate.cache_clear()
    cases: list[tuple[dict[str, Any], int, list[str]]] = [
        ({"name": {"contains": "an"}}, 5, ["F0"]),  # contains compares lower case, not folded
        ({"name": {"contains": "i"}}, 5, ["F2", "F3"]),
        ({"name": {"contains": "i"}}, 1, ["F2"]),
        ({"name": {"eq": "Mai"}}, 5, ["F3"]),
        ({"name": {"isNull": True}}, 5, ["F4"]),
        ({"name": {"contains": "a"}, "code": {"in": ["F0", "F3"]}}, 5, ["F0", "F3"]),
        ({"name": {"contains": "a"}, "code": {"in": ["F0"]}}, 5, ["F0"]),
    ]
    for where, limit, codes in cases:
        data = await api.data(query, {"f": where, "n": limit})
        assert [i["code"] for i in data["followers"]["items"]] == codes, where
        expected = len(codes) if limit == 5 else 2
        assert data["followersAggregate"]["count"] == expected, where
    # Shapes: contains; eq; is null; contains + in. Limits and values are parameters.
    assert _crud._page.cache_info().currsize == 4
    assert _crud._aggregate.cache_info().currsize == 4

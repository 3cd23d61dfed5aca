"""Every operator on every field type, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Api
from tests.factories import insert, oa

FOLLOWERS: list[dict[str, Any]] = [
    {
        "code": "F1",
        "name": "Nguyễn Văn An",
        "branch_id": 9,
        "reward_points": Decimal("9"),
        "followed_at": datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        "email": "an@shop.vn",
    },
    {
        "code": "F2",
        "name": "ĐẶNG THỊ ẤN",
        "branch_id": 10,
        "reward_points": Decimal("10.5"),
        "followed_at": datetime(2026, 2, 1, 0, 0, tzinfo=UTC),
    },
    {
        "code": "F3",
        "name": "100% _real_",
        "branch_id": 100,
        "reward_points": Decimal("100"),
        "followed_at": datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    },
    {
        "code": "F4",
        "name": "1000 xreal",
        "branch_id": None,
        "reward_points": None,
        "followed_at": None,
    },
    {
        "code": "F5",
        "name": None,
        "branch_id": 2,
        "reward_points": Decimal("2"),
        "followed_at": datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
    },
]


@pytest.fixture
async def people(api: Api) -> Api:
    await oa(api.backend.database, "OA1", is_default=True)
    await oa(api.backend.database, "OA2", is_default=False, name="Other")
    rows = [{**f, "zalo_oa": "OA1"} for f in FOLLOWERS]
    rows[4]["zalo_oa"] = "OA2"
    await insert(api.backend.database, "followers", rows)
    return api


async def codes(api: Api, filter_: dict[str, Any] | None, **args: Any) -> list[str]:
    result = await api.data(
        "query($f: FollowerFilter, $s: String) { followers(filter: $f, search: $s, "
        "orderBy: [{code: ASC}]) { items { code } } }",
        {"f": filter_, "s": args.get("search")},
    )
    return [i["code"] for i in result["followers"]["items"]]


CASES = [
    # strings: exact, ordered, sets, null, and case-insensitive patterns with literal % and _
    ({"name": {"eq": "Nguyễn Văn An"}}, ["F1"]),
    ({"name": {"ne": "Nguyễn Văn An"}}, ["F2", "F3", "F4"]),
    ({"name": {"lt": "2"}}, ["F3", "F4"]),
    ({"name": {"ge": "N"}}, ["F1", "F2"]),
    ({"name": {"in": ["1000 xreal", "nope"]}}, ["F4"]),
    ({"name": {"notIn": ["1000 xreal"]}}, ["F1", "F2", "F3"]),
    ({"name": {"isNull": True}}, ["F5"]),
    ({"name": {"isNull": False}}, ["F1", "F2", "F3", "F4"]),
    ({"name": {"contains": "VĂN"}}, ["F1"]),
    ({"name": {"contains": "đặng thị ấn"}}, ["F2"]),
    ({"name": {"contains": "ấn"}}, ["F2"]),
    ({"name": {"contains": "%"}}, ["F3"]),
    ({"name": {"contains": "_real_"}}, ["F3"]),
    ({"name": {"contains": "0_"}}, []),
    ({"name": {"startsWith": "nguyễn"}}, ["F1"]),
    ({"name": {"startsWith": "100%"}}, ["F3"]),
    ({"name": {"endsWith": "AN"}}, ["F1"]),
    ({"name": {"endsWith": "_"}}, ["F3"]),
    # integers compare numerically
    ({"branchId": {"eq": 9}}, ["F1"]),
    ({"branchId": {"ne": 9}}, ["F2", "F3", "F5"]),
    ({"branchId": {"lt": 10}}, ["F1", "F5"]),
    ({"branchId": {"le": 10}}, ["F1", "F2", "F5"]),
    ({"branchId": {"gt": 9}}, ["F2", "F3"]),
    ({"branchId": {"ge": 100}}, ["F3"]),
    ({"branchId": {"in": [2, 100]}}, ["F3", "F5"]),
    ({"branchId": {"notIn": [2, 100]}}, ["F1", "F2"]),
    ({"branchId": {"isNull": True}}, ["F4"]),
    # decimals compare numerically (9 < 10 < 10.5 < 100)
    ({"rewardPoints": {"lt": 10}}, ["F1", "F5"]),
    ({"rewardPoints": {"gt": "10"}}, ["F2", "F3"]),
    ({"rewardPoints": {"eq": 10.5}}, ["F2"]),
    ({"rewardPoints": {"le": 9}}, ["F1", "F5"]),
    ({"rewardPoints": {"ge": 10.5}}, ["F2", "F3"]),
    ({"rewardPoints": {"ne": 2}}, ["F1", "F2", "F3"]),
    ({"rewardPoints": {"in": [2, 100]}}, ["F3", "F5"]),
    ({"rewardPoints": {"notIn": [2]}}, ["F1", "F2", "F3"]),
    ({"rewardPoints": {"isNull": True}}, ["F4"]),
    # datetimes compare chronologically, whatever the offset or form of the operand
    ({"followedAt": {"eq": "2026-01-05T08:00:00Z"}}, ["F1"]),
    ({"followedAt": {"eq": "2026-01-05T15:00:00+07:00"}}, ["F1"]),
    ({"followedAt": {"eq": "2026-01-05 15:00:00"}}, ["F1"]),
    ({"followedAt": {"lt": "2026-01-01T00:00:00Z"}}, ["F5"]),
    ({"followedAt": {"le": "2026-02-01T00:00:00Z"}}, ["F1", "F2", "F5"]),
    ({"followedAt": {"gt": "2026-02-01T00:00:00Z"}}, ["F3"]),
    ({"followedAt": {"ge": "2026-02-01T07:00:00+07:00"}}, ["F2", "F3"]),
    ({"followedAt": {"ne": "2026-02-01T00:00:00Z"}}, ["F1", "F3", "F5"]),
    ({"followedAt": {"in": ["2026-03-01T12:30:00Z"]}}, ["F3"]),
    ({"followedAt": {"notIn": ["2026-03-01T12:30:00Z"]}}, ["F1", "F2", "F5"]),
    ({"followedAt": {"isNull": True}}, ["F4"]),
    # logic
    ({"or": [{"branchId": {"eq": 9}}, {"branchId": {"eq": 100}}]}, ["F1", "F3"]),
    ({"and": [{"branchId": {"gt": 2}}, {"rewardPoints": {"lt": 50}}]}, ["F1", "F2"]),
    ({"not": {"branchId": {"lt": 10}}}, ["F2", "F3"]),
    ({"branchId": {"gt": 2}, "name": {"contains": "an"}}, ["F1"]),
    # to-one relation filter
    ({"zaloOa": {"name": {"eq": "Other"}}}, ["F5"]),
    ({"zaloOaCode": {"eq": "OA1"}, "email": {"endsWith": "@SHOP.VN"}}, ["F1"]),
]


@pytest.mark.parametrize(("filter_", "expected"), CASES, ids=[str(c[0]) for c in CASES])
async def test_operator(people: Api, filter_: dict[str, Any], expected: list[str]) -> None:
    assert await codes(people, filter_) == expected


async def test_boolean_operators(api: Api) -> None:
    await oa(api.backend.database, "A", is_default=True)
    await oa(api.backend.database, "B", is_default=False)
    await oa(api.backend.database, "C", is_default=None)
    query = (
        "query($f: OfficialAccountFilter) { officialAccounts(filter: $f, "
        "orderBy: [{code: ASC}]) { items { code } } }"
    )
    for filter_, expected in [
        ({"isDefault": {"eq": True}}, ["A"]),
        ({"isDefault": {"eq": False}}, ["B"]),
        ({"isDefault": {"ne": True}}, ["B"]),
        ({"isDefault": {"isNull": True}}, ["C"]),
    ]:
        result = await api.data(query, {"f": filter_})
        assert [i["code"] for i in result["officialAccounts"]["items"]] == expected, filter_


async def test_to_many_relation_filters(people: Api) -> None:
    query = (
        "query($f: OfficialAccountFilter) { officialAccounts(filter: $f, "
        "orderBy: [{code: ASC}]) { items { code } } }"
    )

    async def accounts(filter_: dict[str, Any]) -> list[str]:
        result = await people.data(query, {"f": filter_})
        return [i["code"] for i in result["officialAccounts"]["items"]]

    assert await accounts({"followers": {"some": {"branchId": {"eq": 2}}}}) == ["OA2"]
    assert await accounts({"followers": {"every": {"branchId": {"lt": 5}}}}) == ["OA2"]
    assert await accounts({"followers": {"none": {"name": {"contains": "an"}}}}) == ["OA2"]
    assert await accounts({"followers": {"some": {"zaloOa": {"code": {"eq": "OA1"}}}}}) == ["OA1"]


async def test_search_folds_case_and_diacritics(people: Api) -> None:
    await people.data(
        'mutation { updateFollowers(input: [{code: "F2", phone: "0901234567"}]) { affectedCount } }'
    )
    assert await codes(people, None, search="nguyen van an") == ["F1"]
    assert await codes(people, None, search="NGUYỄN an") == ["F1"]
    assert await codes(people, None, search="dang an") == ["F2"]
    assert await codes(people, None, search="0901234") == ["F2"]
    assert await codes(people, {"branchId": {"eq": 9}}, search="dang") == []


BAD = [
    ("{ followers(filter: {bogus: {eq: 1}}) { totalCount } }", "bogus"),
    ("{ followers(filter: {name: {eq: null}}) { totalCount } }", "name"),
    ("{ followers(filter: {name: null}) { totalCount } }", "name"),
    ("{ followers(filter: {name: {}}) { totalCount } }", "name"),
    ("{ followers(filter: {}) { totalCount } }", "filter"),
    ("{ followers(filter: {or: []}) { totalCount } }", "or"),
    ('{ followers(filter: {branchId: {eq: "nine"}}) { totalCount } }', "branchId"),
    ('{ followers(filter: {rewardPoints: {lt: "many"}}) { totalCount } }', "rewardPoints"),
    ('{ followers(filter: {followedAt: {lt: "yesterday"}}) { totalCount } }', "followedAt"),
    ("{ followers(orderBy: [{name: UPWARDS}]) { totalCount } }", "UPWARDS"),
    ("{ followers(orderBy: [{name: ASC, code: DESC}]) { totalCount } }", "FollowerOrderBy"),
    ('{ followers(filter: {isDeleted: {contains: "1"}}) { totalCount } }', "contains"),
    ("{ followers(limit: 5000) { totalCount } }", "limit"),
    ("{ followers(offset: -1) { totalCount } }", "offset"),
    ('{ followersConnection(after: "garbage") { totalCount } }', "after"),
]


@pytest.mark.parametrize(("query", "named"), BAD, ids=[b[1] for b in BAD])
async def test_bad_input_is_named(api: Api, query: str, named: str) -> None:
    errors = await api.errors(query)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert named in errors[0]["message"], errors[0]["message"]


async def test_filter_caps(api: Api) -> None:
    deep: dict[str, Any] = {"code": {"eq": "x"}}
    for _ in range(9):
        deep = {"not": deep}
    errors = await api.errors(
        "query($f: FollowerFilter) { followers(filter: $f) { totalCount } }", {"f": deep}
    )
    assert "deeper" in errors[0]["message"]
    wide = {"or": [{"code": {"eq": str(i)}} for i in range(60)]}
    errors = await api.errors(
        "query($f: FollowerFilter) { followers(filter: $f) { totalCount } }", {"f": wide}
    )
    assert "more than 50" in errors[0]["message"]
    many = {"code": {"in": [str(i) for i in range(501)]}}
    errors = await api.errors(
        "query($f: FollowerFilter) { followers(filter: $f) { totalCount } }", {"f": many}
    )
    assert "500" in errors[0]["message"]

"""The v4 query string: every operator on every field type, ids, order, fields, paging."""

from __future__ import annotations

import pytest

from resolvers.resources import FOLLOWERS
from tests.conftest import Api
from tests.factories import oa
from tests.legacy_rest.conftest import Rest

CASES: list[tuple[list[tuple[str, str]], list[str]]] = [
    # text: exact, ordered, and case-insensitive patterns (Vietnamese; % and _ literal)
    ([("eq_Name", "Nguyễn Văn An")], ["F1"]),
    ([("ne_Name", "Nguyễn Văn An")], ["F2", "F3", "F4"]),
    ([("lt_Name", "2")], ["F3", "F4"]),
    ([("le_Name", "100% _real_")], ["F3"]),
    ([("gt_Name", "Nguyễn")], ["F1", "F2"]),
    ([("ge_Name", "N")], ["F1", "F2"]),
    ([("filter_Name", "VĂN")], ["F1"]),
    ([("filter_Name", "đặng thị ấn")], ["F2"]),
    ([("filter_Name", "%")], ["F3"]),
    ([("filter_Name", "_real_")], ["F3"]),
    ([("filter_Name", "0_")], []),
    ([("left_Name", "nguyễn")], ["F1"]),
    ([("left_Name", "100%")], ["F3"]),
    ([("left_Name", "1__0")], []),
    ([("right_Name", "ấn")], ["F2"]),
    ([("right_Name", "_")], ["F3"]),
    ([("right_Email", "@SHOP.VN")], ["F1"]),
    # integers compare numerically
    ([("eq_BranchId", "9")], ["F1"]),
    ([("ne_BranchId", "9")], ["F2", "F3", "F5"]),
    ([("lt_BranchId", "10")], ["F1", "F5"]),
    ([("le_BranchId", "10")], ["F1", "F2", "F5"]),
    ([("gt_BranchId", "9")], ["F2", "F3"]),
    ([("ge_BranchId", "100")], ["F3"]),
    # decimals compare numerically: 9 < 10 < 10.5 < 100
    ([("lt_RewardPoints", "10")], ["F1", "F5"]),
    ([("le_RewardPoints", "9")], ["F1", "F5"]),
    ([("gt_RewardPoints", "10")], ["F2", "F3"]),
    ([("ge_RewardPoints", "10.5")], ["F2", "F3"]),
    ([("eq_RewardPoints", "10.50")], ["F2"]),
    ([("ne_RewardPoints", "2")], ["F1", "F2", "F3"]),
    # date-times compare chronologically, ISO with any offset or 'YYYY-MM-DD HH:MM:SS' local
    ([("eq_FollowedAt", "2026-01-05T08:00:00Z")], ["F1"]),
    ([("eq_FollowedAt", "2026-01-05T15:00:00+07:00")], ["F1"]),
    ([("eq_FollowedAt", "2026-01-05 15:00:00")], ["F1"]),
    ([("lt_FollowedAt", "2026-01-01 07:00:00")], ["F5"]),
    ([("le_FollowedAt", "2026-02-01T00:00:00Z")], ["F1", "F2", "F5"]),
    ([("gt_FollowedAt", "2026-02-01 07:00:00")], ["F3"]),
    ([("ge_FollowedAt", "2026-02-01T07:00:00+07:00")], ["F2", "F3"]),
    ([("ne_FollowedAt", "2026-02-01T00:00:00Z")], ["F1", "F3", "F5"]),
    # any year the GraphQL DateTime reads, those before 1000 included
    ([("gt_FollowedAt", "0005-01-02T03:04:05Z")], ["F1", "F2", "F3", "F5"]),
    ([("lt_FollowedAt", "0999-12-31 23:00:00")], []),
    # references hold a code
    ([("eq_ZaloOa", "OA2")], ["F5"]),
    ([("ne_ZaloOa", "OA2")], ["F1", "F2", "F3", "F4"]),
    # repeated eq_ is any of the values, repeated ne_ none of them
    ([("eq_BranchId", "2"), ("eq_BranchId", "100")], ["F3", "F5"]),
    ([("ne_BranchId", "2"), ("ne_BranchId", "100")], ["F1", "F2"]),
    ([("eq_Name", "1000 xreal"), ("eq_Name", "nope")], ["F4"]),
    ([("eq_RewardPoints", "2"), ("eq_RewardPoints", "10.5")], ["F2", "F5"]),
    (
        [("eq_FollowedAt", "2026-03-01T12:30:00Z"), ("eq_FollowedAt", "2026-01-05 15:00:00")],
        ["F1", "F3"],
    ),
    ([("ne_ZaloOa", "OA2"), ("ne_ZaloOa", "OA1")], []),
    # different parameters (and operators on one field) combine with AND
    ([("gt_BranchId", "2"), ("filter_Name", "an")], ["F1"]),
    ([("ge_BranchId", "9"), ("le_BranchId", "10")], ["F1", "F2"]),
    ([("eq_ZaloOa", "OA1"), ("lt_RewardPoints", "50"), ("left_Name", "Đ")], ["F2"]),
    # id0…idN: any count, contiguous or not, and still AND-ed with filters
    ([("id0", "F3"), ("id1", "F1")], ["F1", "F3"]),
    ([("id0", "F1"), ("id7", "F4"), ("id3", "nope")], ["F1", "F4"]),
    ([("id0", "F1"), ("id1", "F2"), ("gt_BranchId", "9")], ["F2"]),
]


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[str(c[0]) for c in CASES])
async def test_operator(people: Rest, params: list[tuple[str, str]], expected: list[str]) -> None:
    assert await people.codes("/followers", [*params, ("order_by", "Code")]) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", ["A"]), ("true", ["A"]), ("TRUE", ["A"]), ("0", ["B"]), ("false", ["B"])],
)
async def test_boolean_operands(api: Api, rest: Rest, value: str, expected: list[str]) -> None:
    await oa(api.backend.database, "A", is_default=True)
    await oa(api.backend.database, "B", is_default=False)
    await oa(api.backend.database, "C", is_default=None)
    path = "/official-accounts"
    assert await rest.codes(path, {"eq_IsDefault": value, "order_by": "Code"}) == expected
    negated = {"A": ["B"], "B": ["A"]}[expected[0]]
    assert await rest.codes(path, {"ne_IsDefault": value, "order_by": "Code"}) == negated


async def test_repeated_boolean_is_any_value_but_null(api: Api, rest: Rest) -> None:
    for code, default in (("A", True), ("B", False), ("C", None)):
        await oa(api.backend.database, code, is_default=default)
    params = [("eq_IsDefault", "1"), ("eq_IsDefault", "0"), ("order_by", "Code")]
    assert await rest.codes("/official-accounts", params) == ["A", "B"]


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("Code", ["F1", "F2", "F3", "F4", "F5"]),
        ("-Code", ["F5", "F4", "F3", "F2", "F1"]),
        ("RewardPoints", ["F5", "F1", "F2", "F3", "F4"]),  # numeric; nulls last
        ("-RewardPoints", ["F4", "F3", "F2", "F1", "F5"]),  # descending puts nulls first
        ("-FollowedAt", ["F4", "F3", "F2", "F1", "F5"]),
        ("ZaloOa,-BranchId", ["F4", "F3", "F2", "F1", "F5"]),
        (" Name , -Code", ["F3", "F4", "F1", "F2", "F5"]),
    ],
)
async def test_order_by(people: Rest, order: str, expected: list[str]) -> None:
    assert await people.codes("/followers", {"order_by": order}) == expected


async def test_default_order_is_id(people: Rest) -> None:
    assert await people.codes("/followers") == ["F1", "F2", "F3", "F4", "F5"]


async def test_page_envelope(people: Rest) -> None:
    reply = await people.get("/followers", {"offset": 1, "limit": 2, "order_by": "Code"})
    assert reply.status == 200
    assert [i["Code"] for i in reply.data] == ["F2", "F3"]
    assert (reply.body["total"], reply.body["offset"], reply.body["limit"]) == (5, 1, 2)
    default = await people.get("/followers")
    assert (default.body["offset"], default.body["limit"]) == (0, 50)
    empty = await people.get("/followers", {"limit": 0})
    assert empty.data == [] and empty.body["total"] == 5


async def test_items_carry_every_field_unless_narrowed(people: Rest) -> None:
    full = await people.get("/followers", {"id0": "F4"})
    assert list(full.data[0]) == [f.rest for f in FOLLOWERS.fields]
    assert full.data[0]["BranchId"] is None and full.data[0]["SipPassword"] is None
    sparse = await people.get("/followers", {"fields": "Name,Code", "order_by": "Code"})
    assert sparse.data[0] == {"Code": "F1", "Name": "Nguyễn Văn An"}
    one = await people.get("/followers/F1", {"fields": "ZaloOa,RewardPoints,FollowedAt"})
    assert one.data == {"ZaloOa": "OA1", "RewardPoints": 9, "FollowedAt": "2026-01-05T08:00:00Z"}
    fraction = await people.get("/followers/F2", {"fields": "RewardPoints"})
    assert fraction.data == {"RewardPoints": 10.5}


async def test_one_item_and_not_found(people: Rest) -> None:
    found = await people.get("/followers/F2")
    assert found.status == 200 and found.data["Name"] == "ĐẶNG THỊ ẤN"
    missing = await people.get("/followers/nope")
    assert missing.status == 404 and missing.error["code"] == "NOT_FOUND"


async def test_vietnamese_is_sent_unescaped(people: Rest) -> None:
    response = await people.api.client.get(
        "/v4/zalo-oa/followers/F1", headers={"Authorization": f"Bearer {people.api.tokens['read']}"}
    )
    assert "Nguyễn Văn An".encode() in response.content


BAD: list[tuple[str, list[tuple[str, str]], str]] = [
    ("/followers", [("bogus", "1")], "bogus"),
    ("/followers", [("Eq_Name", "x")], "Eq_Name"),
    ("/followers", [("eq_", "x")], "eq_"),
    ("/followers", [("eq_Bogus", "1")], "eq_Bogus"),
    ("/followers", [("eq_name", "x")], "eq_name"),
    ("/followers", [("eq_BranchId", "nine")], "eq_BranchId"),
    ("/followers", [("eq_BranchId", "1.5")], "eq_BranchId"),
    ("/followers", [("eq_BranchId", "99999999999")], "eq_BranchId"),
    ("/followers", [("lt_RewardPoints", "many")], "lt_RewardPoints"),
    ("/followers", [("gt_FollowedAt", "yesterday")], "gt_FollowedAt"),
    ("/followers", [("gt_FollowedAt", "2026-13-01")], "gt_FollowedAt"),
    ("/official-accounts", [("eq_IsDefault", "2")], "eq_IsDefault"),
    ("/official-accounts", [("eq_IsDefault", "yes")], "eq_IsDefault"),
    ("/official-accounts", [("lt_IsDefault", "1")], "lt_IsDefault"),
    ("/official-accounts", [("ne_IsDefault", "1"), ("ne_IsDefault", "0")], "ne_IsDefault"),
    ("/followers", [("filter_BranchId", "1")], "filter_BranchId"),
    ("/followers", [("left_FollowedAt", "2026")], "left_FollowedAt"),
    ("/followers", [("lt_BranchId", "1"), ("lt_BranchId", "2")], "lt_BranchId"),
    ("/followers", [("filter_Name", "a"), ("filter_Name", "b")], "filter_Name"),
    ("/followers", [("filter_SipPassword", "x")], "filter_SipPassword"),
    ("/official-accounts", [("eq_AppSecret", "x")], "eq_AppSecret"),
    ("/followers", [("filter_Name", "a\x00b")], "filter_Name"),
    ("/followers", [("order_by", "SipPassword")], "order_by"),
    ("/followers", [("order_by", "Bogus")], "order_by"),
    ("/followers", [("order_by", "Name,")], "order_by"),
    ("/webhooks", [("order_by", "ExtendData")], "order_by"),
    ("/followers", [("order_by", "Name"), ("order_by", "Code")], "order_by"),
    ("/followers", [("fields", "Code,Bogus")], "fields"),
    ("/followers", [("fields", "")], "fields"),
    ("/followers", [("limit", "5000")], "limit"),
    ("/followers", [("limit", "-1")], "limit"),
    ("/followers", [("limit", "ten")], "limit"),
    ("/followers", [("offset", "-1")], "offset"),
    ("/followers", [("limit", "1"), ("limit", "2")], "limit"),
    ("/followers", [("id0", "")], "id0"),
    ("/followers", [("id1", "A"), ("id1", "B")], "id1"),
    ("/followers", [("hard", "1")], "hard"),
    ("/followers/F1", [("offset", "1")], "offset"),
    ("/followers/F1", [("eq_Name", "x")], "eq_Name"),
]


@pytest.mark.parametrize(("path", "params", "named"), BAD, ids=[b[2] for b in BAD])
async def test_bad_parameter_is_a_400_naming_it(
    people: Rest, path: str, params: list[tuple[str, str]], named: str
) -> None:
    reply = await people.get(path, params)
    assert reply.status == 400, reply.body
    assert reply.error["code"] == "BAD_USER_INPUT"
    assert reply.named() == [(None, named)]
    assert named in reply.error["message"]


async def test_filter_caps_are_enforced(people: Rest) -> None:
    many = [("eq_Code", str(i)) for i in range(501)]
    reply = await people.get("/followers", many)
    assert reply.status == 400 and "500" in reply.error["message"]
    wide = [(f"ne_{f.rest}", "x") for f in FOLLOWERS.fields if f.kind == "string" and f.filterable][
        :60
    ]
    reply = await people.get("/followers", wide)
    assert reply.status == 400 and "50" in reply.error["message"]

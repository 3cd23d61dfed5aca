"""POST, PUT and DELETE through v4: round trips, all-or-nothing, bodies, scopes, statuses."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers._crud import fetch_by_keys
from resolvers.resources import FOLLOWERS, OFFICIAL_ACCOUNTS
from tests.conftest import Api
from tests.factories import oa
from tests.legacy_rest.conftest import Rest

# One minimal valid item per resource path, and a field to change.
ITEMS: dict[str, tuple[dict[str, Any], str]] = {
    "/official-accounts": ({"Name": "Shop"}, "Name"),
    "/followers": ({"Name": "Nguyễn Văn An", "ZaloOa": "OA1"}, "Name"),
    "/templates": ({"Name": "OTP", "ZaloOa": "OA1", "TemplateId": "900025"}, "Name"),
    "/messages": ({"ZaloOa": "OA1", "Text": "xin chào", "Direction": "in"}, "Text"),
    "/webhooks": ({"Name": "crm", "Feature": "user_send_*", "Value": "http://crm/h"}, "Name"),
    "/callbacks": ({"Name": "crm", "Feature": "message.*", "Value": "http://crm/c"}, "Name"),
}


async def _count(rest: Rest, path: str, params: Any = None) -> int:
    reply = await rest.get(path, params)
    assert reply.status == 200, reply.body
    total: int = reply.body["total"]
    return total


@pytest.fixture
async def shop(api: Api) -> Rest:
    await oa(api.backend.database, "OA1", is_default=True)
    return Rest(api)


@pytest.mark.parametrize("path", list(ITEMS))
async def test_create_read_update_delete(shop: Rest, path: str) -> None:
    item, field = ITEMS[path]
    created = await shop.post(path, [{"Code": "X1", **item}, {"Code": "X2", **item}])
    assert created.status == 201, created.body
    assert [i["Code"] for i in created.data] == ["X1", "X2"]
    assert created.data[0][field] == item[field] and isinstance(created.data[0]["Id"], int)

    read = await shop.get(f"{path}/X1")
    assert read.status == 200 and read.data == created.data[0]
    put_back = await shop.put(f"{path}/X1", read.data)  # a GET result goes back unchanged
    assert put_back.status == 200, put_back.body
    unchanged = {k: v for k, v in put_back.data[0].items() if k != "Modified"}
    assert unchanged == {k: v for k, v in read.data.items() if k != "Modified"}

    updated = await shop.put(f"{path}/X1", {field: "đổi tên"})
    assert updated.status == 200 and updated.data[0][field] == "đổi tên"
    bulk = await shop.put(path, [{"Code": "X1", field: "một"}, {"Code": "X2", field: "hai"}])
    assert bulk.status == 200 and [i[field] for i in bulk.data] == ["một", "hai"]

    deleted = await shop.delete(f"{path}/X1", {"hard": "1"})
    assert deleted.status == 200 and deleted.data == {"deleted": 1, "codes": ["X1"]}
    assert (await shop.get(f"{path}/X1")).status == 404
    deleted = await shop.delete(path, {"id0": "X2", "hard": "true"})
    assert deleted.data == {"deleted": 1, "codes": ["X2"]}


async def test_post_takes_a_single_object_and_fills_server_fields(shop: Rest) -> None:
    created = await shop.post("/followers", {"Name": "An"}, scope="write")
    assert created.status == 201
    (item,) = created.data
    assert len(item["Code"]) == 16 and item["ZaloOa"] == "OA1"  # generated; the default OA
    assert item["Creator"] == item["CreatorName"] == "write-module"
    assert item["Created"].endswith("Z") and item["IsDeleted"] == 0


async def test_get_put_back_unchanged_keeps_everything(shop: Rest) -> None:
    created = await shop.post(
        "/followers",
        {"Code": "F1", "Name": "Lê Thị Hoa", "SipPassword": "sip-secret-9876", "BranchId": 4},
    )
    assert created.status == 201
    before = (await shop.get("/followers/F1")).data
    assert before["SipPassword"] == "****9876"
    again = await shop.put("/followers/F1", before)
    assert again.status == 200, again.body
    after = (await shop.get("/followers/F1")).data
    assert {k: v for k, v in after.items() if k != "Modified"} == {
        k: v for k, v in before.items() if k != "Modified"
    }
    async with shop.api.backend.database.sessions() as session:
        row = (await fetch_by_keys(session, FOLLOWERS, "code", ["F1"]))["F1"]
    assert row.sip_password == "sip-secret-9876"


async def test_masked_secret_sent_back_keeps_the_secret(api: Api, rest: Rest) -> None:
    await rest.post("/official-accounts", {"Code": "OA9", "Name": "S", "AppSecret": "s3cr3t-abcd"})
    item = (await rest.get("/official-accounts/OA9")).data
    assert item["AppSecret"] == "****abcd"
    put = await rest.put("/official-accounts", [{**item, "Name": "Shop 9"}])
    assert put.status == 200 and put.data[0]["AppSecret"] == "****abcd"
    async with api.backend.database.sessions() as session:
        row = (await fetch_by_keys(session, OFFICIAL_ACCOUNTS, "code", ["OA9"]))["OA9"]
    assert row.app_secret == "s3cr3t-abcd" and row.name == "Shop 9"
    changed = await rest.put("/official-accounts/OA9", {"AppSecret": "new-secret-wxyz"})
    assert changed.data[0]["AppSecret"] == "****wxyz"


async def test_body_values_in_legacy_forms(api: Api, rest: Rest) -> None:
    made = await rest.post(
        "/official-accounts",
        [
            {"Code": "A", "IsDefault": 1, "IsEnabled": "false"},
            {"Code": "B", "IsDefault": "false", "IsEnabled": 0, "RefreshTokenExpired": None},
        ],
    )
    assert made.status == 201, made.body
    assert [(i["IsDefault"], i["IsEnabled"]) for i in made.data] == [(True, False), (False, False)]
    hook = await rest.post(
        "/webhooks",
        {"Code": "W", "ExtendData": '{"oa": ["A"], "secret": "k"}', "IsApplied": "1"},
    )
    assert hook.status == 201, hook.body
    assert hook.data[0]["ExtendData"] == {"oa": ["A"], "secret": "k"}
    assert hook.data[0]["IsApplied"] == 1
    moved = await rest.put("/webhooks/W", {"ExtendData": {"oa": []}})
    assert moved.data[0]["ExtendData"] == {"oa": []}
    person = await rest.post(
        "/followers",
        {"ZaloOa": "A", "FollowedAt": "2026-01-05 15:00:00", "RewardPoints": "10.25"},
    )
    assert person.status == 201, person.body
    assert person.data[0]["FollowedAt"] == "2026-01-05T08:00:00Z"
    assert person.data[0]["RewardPoints"] == 10.25


async def test_partial_update_changes_only_what_is_given(shop: Rest) -> None:
    await shop.post("/followers", {"Code": "F1", "Name": "An", "Phone": "0901", "BranchId": 2})
    updated = await shop.put("/followers/F1", [{"Phone": None}])
    assert updated.status == 200
    item = updated.data[0]
    assert (item["Name"], item["Phone"], item["BranchId"]) == ("An", None, 2)


async def test_message_out_is_queued_and_in_is_history(shop: Rest) -> None:
    await shop.post("/followers", {"Code": "F1", "Zalo": "2512523625412515"})
    made = await shop.post(
        "/messages",
        [
            {"ZaloOa": "OA1", "Follower": "F1", "Text": "chào bạn"},
            {"ZaloOa": "OA1", "Text": "hi", "Direction": "in"},
        ],
    )
    assert made.status == 201, made.body
    assert [(m["Direction"], m["Status"]) for m in made.data] == [
        ("out", "queued"),
        ("in", "received"),
    ]


BAD_ITEMS: list[tuple[str, Any, int, list[tuple[int | None, str | None]]]] = [
    ("/followers", [{"Name": "ok"}, {"BranchId": "nine"}], 422, [(1, "BranchId")]),
    ("/followers", [{"Bogus": 1}], 422, [(0, "Bogus")]),
    ("/followers", [{"name": "lower case"}], 422, [(0, "name")]),
    ("/followers", [{"Code": "A"}, {"Code": "B"}, {"Code": "A"}], 422, [(2, "Code")]),
    (
        "/followers",
        [{"Name": 5}, {"RewardPoints": "lots"}],
        422,
        [(0, "Name"), (1, "RewardPoints")],
    ),
    ("/followers", [{"FollowedAt": "tomorrow"}], 422, [(0, "FollowedAt")]),
    ("/followers", [{"BranchId": 2**40}], 422, [(0, "BranchId")]),
    ("/followers", [{"RewardPoints": 1e20}], 422, [(0, "RewardPoints")]),
    ("/followers", [{"Code": "x" * 65}], 422, [(0, "Code")]),
    ("/followers", [{"Name": "a\x00b"}], 422, [(0, "Name")]),
    ("/followers", [{"ZaloOa": "NOPE"}], 422, [(0, "ZaloOa")]),
    ("/followers", [{"Name": "ok"}, 7], 422, [(1, None)]),
    ("/official-accounts", [{"IsDefault": "yes"}], 422, [(0, "IsDefault")]),
    ("/official-accounts", [{"IsDefault": True}, {"IsDefault": 1}], 422, [(1, "IsDefault")]),
    ("/messages", [{"ZaloOa": "OA1", "Direction": "sideways"}], 422, [(0, "Direction")]),
    ("/messages", [{"ZaloOa": "OA1", "Text": "no one"}], 422, [(0, "Follower")]),
    ("/followers", [{"Code": "TAKEN"}], 409, [(0, "Code")]),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "named"), BAD_ITEMS, ids=[str(b[3]) for b in BAD_ITEMS]
)
async def test_bad_items_are_named_and_nothing_is_written(
    shop: Rest, path: str, body: Any, status: int, named: list[tuple[int | None, str | None]]
) -> None:
    await shop.post("/followers", {"Code": "TAKEN"})
    before = await _count(shop, path)
    reply = await shop.post(path, body)
    assert reply.status == status, reply.body
    assert reply.error["code"] == ("CONFLICT" if status == 409 else "BAD_USER_INPUT")
    assert reply.named() == named
    assert await _count(shop, path) == before


async def test_bad_bulk_put_is_named_and_nothing_is_written(shop: Rest) -> None:
    await shop.post("/followers", [{"Code": "A", "Name": "a"}, {"Code": "B", "Name": "b"}])
    cases: list[tuple[Any, int, list[tuple[int | None, str | None]]]] = [
        ([{"Code": "A", "Name": "x"}, {"Name": "no code"}], 422, [(1, "Code")]),
        ([{"Code": "A", "Name": "x"}, {"Code": "", "Name": "empty"}], 422, [(1, "Code")]),
        ([{"Code": "A", "Name": "x"}, {"Code": "A", "Name": "again"}], 422, [(1, "Code")]),
        ([{"Code": "A", "Name": "x"}, {"Code": "B", "Bogus": 1}], 422, [(1, "Bogus")]),
        ([{"Code": "A", "Name": "x"}, {"Code": "B", "ZaloOa": "NOPE"}], 422, [(1, "ZaloOa")]),
        ([{"Code": "A", "Name": "x"}, {"Code": "NOPE", "Name": "y"}], 404, [(1, "Code")]),
    ]
    for body, status, named in cases:
        reply = await shop.put("/followers", body)
        assert reply.status == status, (body, reply.body)
        assert reply.named() == named, body
    names = {i["Code"]: i["Name"] for i in (await shop.get("/followers")).data}
    assert names == {"A": "a", "B": "b"}


async def test_put_one_checks_the_path(shop: Rest) -> None:
    await shop.post("/followers", {"Code": "A", "Name": "a"})
    missing = await shop.put("/followers/NOPE", {"Name": "x"})
    assert missing.status == 404 and missing.error["code"] == "NOT_FOUND"
    other = await shop.put("/followers/A", {"Code": "B", "Name": "x"})
    assert other.status == 422 and other.named() == [(0, "Code")]
    two = await shop.put("/followers/A", [{"Name": "x"}, {"Name": "y"}])
    assert two.status == 400
    same = await shop.put("/followers/A", [{"Code": "A", "Name": "x"}])
    assert same.status == 200 and same.data[0]["Name"] == "x"


@pytest.mark.parametrize(
    "raw", [b"", b"{not json", b"[1,", b"3", b'"text"', b"null", b"\xff\xfe"], ids=repr
)
async def test_malformed_bodies_are_400(shop: Rest, raw: bytes) -> None:
    for method, path in (("POST", "/followers"), ("PUT", "/followers"), ("PUT", "/followers/A")):
        reply = await shop.call(method, path, content=raw)
        assert reply.status == 400, (method, path, reply.body)
        assert reply.error["code"] == "BAD_USER_INPUT"
    assert await _count(shop, "/followers") == 0


async def test_body_over_the_limit_is_413(shop: Rest) -> None:
    limit = shop.api.backend.settings.max_body_bytes
    reply = await shop.call("POST", "/followers", content=b" " * (limit + 1))
    assert reply.status == 413 and reply.error["code"] == "PAYLOAD_TOO_LARGE"


async def test_follower_delete_is_soft_and_hard_needs_admin(shop: Rest) -> None:
    await shop.post("/followers", [{"Code": "F1", "Name": "An"}, {"Code": "F2", "Name": "Bình"}])
    soft = await shop.delete("/followers/F1", scope="write")
    assert soft.status == 200 and soft.data == {"deleted": 1, "codes": ["F1"]}
    assert await shop.codes("/followers") == ["F2"]
    assert await shop.codes("/followers", {"eq_IsDeleted": "1"}) == ["F1"]
    kept = (await shop.get("/followers/F1")).data
    assert kept["IsDeleted"] == 1 and kept["Deleted"].endswith("Z")
    assert kept["DeleteBy"] == kept["DeleteByName"] == "write-module"

    refused = await shop.delete("/followers/F1", {"hard": "1"}, scope="write")
    assert refused.status == 403 and refused.error["code"] == "FORBIDDEN"
    assert (await shop.get("/followers/F1")).status == 200
    erased = await shop.delete("/followers/F1", {"hard": "1"}, scope="admin")
    assert erased.status == 200 and erased.data == {"deleted": 1, "codes": ["F1"]}
    assert (await shop.get("/followers/F1")).status == 404


async def test_delete_by_ids_and_its_errors(shop: Rest) -> None:
    await shop.post("/webhooks", [{"Code": c} for c in ("A", "B", "C")])
    done = await shop.delete("/webhooks", {"id0": "A", "id5": "C"})
    assert done.data == {"deleted": 2, "codes": ["A", "C"]}
    assert await shop.codes("/webhooks") == ["B"]
    none = await shop.delete("/webhooks")
    assert none.status == 400 and none.named() == [(None, "id0")]
    unknown = await shop.delete("/webhooks", {"id0": "B", "id1": "NOPE"})
    assert unknown.status == 404 and unknown.error["code"] == "NOT_FOUND"
    assert await shop.codes("/webhooks") == ["B"]
    stray = await shop.delete("/webhooks/B", {"id0": "B"})
    assert stray.status == 400 and stray.named() == [(None, "id0")]


async def test_deleting_an_oa_with_followers_is_a_conflict(shop: Rest) -> None:
    await shop.post("/followers", {"Code": "F1"})
    reply = await shop.delete("/official-accounts/OA1")
    assert reply.status == 409 and reply.error["code"] == "CONFLICT"
    assert reply.named() == [(None, "Followers")]
    assert (await shop.get("/official-accounts/OA1")).status == 200


async def test_tokens_and_scopes(shop: Rest) -> None:
    anonymous = await shop.get("/followers", scope=None)
    assert anonymous.status == 401 and anonymous.error["code"] == "UNAUTHENTICATED"
    forged = await shop.call("GET", "/followers", {"token": "zoa_forged"}, scope=None)
    assert forged.status == 401
    by_param = await shop.get("/followers", {"token": shop.api.tokens["read"]}, scope=None)
    assert by_param.status == 200
    read_only = await shop.post("/followers", {"Name": "x"}, scope="read")
    assert read_only.status == 403 and read_only.error["code"] == "FORBIDDEN"
    assert await _count(shop, "/followers") == 0

"""Create, read, update and delete through GraphQL, for every resource, on both databases."""

from __future__ import annotations

import pytest

from resolvers._crud import fetch_by_keys
from resolvers.resources import OFFICIAL_ACCOUNTS
from tests.conftest import Api
from tests.factories import oa

# One minimal valid item per resource, plus a field to update.
RESOURCES = {
    "OfficialAccounts": ({"name": "Shop"}, "name"),
    "Followers": ({"name": "Nguyễn Văn An", "zaloOaCode": "OA1"}, "name"),
    "ZnsTemplates": ({"name": "OTP", "zaloOaCode": "OA1", "templateId": "900025"}, "name"),
    "Messages": ({"zaloOaCode": "OA1", "text": "xin chào", "direction": "in"}, "text"),
    "Webhooks": ({"name": "crm", "feature": "user_send_*", "value": "http://crm/hook"}, "name"),
    "Callbacks": ({"name": "crm", "feature": "message.*", "value": "http://crm/cb"}, "name"),
}


def _single(plural: str) -> str:
    return plural[0].lower() + plural[1:-1]


@pytest.mark.parametrize("plural", list(RESOURCES))
async def test_create_read_update_delete(api: Api, plural: str) -> None:
    await oa(api.backend.database, "OA1")
    item, field = RESOURCES[plural]
    single = _single(plural)
    created = await api.data(
        f"mutation($in: [{plural[:-1]}Create!]!) {{ create{plural}(input: $in) "
        f"{{ affectedCount errors {{ message }} items {{ code id {field} }} }} }}",
        {"in": [{"code": "X1", **item}]},
    )
    payload = created[f"create{plural}"]
    assert payload["affectedCount"] == 1 and payload["errors"] == []
    assert payload["items"][0]["code"] == "X1" and isinstance(payload["items"][0]["id"], int)

    read = await api.data(f'{{ {single}(code: "X1") {{ code {field} }} }}')
    assert read[single] == {"code": "X1", field: item[field]}
    missing = await api.data(f'{{ {single}(code: "nope") {{ code }} }}')
    assert missing[single] is None

    updated = await api.data(
        f"mutation($in: [{plural[:-1]}Update!]!) {{ update{plural}(input: $in) "
        f"{{ affectedCount items {{ {field} }} }} }}",
        {"in": [{"code": "X1", field: "đổi tên"}]},
    )
    assert updated[f"update{plural}"]["items"] == [{field: "đổi tên"}]

    deleted = await api.data(
        f'mutation {{ delete{plural}(codes: ["X1"], hard: true) {{ deletedCount codes }} }}'
    )
    assert deleted[f"delete{plural}"] == {"deletedCount": 1, "codes": ["X1"]}
    gone = await api.data(f'{{ {single}(code: "X1") {{ code }} }}')
    assert gone[single] is None


async def test_generated_code_and_caller_recorded(api: Api) -> None:
    await oa(api.backend.database, "OA1", is_default=True)
    result = await api.data(
        'mutation { createFollowers(input: [{name: "An"}]) '
        "{ items { code zaloOaCode created creator creatorName isDeleted } } }",
        scope="write",
    )
    item = result["createFollowers"]["items"][0]
    assert len(item["code"]) == 16
    assert item["zaloOaCode"] == "OA1"  # the default OA
    assert item["creator"] == item["creatorName"] == "write-module"
    assert item["created"].endswith("Z") and item["isDeleted"] == 0


async def test_follower_without_oa_and_no_default_is_rejected(api: Api) -> None:
    result = await api.data(
        'mutation { createFollowers(input: [{name: "An"}]) '
        "{ affectedCount errors { field index message } } }"
    )
    assert result["createFollowers"]["affectedCount"] == 0
    assert result["createFollowers"]["errors"][0]["field"] == "zaloOaCode"


async def test_all_or_nothing_reports_every_bad_item(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    items = [
        {"code": "A", "name": "ok", "zaloOaCode": "OA1"},
        {"code": "B", "name": "bad oa", "zaloOaCode": "NOPE"},
        {"code": "A", "name": "duplicate code", "zaloOaCode": "OA1"},
        {"code": "C", "name": "ok", "zaloOaCode": "OA1", "zalo": "u1"},
        {"code": "D", "name": "same zalo user", "zaloOaCode": "OA1", "zalo": "u1"},
    ]
    result = await api.data(
        "mutation($in: [FollowerCreate!]!) { createFollowers(input: $in) "
        "{ affectedCount results { index ok } errors { index field code } } }",
        {"in": items},
    )
    payload = result["createFollowers"]
    assert payload["affectedCount"] == 0
    assert [(e["index"], e["field"]) for e in payload["errors"]] == [
        (1, "zaloOaCode"),
        (2, "code"),
        (4, "zalo"),
    ]
    assert [r["ok"] for r in payload["results"]] == [True, False, False, True, False]
    count = await api.data("{ followers { totalCount } }")
    assert count["followers"]["totalCount"] == 0


async def test_skip_failed_keeps_the_good_items(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    result = await api.data(
        "mutation($in: [FollowerCreate!]!) { createFollowers(input: $in, "
        "errorPolicy: SKIP_FAILED) { affectedCount items { code } errors { index field } } }",
        {"in": [{"code": "A", "zaloOaCode": "OA1"}, {"code": "B", "zaloOaCode": "NOPE"}]},
    )
    assert result["createFollowers"]["affectedCount"] == 1
    assert result["createFollowers"]["items"] == [{"code": "A"}]
    assert result["createFollowers"]["errors"] == [{"index": 1, "field": "zaloOaCode"}]


async def test_upsert_on_zalo_key_keeps_the_row_code(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    first = "mutation($in: [FollowerCreate!]!) { createFollowers(input: $in) { affectedCount } }"
    await api.data(
        first,
        {"in": [{"code": "F1", "zaloOaCode": "OA1", "zalo": "u1", "name": "Old", "note": "keep"}]},
    )
    upsert = await api.data(
        "mutation($in: [FollowerCreate!]!) { createFollowers(input: $in, onConflict: "
        '{target: ZALO_OA_ZALO, updateFields: ["name"]}) { affectedCount '
        "items { code name note phone } errors { message } } }",
        {
            "in": [
                {
                    "code": "OTHER",
                    "zaloOaCode": "OA1",
                    "zalo": "u1",
                    "name": "New",
                    "phone": "0901",
                },
                {"zaloOaCode": "OA1", "zalo": "u2", "name": "Fresh"},
            ]
        },
    )
    payload = upsert["createFollowers"]
    assert payload["errors"] == []
    assert payload["items"][0] == {"code": "F1", "name": "New", "note": "keep", "phone": None}
    assert payload["items"][1]["name"] == "Fresh"


async def test_upsert_on_code(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    query = (
        "mutation($in: [ZnsTemplateCreate!]!) { createZnsTemplates(input: $in, "
        "onConflict: {target: CODE}) { affectedCount items { code name templateId } } }"
    )
    await api.data(query, {"in": [{"code": "T", "zaloOaCode": "OA1", "name": "a"}]})
    again = await api.data(query, {"in": [{"code": "T", "name": "b", "templateId": "9"}]})
    assert again["createZnsTemplates"]["items"] == [{"code": "T", "name": "b", "templateId": "9"}]


async def test_partial_update_absent_is_not_null(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    await api.data(
        'mutation { createFollowers(input: [{code: "F", zaloOaCode: "OA1", '
        'name: "An", phone: "0901", note: "x"}]) { affectedCount } }'
    )
    result = await api.data(
        'mutation { updateFollowers(input: [{code: "F", note: null, '
        'name: "Bình"}]) { items { name phone note keyword } } }'
    )
    assert result["updateFollowers"]["items"] == [
        {"name": "Bình", "phone": "0901", "note": None, "keyword": "binh 0901"}
    ]


async def test_update_unknown_code_is_reported(api: Api) -> None:
    result = await api.data(
        'mutation { updateWebhooks(input: [{code: "zz", name: "x"}]) '
        "{ affectedCount errors { code field index } } }"
    )
    assert result["updateWebhooks"] == {
        "affectedCount": 0,
        "errors": [{"code": "NOT_FOUND", "field": "code", "index": 0}],
    }


async def test_soft_delete_hides_follower_but_keeps_it_by_code(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    await api.data(
        'mutation { createFollowers(input: [{code: "F", zaloOaCode: "OA1"}]) { affectedCount } }'
    )
    await api.data('mutation { deleteFollowers(codes: ["F"]) { deletedCount } }', scope="write")
    hidden = await api.data("{ followers { totalCount } }")
    assert hidden["followers"]["totalCount"] == 0
    shown = await api.data(
        "{ followers(filter: {isDeleted: {eq: 1}}) { items { code deleteBy deleted } } }"
    )
    item = shown["followers"]["items"][0]
    assert item["code"] == "F" and item["deleteBy"] == "write-module" and item["deleted"]
    one = await api.data('{ follower(code: "F") { code isDeleted } }')
    assert one["follower"] == {"code": "F", "isDeleted": 1}


async def test_hard_delete_needs_admin(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    await api.data(
        'mutation { createFollowers(input: [{code: "F", zaloOaCode: "OA1"}]) { affectedCount } }'
    )
    errors = await api.errors(
        'mutation { deleteFollowers(codes: ["F"], hard: true) { deletedCount } }', scope="write"
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    await api.data('mutation { deleteFollowers(codes: ["F"], hard: true) { deletedCount } }')
    gone = await api.data('{ follower(code: "F") { code } }')
    assert gone["follower"] is None


async def test_deleting_an_oa_with_dependents_is_a_conflict(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    await api.data(
        'mutation { createFollowers(input: [{code: "F", zaloOaCode: "OA1"}]) { affectedCount } }'
    )
    errors = await api.errors(
        'mutation { deleteOfficialAccounts(codes: ["OA1"]) { deletedCount } }'
    )
    assert errors[0]["extensions"]["code"] == "CONFLICT"
    assert "followers" in errors[0]["message"]
    errors = await api.errors(
        'mutation { deleteOfficialAccounts(codes: ["nope"]) { deletedCount } }'
    )
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_one_default_account(api: Api) -> None:
    query = (
        "mutation($in: [OfficialAccountCreate!]!) { createOfficialAccounts(input: $in) "
        "{ affectedCount } }"
    )
    await api.data(query, {"in": [{"code": "A", "isDefault": True}]})
    await api.data(query, {"in": [{"code": "B", "isDefault": True}]})
    result = await api.data(
        "{ officialAccounts(orderBy: [{code: ASC}]) { items { code isDefault status isEnabled } } }"
    )
    assert result["officialAccounts"]["items"] == [
        {"code": "A", "isDefault": False, "status": 0, "isEnabled": True},
        {"code": "B", "isDefault": True, "status": 0, "isEnabled": True},
    ]


async def test_secrets_are_masked_and_a_mask_round_trip_keeps_them(api: Api) -> None:
    await api.data(
        'mutation { createOfficialAccounts(input: [{code: "A", '
        'appSecret: "app-secret-value-1234", oaSecretKey: "oa-key-abcd"}]) '
        "{ affectedCount } }"
    )
    read = await api.data('{ officialAccount(code: "A") { appSecret oaSecretKey accessToken } }')
    assert read["officialAccount"] == {
        "appSecret": "****1234",
        "oaSecretKey": "****abcd",
        "accessToken": None,
    }
    await api.data(
        'mutation { updateOfficialAccounts(input: [{code: "A", appSecret: "****1234",'
        ' name: "n"}]) { affectedCount } }'
    )
    async with api.backend.database.sessions() as session:
        rows = await fetch_by_keys(session, OFFICIAL_ACCOUNTS, "code", ["A"])
    assert rows["A"].app_secret == "app-secret-value-1234"


async def test_secret_fields_cannot_be_filtered(api: Api) -> None:
    errors = await api.errors('{ officialAccounts(filter: {appSecret: {eq: "x"}}) { totalCount } }')
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "appSecret" in errors[0]["message"]


async def test_updatefields_must_name_writable_fields(api: Api) -> None:
    errors = await api.errors(
        'mutation { createWebhooks(input: [{name: "x"}], onConflict: '
        '{updateFields: ["bogus"]}) { affectedCount } }'
    )
    assert errors[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "updateFields",
        "problems": [
            {
                "code": "BAD_USER_INPUT",
                "field": "updateFields",
                "index": None,
                "message": "updateFields: 'bogus' is not a writable field",
            }
        ],
    }


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"code": "x" * 65}, "code"),
        ({"code": "N", "name": "nul\x00byte"}, "name"),
        ({"code": "D", "rewardPoints": "100000000000000"}, "rewardPoints"),
    ],
)
async def test_values_either_database_would_refuse_are_refused_on_both(
    api: Api, item: dict[str, str], field: str
) -> None:
    await oa(api.backend.database, "OA1", is_default=True)
    errors = await api.errors(
        "mutation($in: [FollowerCreate!]!) { createFollowers(input: $in) { affectedCount } }",
        {"in": [{"zaloOaCode": "OA1", **item}]},
    )
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == field
    nul = await api.errors(
        "query($v: String) { followers(filter: {name: {eq: $v}}) { totalCount } }", {"v": "a\x00b"}
    )
    assert nul[0]["extensions"]["field"] == "name"


async def test_codes_argument_is_capped(api: Api) -> None:
    errors = await api.errors(
        "query($c: [String!]) { followers(codes: $c) { totalCount } }",
        {"c": [str(i) for i in range(501)]},
    )
    assert errors[0]["extensions"]["field"] == "codes"


async def test_a_failed_operation_keeps_none_of_its_bulk_writes(api: Api) -> None:
    """The operation owns the transaction: a bulk write's savepoint is released into it,
    so a later error in the same operation rolls the write back too (SQLite included)."""
    errors = await api.errors(
        'mutation { made: createWebhooks(input: [{name: "w1"}]) { affectedCount } '
        'bad: createApiToken(module: "", scope: READ) { token } }'
    )
    assert errors and errors[0]["path"] == ["bad"]
    data = await api.data("{ webhooks { totalCount } }")
    assert data["webhooks"]["totalCount"] == 0

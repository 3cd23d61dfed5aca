"""Parity: the same scenarios through REST v4 and through GraphQL give the same codes and values.

Each scenario is written once per front door (a v4 query string, GraphQL arguments); every
test runs on both doors, and `test_doors_agree_on_every_value` compares whole items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from resolvers._resource import Resource, get
from tests.conftest import Api
from tests.legacy_rest.conftest import Rest

STAMPS = {"Created", "Modified", "Deleted"}  # set by the clock, not by the request


@dataclass
class Outcome:
    errors: set[str] = field(default_factory=set)  # error codes (empty when it worked)
    named: list[tuple[int | None, str | None]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None


class Door(Protocol):
    async def page(self, key: str, rest: list[tuple[str, str]], gql: dict[str, Any]) -> Outcome: ...

    async def one(self, key: str, code: str) -> dict[str, Any] | None: ...

    async def create(self, key: str, items: list[dict[str, Any]]) -> Outcome: ...

    async def update(self, key: str, items: list[dict[str, Any]]) -> Outcome: ...

    async def delete(self, key: str, codes: list[str], hard: bool, scope: str) -> Outcome: ...


def _path(key: str) -> str:
    return "/" + get(key).rest_path


class RestDoor:
    def __init__(self, api: Api) -> None:
        self.rest = Rest(api)

    @staticmethod
    def _outcome(reply: Any) -> Outcome:
        if "error" in reply.body:
            return Outcome({reply.error["code"]}, reply.named())
        data = reply.body["data"]
        return Outcome(
            items=data if isinstance(data, list) else [data], total=reply.body.get("total")
        )

    async def page(self, key: str, rest: list[tuple[str, str]], gql: dict[str, Any]) -> Outcome:
        return self._outcome(await self.rest.get(_path(key), rest))

    async def one(self, key: str, code: str) -> dict[str, Any] | None:
        reply = await self.rest.get(f"{_path(key)}/{code}")
        return reply.data if reply.status == 200 else None

    async def create(self, key: str, items: list[dict[str, Any]]) -> Outcome:
        return self._outcome(await self.rest.post(_path(key), items))

    async def update(self, key: str, items: list[dict[str, Any]]) -> Outcome:
        return self._outcome(await self.rest.put(_path(key), items))

    async def delete(self, key: str, codes: list[str], hard: bool, scope: str) -> Outcome:
        params = {f"id{i}": c for i, c in enumerate(codes)} | {"hard": str(int(hard))}
        reply = await self.rest.delete(_path(key), params, scope=scope)
        if "error" in reply.body:
            return Outcome({reply.error["code"]}, reply.named())
        return Outcome(items=[reply.data])


class GraphQLDoor:
    def __init__(self, api: Api) -> None:
        self.api = api

    @staticmethod
    def _all(resource: Resource) -> str:
        return " ".join(f.gql for f in resource.fields)

    @staticmethod
    def _rest(resource: Resource, item: dict[str, Any]) -> dict[str, Any]:
        return {resource.by_gql[k].rest: v for k, v in item.items()}

    @staticmethod
    def _gql(resource: Resource, item: dict[str, Any]) -> dict[str, Any]:
        return {resource.by_rest[k].gql: v for k, v in item.items()}

    @staticmethod
    def _named(resource: Resource, errors: list[dict[str, Any]]) -> Outcome:
        problems = [p for e in errors for p in (e.get("extensions", {}).get("problems") or [e])]
        named = []
        for p in problems:
            spec = resource.by_gql.get(p.get("field") or "")
            named.append((p.get("index"), spec.rest if spec else p.get("field")))
        codes = {str(e.get("extensions", {}).get("code") or e.get("code")) for e in errors}
        return Outcome(codes, named)

    async def _run(
        self, resource: Resource, query: str, variables: dict[str, Any], **kw: Any
    ) -> Any:
        body = await self.api.gql(query, variables, expect_errors=True, **kw)
        if body.get("errors"):
            return self._named(resource, body["errors"])
        return body["data"]["r"]

    async def page(self, key: str, rest: list[tuple[str, str]], gql: dict[str, Any]) -> Outcome:
        r = get(key)
        t = r.type_name
        query = (
            f"query($filter: {t}Filter, $orderBy: [{t}OrderBy!], $offset: Int = 0, "
            f"$limit: Int = 50, $codes: [String!]) {{ r: {r.plural}(filter: $filter, "
            "orderBy: $orderBy, offset: $offset, limit: $limit, codes: $codes) "
            f"{{ totalCount items {{ {self._all(r)} }} }} }}"
        )
        data = await self._run(r, query, gql)
        if isinstance(data, Outcome):
            return data
        items = [self._rest(r, i) for i in data["items"]]
        return Outcome(items=items, total=data["totalCount"])

    async def one(self, key: str, code: str) -> dict[str, Any] | None:
        r = get(key)
        query = f"query($c: String!) {{ r: {r.single}(code: $c) {{ {self._all(r)} }} }}"
        data = (await self.api.data(query, {"c": code}))["r"]
        return None if data is None else self._rest(r, data)

    async def _write(self, key: str, verb: str, items: list[dict[str, Any]]) -> Outcome:
        r = get(key)
        kind = "Create" if verb == "create" else "Update"
        cap = r.plural[0].upper() + r.plural[1:]
        query = (
            f"mutation($in: [{r.type_name}{kind}!]!) {{ r: {verb}{cap}(input: $in) "
            f"{{ items {{ {self._all(r)} }} errors {{ code message field index }} }} }}"
        )
        data = await self._run(r, query, {"in": [self._gql(r, i) for i in items]})
        if isinstance(data, Outcome):
            return data
        if data["errors"]:
            return self._named(r, data["errors"])
        return Outcome(items=[self._rest(r, i) for i in data["items"]])

    async def create(self, key: str, items: list[dict[str, Any]]) -> Outcome:
        return await self._write(key, "create", items)

    async def update(self, key: str, items: list[dict[str, Any]]) -> Outcome:
        return await self._write(key, "update", items)

    async def delete(self, key: str, codes: list[str], hard: bool, scope: str) -> Outcome:
        r = get(key)
        cap = r.plural[0].upper() + r.plural[1:]
        query = (
            f"mutation($c: [String!]!, $h: Boolean!) {{ r: delete{cap}(codes: $c, hard: $h) "
            "{ deletedCount codes } }"
        )
        data = await self._run(r, query, {"c": codes, "h": hard}, scope=scope)
        if isinstance(data, Outcome):
            return data
        return Outcome(items=[{"deleted": data["deletedCount"], "codes": data["codes"]}])


DOORS: dict[str, type[RestDoor] | type[GraphQLDoor]] = {"rest": RestDoor, "graphql": GraphQLDoor}


@pytest.fixture(params=list(DOORS))
def door(request: pytest.FixtureRequest, people: Rest) -> Door:
    made: Door = DOORS[request.param](people.api)
    return made


# (v4 query string, GraphQL arguments, expected codes)
PAGES: list[tuple[list[tuple[str, str]], dict[str, Any], list[str]]] = [
    ([("filter_Name", "văn")], {"filter": {"name": {"contains": "văn"}}}, ["F1"]),
    ([("right_Name", "ấn")], {"filter": {"name": {"endsWith": "ấn"}}}, ["F2"]),
    ([("left_Name", "100%")], {"filter": {"name": {"startsWith": "100%"}}}, ["F3"]),
    ([("lt_RewardPoints", "10")], {"filter": {"rewardPoints": {"lt": 10}}}, ["F1", "F5"]),
    ([("ge_BranchId", "10")], {"filter": {"branchId": {"ge": 10}}}, ["F2", "F3"]),
    (
        [("eq_BranchId", "2"), ("eq_BranchId", "100")],
        {"filter": {"branchId": {"in": [2, 100]}}},
        ["F3", "F5"],
    ),
    (
        [("ne_BranchId", "2"), ("ne_BranchId", "100")],
        {"filter": {"branchId": {"notIn": [2, 100]}}},
        ["F1", "F2"],
    ),
    ([("eq_ZaloOa", "OA2")], {"filter": {"zaloOaCode": {"eq": "OA2"}}}, ["F5"]),
    (
        [("ge_FollowedAt", "2026-02-01 07:00:00")],
        {"filter": {"followedAt": {"ge": "2026-02-01T00:00:00Z"}}},
        ["F2", "F3"],
    ),
    (
        [("gt_BranchId", "2"), ("filter_Name", "an")],
        {"filter": {"branchId": {"gt": 2}, "name": {"contains": "an"}}},
        ["F1"],
    ),
    ([("id0", "F3"), ("id4", "F1")], {"codes": ["F3", "F1"]}, ["F1", "F3"]),
    (
        [("order_by", "-RewardPoints")],
        {"orderBy": [{"rewardPoints": "DESC"}]},
        ["F4", "F3", "F2", "F1", "F5"],
    ),
    (
        [("order_by", "ZaloOa,-BranchId"), ("offset", "1"), ("limit", "3")],
        {"orderBy": [{"zaloOaCode": "ASC"}, {"branchId": "DESC"}], "offset": 1, "limit": 3},
        ["F3", "F2", "F1"],
    ),
]
PAGE_IDS = [str(p[0]) for p in PAGES]


@pytest.mark.parametrize(("rest", "gql", "expected"), PAGES, ids=PAGE_IDS)
async def test_page(
    door: Door, rest: list[tuple[str, str]], gql: dict[str, Any], expected: list[str]
) -> None:
    got = await door.page("followers", rest, gql)
    assert not got.errors, got
    assert [i["Code"] for i in got.items] == expected


async def test_doors_agree_on_every_value(people: Rest) -> None:
    rest, graphql = RestDoor(people.api), GraphQLDoor(people.api)
    for rest_params, gql_args, _ in PAGES:
        a = await rest.page("followers", rest_params, gql_args)
        b = await graphql.page("followers", rest_params, gql_args)
        assert (a.items, a.total) == (b.items, b.total), rest_params
    for key in ("followers", "official_accounts"):
        for code in ("F1", "F4", "OA1", "nope"):
            assert await rest.one(key, code) == await graphql.one(key, code)


def _stable(item: dict[str, Any] | None) -> dict[str, Any]:
    assert item is not None
    return {k: v for k, v in item.items() if k not in STAMPS}


async def test_create_then_update(door: Door) -> None:
    made = await door.create(
        "followers",
        [{"Code": "N1", "Name": "Trần Mới", "BranchId": 3, "RewardPoints": 1.5, "ZaloOa": "OA2"}],
    )
    assert not made.errors, made
    item = _stable(made.items[0])
    assert (item["Name"], item["RewardPoints"], item["ZaloOa"], item["IsDeleted"]) == (
        "Trần Mới",
        1.5,
        "OA2",
        0,
    )
    changed = await door.update("followers", [{"Code": "N1", "BranchId": None, "Phone": "0901"}])
    assert not changed.errors, changed
    expected = {**item, "BranchId": None, "Phone": "0901", "Keyword": "tran moi 0901"}
    assert _stable(changed.items[0]) == expected
    assert _stable(await door.one("followers", "N1")) == _stable(changed.items[0])


WRITE_ERRORS: list[tuple[str, str, list[dict[str, Any]], set[str], list[Any]]] = [
    (
        "create",
        "followers",
        [{"Code": "N1"}, {"ZaloOa": "NOPE"}],
        {"BAD_USER_INPUT"},
        [(1, "ZaloOa")],
    ),
    ("create", "followers", [{"Code": "F1"}], {"CONFLICT"}, [(0, "Code")]),
    (
        "create",
        "official_accounts",
        [{"Code": "X", "IsDefault": True}, {"Code": "Y", "IsDefault": True}],
        {"BAD_USER_INPUT"},
        [(1, "IsDefault")],
    ),
    ("update", "followers", [{"Code": "F1"}, {"Code": "NOPE"}], {"NOT_FOUND"}, [(1, "Code")]),
    (
        "update",
        "followers",
        [{"Code": "F1", "ZaloOa": "NOPE"}],
        {"BAD_USER_INPUT"},
        [(0, "ZaloOa")],
    ),
]


@pytest.mark.parametrize(
    ("verb", "key", "items", "codes", "named"), WRITE_ERRORS, ids=[str(w[4]) for w in WRITE_ERRORS]
)
async def test_write_errors(
    door: Door, verb: str, key: str, items: list[dict[str, Any]], codes: set[str], named: list[Any]
) -> None:
    before = await door.page(key, [], {})
    got = await (door.create if verb == "create" else door.update)(key, items)
    assert (got.errors, got.named) == (codes, named)
    after = await door.page(key, [], {})
    assert after.items == before.items  # all or nothing


async def test_deletes(door: Door) -> None:
    refused = await door.delete("official_accounts", ["OA1"], False, "admin")
    assert refused.errors == {"CONFLICT"}
    hard = await door.delete("followers", ["F1"], True, "write")
    assert hard.errors == {"FORBIDDEN"}
    missing = await door.delete("followers", ["F1", "NOPE"], False, "write")
    assert missing.errors == {"NOT_FOUND"}
    soft = await door.delete("followers", ["F1", "F2"], False, "write")
    assert soft.items == [{"deleted": 2, "codes": ["F1", "F2"]}]
    shown = await door.page("followers", [], {})
    assert [i["Code"] for i in shown.items] == ["F3", "F4", "F5"]
    deleted = await door.page(
        "followers", [("eq_IsDeleted", "1")], {"filter": {"isDeleted": {"eq": 1}}}
    )
    assert [(i["Code"], i["DeleteBy"]) for i in deleted.items] == [
        ("F1", "write-module"),
        ("F2", "write-module"),
    ]

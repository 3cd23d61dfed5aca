"""The workloads: for each, the floor SQL, the module's request, PostGraphile's request, and
how each answer is turned into comparable values (a wrong answer gets no number).

Values are normalised per field kind (decimals to floats at 4 places, datetimes to epoch
seconds) so the module's `2026-11-28T07:30:00Z`, PostGraphile's `…+00:00` and asyncpg's
`datetime` compare equal when they are the same instant.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg

from resolvers._resource import Kind
from resolvers.resources import FOLLOWERS

F = FOLLOWERS.by_name

# W1: 11 fields of a list page; W4: 18 fields of one follower.
W1_FIELDS = [
    "code", "name", "first_name", "last_name", "phone", "email", "zalo", "zalo_oa",
    "created", "member_level", "reward_points",
]  # fmt: skip
W4_FIELDS = [
    *W1_FIELDS, "id", "birthday", "gender", "province", "district", "ward", "followed_at",
]  # fmt: skip
ALL_FIELDS = [f.name for f in FOLLOWERS.fields]
SECRET = {f.name for f in FOLLOWERS.fields if f.secret}


def gql_name(name: str) -> str:
    return F[name].gql


def pgl_name(name: str) -> str:
    """PostGraphile's camelCase; its `id` is the Relay node id, the column is `rowId`."""
    if name == "id":
        return "rowId"
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def rest_name(name: str) -> str:
    return F[name].rest


def quote_ident(name: str) -> str:
    return f'"{name}"' if name in ("group", "user") else name


def norm(name: str, value: Any) -> Any:
    """One field's value in a form every system's answer reduces to."""
    if value is None:
        return None
    kind = F[name].kind
    if kind is Kind.DECIMAL:
        return round(float(value), 4)
    if kind is Kind.INT:
        return int(value)
    if kind is Kind.DATETIME:
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return round(value.timestamp(), 3)
    return str(value)


def norm_row(fields: Sequence[str], get: Callable[[str], Any]) -> tuple[Any, ...]:
    return tuple(None if f in SECRET else norm(f, get(f)) for f in fields)


UNKNOWN_CODE = "NO-SUCH-CODE"  # the follower code that W4/W6 ask for and must not find


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""


def graphql(query: str, variables: dict[str, Any] | None = None) -> Request:
    payload = {"query": query, "variables": variables or {}}
    return Request("POST", "/graphql", json.dumps(payload, ensure_ascii=False).encode())


@dataclass(frozen=True)
class Params:
    oa: str  # the OA of W1/W3
    needle: str
    offset: int
    limit: int
    w2_limit: int = 20
    w2_messages: int = 5
    bulk: int = 1000  # W5 items per request
    page: int = 1000  # W7 page size
    rate: int = 500  # W8 events per second


def params_for(size: str) -> Params:
    if size == "tiny":
        return Params(oa="OA02", needle="an", offset=100, limit=50, page=500, rate=100)
    return Params(oa="OA07", needle="an", offset=1000, limit=50)


Extract = Callable[[Any], Any]
FloorOp = Callable[[asyncpg.Connection, Any], Awaitable[Any]]


@dataclass
class System:
    """How one system (module GraphQL, module REST, PostGraphile) asks for a case."""

    request: Callable[[Any], Request]
    extract: Extract


@dataclass
class Workload:
    key: str  # "W1", "W6 list sparse", …
    title: str
    cases: list[Any]
    floor: FloorOp | None  # the floor: same SQL, asyncpg, no HTTP; returns the expected value
    systems: dict[str, System] = field(default_factory=dict)
    unit: str = "req/s"
    rows_per_request: int = 1
    compare_to: str | None = None  # for W6: the GraphQL twin's key
    expected: FloorOp | None = None  # when the floor op is not itself the reference


# --- SQL ----------------------------------------------------------------------------------


def _cols(fields: Sequence[str]) -> str:
    return ", ".join(quote_ident(f) for f in fields)


def like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_FILTER = "lower(name) LIKE lower($1) ESCAPE '\\' AND zalo_oa = $2 AND coalesce(is_deleted, 0) = 0"


def sql_list(fields: Sequence[str]) -> str:
    return f"SELECT {_cols(fields)} FROM followers WHERE {_FILTER} ORDER BY id LIMIT $3 OFFSET $4"


SQL_COUNT = f"SELECT count(*) FROM followers WHERE {_FILTER}"
# The module's statement for W2 on PostgreSQL since the fourteenth round: the page with its
# OAs joined, numbered in its order, and a LATERAL page of messages per follower.
SQL_W2 = (
    "SELECT p.n, p.code, p.name, p.oa_name, m.code AS m_code, m.text AS m_text FROM "
    "(SELECT f.id, f.code, f.name, o.name AS oa_name, row_number() OVER (ORDER BY f.id) AS n "
    "FROM followers f LEFT JOIN official_accounts o ON o.code = f.zalo_oa "
    "WHERE f.zalo_oa = $1 AND coalesce(f.is_deleted, 0) = 0 ORDER BY f.id LIMIT $2) AS p "
    "LEFT JOIN LATERAL (SELECT id, code, text FROM messages WHERE follower = p.code "
    "ORDER BY id DESC LIMIT $3) AS m ON true ORDER BY p.n, m.id DESC"
)


def sql_one(fields: Sequence[str]) -> str:
    return f"SELECT {_cols(fields)} FROM followers WHERE code = $1"


def sql_keyset(fields: Sequence[str]) -> str:
    return (
        f"SELECT id, {_cols(fields)} FROM followers "
        "WHERE id > $1 AND coalesce(is_deleted, 0) = 0 ORDER BY id LIMIT $2"
    )


def rows_value(fields: Sequence[str], rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [norm_row(fields, lambda f, r=r: r[f]) for r in rows]


# --- the workloads ------------------------------------------------------------------------


def _fields_gql(fields: Sequence[str]) -> str:
    return " ".join(gql_name(f) for f in fields)


def _fields_pgl(fields: Sequence[str]) -> str:
    return " ".join(pgl_name(f) for f in fields)


def _from_gql(fields: Sequence[str], item: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if item is None:
        return None
    return norm_row(fields, lambda f: item[gql_name(f)])


def _from_pgl(fields: Sequence[str], item: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if item is None:
        return None
    return norm_row(fields, lambda f: item[pgl_name(f)])


def _from_rest(fields: Sequence[str], item: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if item is None:
        return None
    return norm_row(fields, lambda f: item[rest_name(f)])


def w1(p: Params, fields: Sequence[str] = W1_FIELDS, key: str = "W1") -> Workload:
    sql = sql_list(fields)
    pattern = like_pattern(p.needle)
    variables = {"oa": p.oa, "needle": p.needle, "offset": p.offset, "limit": p.limit}

    async def floor(conn: asyncpg.Connection, _: Any) -> Any:
        return rows_value(fields, await conn.fetch(sql, pattern, p.oa, p.limit, p.offset))

    module_q = (
        "query W1($oa: String!, $needle: String!, $offset: Int!, $limit: Int!) {"
        " followers(filter: {zaloOaCode: {eq: $oa}, name: {contains: $needle}},"
        f" offset: $offset, limit: $limit) {{ items {{ {_fields_gql(fields)} }} }} }}"
    )
    pgl_q = (
        "query W1($oa: String!, $needle: String!, $offset: Int!, $limit: Int!) {"
        " allFollowers(filter: {zaloOa: {equalTo: $oa}, name: {includesInsensitive: $needle},"
        " isDeleted: {equalTo: 0}}, offset: $offset, first: $limit, orderBy: PRIMARY_KEY_ASC)"
        f" {{ nodes {{ {_fields_pgl(fields)} }} }} }}"
    )
    return Workload(
        key,
        f"list page: followers of {p.oa} whose name contains {p.needle!r}, "
        f"{len(fields)} fields, limit {p.limit} offset {p.offset}",
        [None],
        floor,
        {
            "module": System(
                lambda _: graphql(module_q, variables),
                lambda d: [_from_gql(fields, i) for i in d["data"]["followers"]["items"]],
            ),
            "postgraphile": System(
                lambda _: graphql(pgl_q, variables),
                lambda d: [_from_pgl(fields, i) for i in d["data"]["allFollowers"]["nodes"]],
            ),
        },
    )


def w2(p: Params, oa_codes: list[str]) -> Workload:
    async def floor(conn: asyncpg.Connection, oa: str) -> Any:
        rows = await conn.fetch(SQL_W2, oa, p.w2_limit, p.w2_messages)
        followers: dict[int, tuple[str, str, Any, list[tuple[str, Any]]]] = {}
        for r in rows:
            follower = followers.get(r["n"])
            if follower is None:
                follower = followers[r["n"]] = (r["code"], r["name"], r["oa_name"], [])
            if r["m_code"] is not None:
                follower[3].append((r["m_code"], r["m_text"]))
        return list(followers.values())

    module_q = (
        "query W2($oa: String!) { followers(filter: {zaloOaCode: {eq: $oa}},"
        f" limit: {p.w2_limit}) {{ items {{ code name zaloOa {{ name }}"
        f" messages(limit: {p.w2_messages}, orderBy: [{{id: DESC}}]) {{ items {{ code text }} }} }} }} }}"
    )
    pgl_q = (
        "query W2($oa: String!) { allFollowers(condition: {zaloOa: $oa},"
        f" filter: {{isDeleted: {{equalTo: 0}}}}, first: {p.w2_limit}, orderBy: PRIMARY_KEY_ASC)"
        " { nodes { code name officialAccountByZaloOa { name }"
        f" messagesByFollower(first: {p.w2_messages}, orderBy: PRIMARY_KEY_DESC)"
        " { nodes { code text } } } } }"
    )

    def from_module(d: Any) -> Any:
        return [
            (
                i["code"],
                i["name"],
                (i["zaloOa"] or {}).get("name"),
                [(m["code"], m["text"]) for m in i["messages"]["items"]],
            )
            for i in d["data"]["followers"]["items"]
        ]

    def from_pgl(d: Any) -> Any:
        return [
            (
                i["code"],
                i["name"],
                (i["officialAccountByZaloOa"] or {}).get("name"),
                [(m["code"], m["text"]) for m in i["messagesByFollower"]["nodes"]],
            )
            for i in d["data"]["allFollowers"]["nodes"]
        ]

    return Workload(
        "W2",
        f"nested: first {p.w2_limit} followers of an OA, each with its OA's name and its "
        f"last {p.w2_messages} messages",
        list(oa_codes),
        floor,
        {
            "module": System(lambda oa: graphql(module_q, {"oa": oa}), from_module),
            "postgraphile": System(lambda oa: graphql(pgl_q, {"oa": oa}), from_pgl),
        },
    )


def w3(p: Params) -> Workload:
    pattern = like_pattern(p.needle)
    variables = {"oa": p.oa, "needle": p.needle}

    async def floor(conn: asyncpg.Connection, _: Any) -> Any:
        return int(await conn.fetchval(SQL_COUNT, pattern, p.oa))

    module_q = (
        "query W3($oa: String!, $needle: String!) { followersAggregate(filter: "
        "{zaloOaCode: {eq: $oa}, name: {contains: $needle}}) { count } }"
    )
    pgl_q = (
        "query W3($oa: String!, $needle: String!) { allFollowers(filter: {zaloOa: {equalTo: $oa},"
        " name: {includesInsensitive: $needle}, isDeleted: {equalTo: 0}}) { totalCount } }"
    )
    return Workload(
        "W3",
        "count of W1's filter",
        [None],
        floor,
        {
            "module": System(
                lambda _: graphql(module_q, variables),
                lambda d: int(d["data"]["followersAggregate"]["count"]),
            ),
            "postgraphile": System(
                lambda _: graphql(pgl_q, variables),
                lambda d: int(d["data"]["allFollowers"]["totalCount"]),
            ),
        },
    )


def w4(codes: list[str], fields: Sequence[str] = W4_FIELDS, key: str = "W4") -> Workload:
    sql = sql_one(fields)

    async def floor(conn: asyncpg.Connection, code: str) -> Any:
        row = await conn.fetchrow(sql, code)
        return None if row is None else norm_row(fields, lambda f: row[f])

    module_q = f"query W4($code: String!) {{ follower(code: $code) {{ {_fields_gql(fields)} }} }}"
    pgl_q = (
        f"query W4($code: String!) {{ followerByCode(code: $code) {{ {_fields_pgl(fields)} }} }}"
    )
    return Workload(
        key,
        f"one follower by code, {len(fields)} fields",
        list(codes),
        floor,
        {
            "module": System(
                lambda c: graphql(module_q, {"code": c}),
                lambda d: _from_gql(fields, d["data"]["follower"]),
            ),
            "postgraphile": System(
                lambda c: graphql(pgl_q, {"code": c}),
                lambda d: _from_pgl(fields, d["data"]["followerByCode"]),
            ),
        },
    )


# --- W6: the REST shim and its GraphQL twins ----------------------------------------------


def w6(p: Params, codes: list[str]) -> list[Workload]:
    """REST list/one with every field and with fields=, each with the GraphQL query it
    stands for (REST lists carry `total`, so the list twins select `totalCount` too)."""
    pattern = like_pattern(p.needle)
    out: list[Workload] = []
    for label, fields, sparse in (
        ("sparse", W1_FIELDS, True),
        ("all", ALL_FIELDS, False),
    ):
        sql = sql_list(fields)

        async def floor(
            conn: asyncpg.Connection, _: Any, sql: str = sql, fields: Any = fields
        ) -> Any:
            rows = await conn.fetch(sql, pattern, p.oa, p.limit, p.offset)
            total = await conn.fetchval(SQL_COUNT, pattern, p.oa)
            return (int(total), rows_value(fields, rows))

        query = {
            "eq_ZaloOa": p.oa,
            "filter_Name": p.needle,
            "offset": p.offset,
            "limit": p.limit,
        }
        if sparse:
            query["fields"] = ",".join(rest_name(f) for f in fields)
        path = "/v4/zalo-oa/followers?" + urlencode(query)
        twin_q = (
            "query W6($oa: String!, $needle: String!, $offset: Int!, $limit: Int!) {"
            " followers(filter: {zaloOaCode: {eq: $oa}, name: {contains: $needle}},"
            f" offset: $offset, limit: $limit) {{ totalCount items {{ {_fields_gql(fields)} }} }} }}"
        )
        variables = {"oa": p.oa, "needle": p.needle, "offset": p.offset, "limit": p.limit}
        twin_key = f"W6 list {label} (GraphQL twin)"

        def rest_list(d: Any, fields: Any = fields) -> Any:
            return (int(d["total"]), [_from_rest(fields, i) for i in d["data"]])

        def gql_list(d: Any, fields: Any = fields) -> Any:
            page = d["data"]["followers"]
            return (int(page["totalCount"]), [_from_gql(fields, i) for i in page["items"]])

        out.append(
            Workload(
                twin_key,
                f"GraphQL twin of the REST list ({label}), totalCount included",
                [None],
                floor,
                {"module": System(lambda _, q=twin_q, v=variables: graphql(q, v), gql_list)},
            )
        )
        out.append(
            Workload(
                f"W6 list {label} (REST)",
                f"GET {path}",
                [None],
                floor,
                {"module": System(lambda _, path=path: Request("GET", path), rest_list)},
                compare_to=twin_key,
            )
        )
    for label, fields, sparse in (("sparse", W4_FIELDS, True), ("all", ALL_FIELDS, False)):
        twin = w4(codes, fields, key=f"W6 one {label} (GraphQL twin)")
        twin.systems.pop("postgraphile")
        twin.title = f"GraphQL twin of the REST one ({label})"
        out.append(twin)
        suffix = (
            "?" + urlencode({"fields": ",".join(rest_name(f) for f in fields)}) if sparse else ""
        )

        def rest_one(d: Any, fields: Any = fields) -> Any:
            return _from_rest(fields, d["data"])

        out.append(
            Workload(
                f"W6 one {label} (REST)",
                f"GET /v4/zalo-oa/followers/{{Code}}{suffix}",
                list(codes),
                twin.floor,
                {
                    "module": System(
                        lambda c, s=suffix: Request("GET", f"/v4/zalo-oa/followers/{c}{s}"),
                        rest_one,
                    )
                },
                compare_to=twin.key,
            )
        )
    return out


# --- W5: bulk create ----------------------------------------------------------------------

BULK_FIELDS = [
    "name", "first_name", "last_name", "phone", "email", "address", "province", "district",
    "ward", "birthday", "gender", "member_level", "reward_points", "note", "zalo_oa",
]  # fmt: skip


def bulk_module_request(
    items: list[dict[str, Any]], tag: str, select: str = "affectedCount"
) -> Request:
    inputs = [{"code": f"BK{tag}-{i:04d}", **item} for i, item in enumerate(items)]
    query = (
        "mutation W5($items: [FollowerCreate!]!) { createFollowers(input: $items) "
        f"{{ {select} }} }}"
    )
    return graphql(query, {"items": inputs})


def bulk_pgl_request(items: list[dict[str, Any]], tag: str) -> Request:
    parts = []
    for i, item in enumerate(items):
        values = [f'code: "BK{tag}-{i:04d}"']
        for key, value in item.items():
            name = "zaloOa" if key == "zaloOaCode" else key
            if key == "rewardPoints":
                value = str(value)
            values.append(f"{name}: {json.dumps(value, ensure_ascii=False)}")
        parts.append(
            f"c{i}: createFollower(input: {{follower: {{{', '.join(values)}}}}}) "
            "{ clientMutationId }"
        )
    query = "mutation W5 { " + " ".join(parts) + " }"
    return Request("POST", "/graphql", json.dumps({"query": query}, ensure_ascii=False).encode())


def bulk_floor_rows(items: list[dict[str, Any]], creator: str) -> tuple[list[str], list[list[Any]]]:
    """Column-major arrays for one `INSERT … SELECT * FROM unnest(…)` of the batch, with the
    columns the module itself writes (keyword, created, creator, defaults)."""
    from resolvers.text import keyword

    gql_to_snake = {gql_name(f): f for f in BULK_FIELDS}
    rows = []
    for item in items:
        row = {gql_to_snake[k]: v for k, v in item.items()}
        row["keyword"] = keyword(row.get(s) for s in FOLLOWERS.search_sources)
        rows.append(row)
    columns = [*BULK_FIELDS, "keyword"]
    arrays = [[r.get(c) for r in rows] for c in columns]
    arrays.append(["" for _ in rows])  # created, filled per call
    arrays.append([creator for _ in rows])  # creator
    arrays.append([creator for _ in rows])  # creator_name
    arrays.append([0 for _ in rows])  # is_deleted
    arrays.append([0 for _ in rows])  # is_follower
    return [*columns, "created", "creator", "creator_name", "is_deleted", "is_follower"], arrays


def bulk_floor_sql(columns: list[str]) -> str:
    types = []
    for c in columns:
        kind = F[c].kind
        types.append(
            "numeric" if kind is Kind.DECIMAL else "int" if kind is Kind.INT else "varchar"
        )
    args = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    cols = _cols(columns)
    return (
        f"INSERT INTO followers (code, {cols}, modified) "
        f"SELECT 'BK' || ${len(columns) + 1}::text || '-' || lpad((n - 1)::text, 4, '0'), "
        f"{cols}, now() FROM unnest({args}) WITH ORDINALITY AS u({cols}, n)"
    )

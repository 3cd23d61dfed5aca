"""What the REST shim costs on top of GraphQL: the same page through both front doors.

Runs the app in-process on a SQLite file with ~2,000 followers and times N requests of a
v4 REST list against the equivalent GraphQL query, over the same ASGI transport; prints
both medians and their ratio.

    .venv/bin/python bench/rest_overhead.py [--requests 200] [--followers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from resolvers import _crud
from resolvers import token as tokens
from resolvers.caller import SYSTEM, Scope
from resolvers.resources import FOLLOWERS, OFFICIAL_ACCOUNTS
from zalo_oa import migrate
from zalo_oa.app import create_app
from zalo_oa.settings import Settings

NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Minh Đức", "Đặng Thu Hà"]


def _shapes(limit: int) -> list[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    every = " ".join(f.gql for f in FOLLOWERS.fields)
    return [
        (
            f"full page of {limit} (all {len(FOLLOWERS.fields)} fields)",
            {"limit": limit, "order_by": "-Id"},
            f"query($l: Int!) {{ followers(limit: $l, orderBy: [{{id: DESC}}]) "
            f"{{ totalCount offset limit items {{ {every} }} }} }}",
            {"l": limit},
        ),
        (
            f"sparse filtered page of {limit} (Code,Name)",
            {"limit": limit, "fields": "Code,Name", "filter_Name": "an", "ge_BranchId": "3"},
            "query($l: Int!, $f: FollowerFilter) { followers(limit: $l, filter: $f) "
            "{ totalCount offset limit items { code name } } }",
            {"l": limit, "f": {"name": {"contains": "an"}, "branchId": {"ge": 3}}},
        ),
    ]


async def _seed(settings: Settings, followers: int) -> str:
    app = create_app(settings)
    database = app.state.database
    async with database.sessions() as session:
        await _crud.create_many(
            session, OFFICIAL_ACCOUNTS, [{"code": "OA1", "name": "Shop", "status": 1}], SYSTEM
        )
        rows = [
            {
                "code": f"F{i:05d}",
                "zalo_oa": "OA1",
                "zalo": str(10**15 + i),
                "name": f"{NAMES[i % len(NAMES)]} {i}",
                "phone": f"09{i:08d}",
                "branch_id": i % 10,
                "reward_points": i / 4,
                "email": f"user{i}@shop.vn",
            }
            for i in range(followers)
        ]
        for start in range(0, len(rows), 500):
            result = await _crud.create_many(session, FOLLOWERS, rows[start : start + 500], SYSTEM)
            assert result.ok, result.problems[:3]
        token, _ = await tokens.create(session, "bench", Scope.READ)
        await session.commit()
    await database.dispose()
    return token


async def _time(n: int, send: Callable[[], Awaitable[httpx.Response]]) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        response = await send()
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:300]
    return out


async def main(requests: int, followers: int, limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            data_dir=Path(tmp) / "data",
            _env_file=None,  # type: ignore[call-arg]
        )
        migrate.upgrade(settings)
        token = await _seed(settings, followers)
        app = create_app(settings)
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            print(f"{followers} followers, {requests} requests per door, SQLite, in-process")
            for label, params, query, variables in _shapes(limit):

                async def rest(params: dict[str, Any] = params) -> httpx.Response:
                    return await client.get("/v4/zalo-oa/followers", params=params, headers=headers)

                async def graphql(
                    query: str = query, variables: dict[str, Any] = variables
                ) -> httpx.Response:
                    body = {"query": query, "variables": variables}
                    return await client.post("/graphql", json=body, headers=headers)

                a, b = (await rest()).json(), (await graphql()).json()["data"]["followers"]
                assert a["total"] == b["totalCount"] and len(a["data"]) == len(b["items"])
                await _time(20, rest)  # warm caches (documents, parser, validation, pool)
                await _time(20, graphql)
                rest_ms, gql_ms = [], []
                for _ in range(4):  # interleaved rounds, so drift hits both doors alike
                    rest_ms += await _time(requests // 4, rest)
                    gql_ms += await _time(requests // 4, graphql)
                r, g = statistics.median(rest_ms), statistics.median(gql_ms)
                print(
                    f"  {label}: REST median {r:.2f} ms, GraphQL median {g:.2f} ms, "
                    f"ratio {r / g:.2f} ({r - g:+.2f} ms)"
                )
        await app.state.database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--followers", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.followers, args.limit))

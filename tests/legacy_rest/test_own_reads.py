"""REST reads run as the module's own queries (`routes.Call.read`): each item field aliased
to its REST name, so rows are shaped straight into their REST form. Every request below
goes to the app and to a twin with ``graphql_known_queries=0``, where reads take the
plain document through the whole pipeline and rename the items afterwards; status,
content type and body must be equal. The app's count of queries it answered as known
proves the successful reads took the aliased path, and that the failures did not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Api, comparable, twin_client
from tests.factories import insert, oa

P = "/v4/zalo-oa"
# (id, path, authorized, answered by the aliased document)
CASES: list[tuple[str, str, bool, bool]] = [
    ("list-all", f"{P}/followers?order_by=-Code", True, True),
    ("list-unknown-param", f"{P}/followers?sort=-Code", True, False),
    ("list-sparse", f"{P}/followers?fields=Name,Code,CreditPoints&filter_Name=an", True, True),
    ("list-empty", f"{P}/followers?filter_Name=nobody", True, True),
    ("list-codes", f"{P}/followers?id0=F2&id1=F1&fields=Code", True, True),
    ("one-all", f"{P}/followers/F1", True, True),
    ("one-sparse", f"{P}/followers/F2?fields=ZaloOa,Code", True, True),
    ("one-missing", f"{P}/followers/nobody", True, True),  # 404 from a null row
    ("other-resource", f"{P}/official-accounts?fields=Code,Name", True, True),
    ("secret", f"{P}/official-accounts/OA1", True, True),
    ("unauthenticated", f"{P}/followers", False, False),
    ("bad-param", f"{P}/followers?limit=x", True, False),
    ("bad-filter", f"{P}/followers?filter_CreditPoints=many", True, False),
]


@pytest.fixture
async def plain(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with twin_client(api, graphql_known_queries=0) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "authorized", "aliased"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_reads_answer_as_the_plain_document_does(
    api: Api, plain: httpx.AsyncClient, path: str, authorized: bool, aliased: bool
) -> None:
    db = api.backend.database
    await oa(db, "OA1", app_secret="s3cr3t-value")
    await insert(
        db,
        "followers",
        [
            {"code": "F1", "name": "Trần An", "zalo_oa": "OA1", "credit_points": 2.5},
            {"code": "F2", "name": "Lê Văn Bình", "zalo_oa": "OA1", "sip_password": "pw"},
            {"code": "F3", "name": "Anh", "zalo_oa": None},
        ],
    )
    headers = {"authorization": f"Bearer {api.tokens['admin']}"} if authorized else {}
    known = api.backend.app.state.schema.known
    answers = []
    for client in (api.client, plain):
        before = known.served
        answers.append(comparable(await client.get(path, headers=headers)))
        if client is api.client:
            assert known.served - before == (1 if aliased else 0)
    assert answers[0] == answers[1]
    if aliased:
        assert answers[0][0] in (200, 404)
        assert "s3cr3t" not in answers[0][2]

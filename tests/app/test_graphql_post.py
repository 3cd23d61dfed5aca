"""POST /graphql answered by `gql.http.GraphQLPost` is indistinguishable from Strawberry's
router: every request below goes to the app and to a twin app with
``lean_dispatch=False`` on the same database, and status, content type and body must
be equal. A count of the requests the lean path took proves it took the plain ones and
left the rest to the router."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gql import http
from tests.conftest import Api, comparable, twin_client
from tests.factories import insert, oa

JSON = "application/json"
FOLLOWERS = "query F($n: Int!) { followers(limit: $n) { totalCount items { code name } } }"
TWO = "query A { followers(limit: 1) { totalCount } } query B { officialAccounts { totalCount } }"


def _json(body: str) -> bytes:
    return body.encode()


def _request(query: str, **more: Any) -> bytes:
    return json.dumps({"query": query, **more}).encode()


# (id, query string, headers beyond the token, body, taken by the lean path)
CASES: list[tuple[str, str, dict[str, str], bytes, bool]] = [
    ("plain", "", {}, _request(FOLLOWERS, variables={"n": 2}), True),
    (
        "charset",
        "",
        {"content-type": f"{JSON}; charset=utf-8"},
        _json('{"query": "{ officialAccounts { items { code } } }"}'),
        True,
    ),
    ("operation-name", "", {}, _request(TWO, operationName="B"), True),
    ("no-operation-name", "", {}, _request(TWO), True),
    ("unknown-operation", "", {}, _request(TWO, operationName="C"), True),
    ("syntax-error", "", {}, _json('{"query": "{ followers { "}'), True),
    ("unknown-field", "", {}, _json('{"query": "{ nope }"}'), True),
    ("variables-null", "", {}, _request(FOLLOWERS, variables=None), True),
    ("bad-variable", "", {}, _request(FOLLOWERS, variables={"n": "x"}), True),
    (
        "mutation-error",
        "",
        {},
        _json('{"query": "mutation { deleteFollowers(codes: [], hard: true) { deletedCount } }"}'),
        True,
    ),
    ("subscription", "", {}, _json('{"query": "subscription { messageEvents { kind } }"}'), True),
    (
        "no-token",
        "",
        {"authorization": ""},
        _json('{"query": "{ followers { totalCount } }"}'),
        True,
    ),
    (
        "token-param",
        "?token=TOKEN",
        {"authorization": ""},
        _json('{"query": "{ followers { totalCount } }"}'),
        True,
    ),
    (
        "token-disagrees",
        "?token=other",
        {},
        _json('{"query": "{ followers { totalCount } }"}'),
        True,
    ),
    ("not-json", "", {}, b"{nope", False),
    ("empty-body", "", {}, b"", False),
    ("batch", "", {}, _json('[{"query": "{ followers { totalCount } }"}]'), False),
    ("no-query", "", {}, _json('{"variables": {}}'), False),
    ("empty-query", "", {}, _json('{"query": ""}'), False),
    ("query-not-string", "", {}, _json('{"query": 3}'), False),
    ("variables-list", "", {}, _request(FOLLOWERS, variables=[1]), False),
    (
        "extensions",
        "",
        {},
        _json('{"query": "{ followers { totalCount } }", "extensions": {}}'),
        False,
    ),
    ("text-plain", "", {"content-type": "text/plain"}, _json('{"query": "{ __typename }"}'), False),
]


@pytest.fixture
async def twin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The same app on the same database, every request through Strawberry's router."""
    async with twin_client(api, lean_dispatch=False) as client:
        yield client


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per request body the lean path read: whether it answered it itself."""
    taken: list[bool] = []
    plain = http._plain_request

    def counting(body: bytes) -> Any:
        found = plain(body)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(http, "_plain_request", counting)
    return taken


@pytest.mark.parametrize(
    ("query_string", "headers", "body", "taken"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_lean_post_answers_as_the_router_does(
    api: Api,
    twin: httpx.AsyncClient,
    lean: list[bool],
    query_string: str,
    headers: dict[str, str],
    body: bytes,
    taken: bool,
) -> None:
    await oa(api.backend.database, "OA1")
    await insert(
        api.backend.database, "followers", [{"code": f"F{i}", "name": "An"} for i in range(3)]
    )
    token = api.tokens["admin"]
    sent = {"content-type": JSON, "authorization": f"Bearer {token}", **headers}
    sent = {k: v for k, v in sent.items() if v}
    url = "/graphql" + query_string.replace("TOKEN", token)
    answers = []
    for client in (api.client, twin):
        response = await client.post(url, content=body, headers=sent)
        answers.append(comparable(response))
    assert answers[0] == answers[1]
    # A body of another content type is not even read by the lean path.
    assert lean == (
        [] if sent["content-type"] != JSON and ";" not in sent["content-type"] else [taken]
    )


async def test_lean_post_leaves_other_methods_and_streams_to_the_router(
    api: Api, lean: list[bool]
) -> None:
    headers = {"authorization": f"Bearer {api.tokens['admin']}"}
    got = await api.client.get(
        "/graphql", params={"query": "{ followers { totalCount } }"}, headers=headers
    )
    assert got.status_code == 200 and got.json()["data"]["followers"]["totalCount"] == 0
    streamed = await api.client.post(
        "/graphql",
        json={"query": "{ followers { totalCount } }"},
        headers={**headers, "accept": "text/event-stream"},
    )
    assert streamed.status_code == 200  # the router's answer, whatever it streams
    assert lean == []  # neither body was read by the lean path


async def test_a_subscription_without_a_streaming_transport_is_refused(
    api: Api, twin: httpx.AsyncClient
) -> None:
    """Subscriptions are served over WebSocket or multipart; a plain POST or GET of one is a
    400 that says so, not an internal error from inside the resolver."""
    headers = {"authorization": f"Bearer {api.tokens['admin']}"}
    query = "subscription { messageEvents { kind } }"
    for client in (api.client, twin):
        posted = await client.post("/graphql", json={"query": query}, headers=headers)
        assert (posted.status_code, posted.text) == (
            400,
            "subscriptions are not allowed when using POST",
        )
        got = await client.get("/graphql", params={"query": query}, headers=headers)
        assert got.status_code == 400, got.text
        assert "subscriptions are not allowed" in got.text

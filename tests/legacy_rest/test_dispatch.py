"""`RestDispatch` answers exactly what the app's router answers: every request below goes
to the app and to a twin app with ``lean_dispatch=False`` on the same database, and
status, content type and body must be equal. A count of the requests the dispatcher took
proves it took the endpoint calls and left the rest to the router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from legacy_rest import routes
from resolvers._resource import all_resources
from tests.conftest import Api, comparable, twin_client
from tests.factories import insert, oa
from zalo_oa.app import create_app

P = "/v4/zalo-oa"
# (id, method, path, body, taken by the dispatcher)
CASES: list[tuple[str, str, str, bytes | None, bool]] = [
    ("list", "GET", f"{P}/followers?limit=2&sort=-Code", None, True),
    ("list-sparse", "GET", f"{P}/followers?fields=Code,Name&filter_Name=an", None, True),
    ("list-bad-param", "GET", f"{P}/followers?limit=x", None, True),
    ("one", "GET", f"{P}/followers/F1", None, True),
    ("one-missing", "GET", f"{P}/followers/nobody", None, True),
    ("one-encoded", "GET", f"{P}/followers/F%201", None, True),
    ("create-bad", "POST", f"{P}/followers", b'[{"Code": ""}]', True),
    ("create-not-json", "POST", f"{P}/followers", b"{nope", True),
    ("update-missing", "PUT", f"{P}/followers/nobody", b'{"Name": "x"}', True),
    ("delete-no-codes", "DELETE", f"{P}/followers", None, True),
    ("other-resource", "GET", f"{P}/official-accounts", None, True),
    ("head", "HEAD", f"{P}/followers", None, False),
    ("trailing-slash", "GET", f"{P}/followers/", None, False),
    ("deeper", "GET", f"{P}/followers/F1/more", None, False),
    ("unknown-resource", "GET", f"{P}/nothing", None, False),
    ("wrong-method", "PATCH", f"{P}/followers/F1", b"{}", False),
]


@pytest.fixture
async def twin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The same app on the same database, every REST call through the app's router."""
    async with twin_client(api, lean_dispatch=False) as client:
        yield client


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every request the dispatcher answered itself."""
    seen: list[str] = []
    read_body = routes.read_body

    async def counted(receive: Any) -> bytes:  # the dispatcher's own read of the body
        seen.append("read")
        return await read_body(receive)

    monkeypatch.setattr(routes, "read_body", counted)
    return seen


@pytest.mark.parametrize(
    ("method", "path", "body", "dispatched"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_dispatch_answers_as_the_router_does(
    api: Api,
    twin: httpx.AsyncClient,
    taken: list[str],
    method: str,
    path: str,
    body: bytes | None,
    dispatched: bool,
) -> None:
    await oa(api.backend.database, "OA1")
    await insert(
        api.backend.database,
        "followers",
        [{"code": code, "name": "An", "zalo_oa": "OA1"} for code in ("F1", "F 1", "F2")],
    )
    headers = {"authorization": f"Bearer {api.tokens['admin']}"}
    if body is not None:
        headers["content-type"] = "application/json"
    answers = []
    for client in (api.client, twin):
        response = await client.request(method, path, content=body, headers=headers)
        answers.append(comparable(response))
    assert answers[0] == answers[1]
    assert len(taken) == (1 if dispatched else 0)


async def test_no_other_route_lives_under_a_resource_path(api: Api) -> None:
    """The dispatcher runs before the router, so a route of another kind under a
    resource's path would be shadowed: there must be none."""
    names = {r.rest_path for r in all_resources()}
    paths: list[str] = []

    def walk(items: Any) -> None:
        for item in items:
            if isinstance(getattr(item, "path", None), str):
                paths.append(item.path)
            inner = getattr(item, "routes", None) or getattr(
                getattr(item, "original_router", None), "routes", None
            )
            if inner:
                walk(inner)

    app = create_app(api.backend.settings)
    walk(app.routes)
    await app.state.database.dispose()
    ours = {route.path for route, _ in routes._routes()}
    others = [p for p in paths if p.startswith(P + "/") and p not in ours]
    assert others  # the webhook receiver and the OAuth callback are found
    assert not [p for p in others if p[len(P) + 1 :].split("/")[0] in names]

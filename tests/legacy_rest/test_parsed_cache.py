"""Parsed query strings are kept per app (`legacy_rest.params.ParsedCache`): the same
answer on a hit, never a token kept, never an error kept, never a `Parsed` changed by the
requests that share it, and another app's settings give their own answer."""

from __future__ import annotations

import copy

from legacy_rest.params import LIST, ParsedCache
from tests.conftest import Api, twin_client
from tests.factories import insert, oa

P = "/v4/zalo-oa/followers"


async def _seed(api: Api) -> None:
    await oa(api.backend.database, "OA1")
    await insert(
        api.backend.database,
        "followers",
        [{"code": f"F{i}", "zalo_oa": "OA1", "name": f"Nguyễn An {i}"} for i in range(5)],
    )


def _cache(api: Api) -> ParsedCache:
    cache: ParsedCache = api.backend.app.state.rest_params
    return cache


def _headers(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens['read']}"}


async def test_a_query_string_is_parsed_once(api: Api) -> None:
    await _seed(api)
    cache = _cache(api)
    path = f"{P}?fields=Code,Name&filter_Name=an&order_by=-Code&limit=2&cache-test=1"
    first = await api.client.get(path, headers=_headers(api))
    assert first.status_code == 400  # an unknown parameter: the error is not kept
    path = f"{P}?fields=Code,Name&filter_Name=an&order_by=-Code&limit=2"
    before = len(cache)
    answers = [await api.client.get(path, headers=_headers(api)) for _ in range(3)]
    assert len(cache) == before + 1
    assert {a.text for a in answers} == {answers[0].text}
    assert [f["Code"] for f in answers[0].json()["data"]] == ["F4", "F3"]
    key = ("followers", LIST, path.split("?")[1].encode())
    kept = cache._entries[key]
    snapshot = copy.deepcopy(kept)
    await api.client.get(path, headers=_headers(api))
    assert cache._entries[key] == snapshot  # nothing changed what the requests share
    one = f"{P}/F1?fields=Code,Name"
    for _ in range(2):
        reply = await api.client.get(one, headers=_headers(api))
        assert reply.json()["data"] == {"Code": "F1", "Name": "Nguyễn An 1"}
    assert len(cache) == before + 2


async def test_a_token_in_the_query_string_is_not_kept(api: Api) -> None:
    await _seed(api)
    cache = _cache(api)
    before = len(cache)
    path = f"{P}?fields=Code&limit=1&token={api.tokens['read']}"
    for _ in range(2):
        reply = await api.client.get(path)
        assert reply.status_code == 200, reply.text
    assert len(cache) == before
    assert not any(api.tokens["read"].encode() in key[2] for key in cache._entries)


async def test_each_app_parses_with_its_own_settings(api: Api) -> None:
    await _seed(api)
    path = f"{P}?fields=Code&limit=3"
    assert (await api.client.get(path, headers=_headers(api))).status_code == 200
    async with twin_client(api, max_page_size=2) as small:
        reply = await small.get(path, headers=_headers(api))
        assert reply.status_code == 400, reply.text
        assert "limit" in reply.text

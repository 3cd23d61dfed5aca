"""The HTTP surface: probes, GraphiQL served offline, tokens and scopes, error masking."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resolvers import _crud
from resolvers import token as tokens
from tests.conftest import Api
from zalo_oa import migrate
from zalo_oa.logs import redact


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}


async def test_readiness_reports_a_schema_behind_the_code(api: Api) -> None:
    async with api.backend.database.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["migrations"] == "out of date"
    finally:
        async with api.backend.database.engine.begin() as connection:
            head = migrate.expected_head()
            await connection.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head}
            )
    assert (await api.client.get("/readyz")).status_code == 200


def test_a_serving_worker_imports_neither_alembic_nor_httpx_cli(tmp_path: Path) -> None:
    """~20 MB of a worker's RSS: Alembic (head handed down by `serve`) and httpx's CLI."""
    probe = (
        "import sys, zalo_oa.app; zalo_oa.app.serve_app(); "
        "print(sorted(m for m in ('alembic', 'mako', 'rich', 'pygments') if m in sys.modules))"
    )
    env = {
        **os.environ,
        "ZALO_OA_DATA_DIR": str(tmp_path),
        "ZALO_OA_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        migrate.HEAD_ENV: "0004",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr


async def test_graphiql_page_and_assets_are_local(api: Api) -> None:
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    asset = await api.client.get("/graphql/static/graphiql.min.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        ({"Authorization": "Bearer zoa_forged"}, {}),
        ({"Authorization": "Bearer nonsense"}, {}),
        ({}, {"token": "zoa_truncated"}),
    ],
)
async def test_missing_or_bad_token_is_unauthenticated(
    api: Api, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ followers { totalCount } }"}, headers=headers, params=params
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_token_in_header_and_query_must_agree(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ followers { totalCount } }"},
        headers={"Authorization": f"Bearer {api.tokens['read']}"},
        params={"token": api.tokens["write"]},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    same = await api.client.post(
        "/graphql",
        json={"query": "{ followers { totalCount } }"},
        headers={"Authorization": f"Bearer {api.tokens['read']}"},
        params={"token": api.tokens["read"]},
    )
    assert same.json()["data"]["followers"]["totalCount"] == 0


async def test_read_token_cannot_mutate(api: Api) -> None:
    errors = await api.errors(
        'mutation { createWebhooks(input: [{name: "x"}]) { affectedCount } }', scope="read"
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    data = await api.data("{ webhooks { totalCount } }", scope="read")
    assert data["webhooks"]["totalCount"] == 0


async def test_revoked_token_stops_working(api: Api) -> None:
    async with api.backend.database.sessions() as session:
        rows = await tokens.list_all(session)
        read_id = next(r.id for r in rows if r.scope == "read")
        await tokens.revoke(session, read_id)
        await session.commit()
    errors = await api.errors("{ webhooks { totalCount } }", scope="read")
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_revocation_made_elsewhere_applies_within_the_cache_time(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (the CLI, another instance) revokes in the database only: this process
    keeps trusting the token it checked for at most ``token_cache_seconds``."""
    monkeypatch.setattr(tokens.CACHE, "ttl", 0.5)
    query = "{ webhooks { totalCount } }"
    assert await api.data(query, scope="write")  # checked once, now cached
    table = tokens._table
    async with api.backend.database.sessions() as session:
        await session.execute(
            sa.update(table).where(table.c.scope == "write").values(revoked=_crud.utcnow())
        )
        await session.commit()
    assert await api.data(query, scope="write")  # still trusted from the cache
    await asyncio.sleep(0.6)
    errors = await api.errors(query, scope="write")
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_body_over_the_cap_is_413(api: Api) -> None:
    cap = api.backend.settings.max_body_bytes
    response = await api.client.post(
        "/graphql", content=b"x" * (cap + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("raw", [b"{not json", b"[1,", b"\xff\xfe"], ids=repr)
async def test_graphql_body_that_is_not_json_is_400(api: Api, raw: bytes) -> None:
    response = await api.client.post(
        "/graphql",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api.tokens['admin']}",
        },
    )
    assert response.status_code == 400, response.text
    assert "JSON" in response.text


async def test_depth_and_alias_limits(api: Api) -> None:
    deep = (
        "{ followers { items { zaloOa { followers { items { zaloOa { followers { items { "
        "zaloOa { followers { items { zaloOa { code } } } } } } } } } } } } }"
    )
    errors = await api.errors(deep)
    assert "depth" in errors[0]["message"]
    aliases = " ".join(f"a{i}: followers(limit: 1000) {{ totalCount }}" for i in range(100))
    errors = await api.errors("{ " + aliases + " }")
    assert "aliases" in errors[0]["message"].lower()


async def test_unexpected_errors_are_masked(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(_crud, "count", broken)
    errors = await api.errors("{ followers { totalCount } }")
    assert errors[0]["message"] == "Internal error."
    assert errors[0]["extensions"]["code"] == "INTERNAL"
    assert errors[0]["extensions"]["requestId"]
    assert "SELECT" not in str(errors)


async def test_query_cost_limit(api: Api) -> None:
    costly = "{ followers(limit: 1000) { items { messages(limit: 1000) { items { code } } } } }"
    errors = await api.errors(costly)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "cost" in errors[0]["message"]
    via_variables = await api.errors(
        "query($n: Int!) { followers(limit: $n) { items { messages(limit: $n) "
        "{ items { code } } } } }",
        {"n": 500},
    )
    assert "cost" in via_variables[0]["message"]
    fine = await api.data(
        "{ followers(limit: 50) { items { messages(limit: 5) { items { code } } } } }"
    )
    assert fine["followers"]["items"] == []


async def test_request_log_has_an_id_and_no_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zalo_oa.request")
    token = api.tokens["read"]
    response = await api.client.post(
        "/graphql",
        params={"token": token},
        json={"query": "{ followers { totalCount } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    request_id = response.headers["x-request-id"]
    lines = [r for r in caplog.records if r.name == "zalo_oa.request"]
    assert lines and getattr(lines[-1], "request_id", None) == request_id
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in text and "token=***" in text


def test_redaction_patterns() -> None:
    assert redact("GET /v4/x?token=zoa_abc123456789&limit=5") == "GET /v4/x?token=***&limit=5"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert "s3cr3t" not in redact('{"secret_key": "s3cr3t", "access_token": "t0k"}')
    assert redact("a zoa_abcdefghijkl token") == "a zoa_*** token"
    # the words are found in any case, as the patterns find them
    assert redact("GET /v4/x?TOKEN=abc&limit=5") == "GET /v4/x?TOKEN=***&limit=5"
    assert redact("AUTHORIZATION: BEARER abc.def") == "AUTHORIZATION: BEARER ***"
    assert redact('{"App_Secret": "s3cr3t"}') == '{"App_Secret": "***"}'
    assert redact("Code_Verifier=xyz") == "Code_Verifier=***"
    assert redact("POST /graphql 200 3.1ms") == "POST /graphql 200 3.1ms"


async def test_tokens_through_graphql_are_admin_only(api: Api) -> None:
    created = await api.data(
        'mutation { createApiToken(module: "crm", scope: WRITE) '
        "{ token apiToken { id module scope revoked } } }"
    )
    new = created["createApiToken"]
    assert new["token"].startswith("zoa_") and new["apiToken"]["scope"] == "WRITE"
    api.tokens["crm"] = new["token"]
    made = await api.data(
        'mutation { createWebhooks(input: [{name: "w"}]) { items { user } } }', scope="crm"
    )
    assert made["createWebhooks"]["items"] == [{"user": "crm"}]
    errors = await api.errors(
        'mutation { createApiToken(module: "x", scope: READ) { token } }', scope="write"
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    listed = await api.data("{ apiTokens { module } }")
    assert "crm" in [t["module"] for t in listed["apiTokens"]]
    assert new["token"] not in str(listed)
    revoked = await api.data(
        f"mutation {{ revokeApiToken(id: {new['apiToken']['id']}) {{ revoked }} }}"
    )
    assert revoked["revokeApiToken"]["revoked"]
    errors = await api.errors("{ webhooks { totalCount } }", scope="crm")
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_metrics_move_after_traffic(api: Api) -> None:
    def sample(text: str, name: str, **labels: str) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            if line.startswith(f"{name}{{") and all(p in line for p in wanted.split(",")):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = (await api.client.get("/metrics")).text
    await api.data("query Probe { followers { totalCount } }")
    await api.data(
        'mutation { createMessages(input: [{zaloOaCode: "OA1", text: "x", '
        'direction: "in"}]) { affectedCount } }',
        expect_errors=True,
    )
    headers = {"Authorization": f"Bearer {api.tokens['read']}"}
    # Found by the REST dispatcher, labelled by its route template, not the raw path.
    await api.client.get("/v4/zalo-oa/followers/F-metrics", headers=headers)
    after = (await api.client.get("/metrics")).text
    assert sample(
        after, "zalo_oa_http_requests_total", route="/graphql", method="POST", status="200"
    ) > sample(before, "zalo_oa_http_requests_total", route="/graphql", method="POST", status="200")
    one = {"route": "/v4/zalo-oa/followers/{Code}", "method": "GET", "status": "404"}
    assert sample(after, "zalo_oa_http_requests_total", **one) > sample(
        before, "zalo_oa_http_requests_total", **one
    )
    assert "F-metrics" not in after
    assert sample(after, "zalo_oa_graphql_operations_total", operation="Probe") >= 1
    assert "zalo_oa_queue_depth" in after and "zalo_oa_http_request_duration_seconds" in after


async def test_a_client_that_leaves_before_its_body_is_a_499_not_a_server_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"authorization", f"Bearer {api.tokens['read']}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    with caplog.at_level(logging.INFO):
        await api.backend.app(scope, receive, send)  # raises nothing
    assert sent == []  # nobody to answer
    lines = [r for r in caplog.records if r.name == "zalo_oa.request"]
    assert lines and getattr(lines[-1], "status", None) == 499
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_large_bodies_are_served_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from zalo_oa import app
    from zalo_oa.app import BodyLimit

    assert app._malloc_trim is not None  # glibc, as in the image and CI
    inside = peak = 0
    trims: list[int] = []
    monkeypatch.setattr(app, "_release_free_memory", lambda: trims.append(inside))

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.05)
        inside -= 1

    limit = BodyLimit(endpoint, max_bytes=10_000, large_bytes=100, large_at_once=2)

    async def call(size: int) -> None:
        scope = {"type": "http", "headers": [(b"content-length", str(size).encode())]}
        await limit(scope, None, None)  # type: ignore[arg-type]

    await asyncio.gather(*(call(5_000) for _ in range(6)))
    assert peak == 2
    # Free heap pages go back to the system once a burst of large bodies is over, and
    # only then (six queued bodies are one burst).
    assert trims == [0]
    peak = 0
    await asyncio.gather(*(call(99) for _ in range(6)))
    assert peak == 6
    assert trims == [0]

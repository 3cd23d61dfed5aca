"""A person's first steps, in a real browser: GraphiQL runs a query with a token, /docs opens.

Needs Chromium (Debian's package; .ci/run installs it) and Playwright's Python driver; the
test is skipped when either is missing, except in CI (ZALO_OA_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.conftest import Api
from tests.factories import oa

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

if (CHROMIUM is None or sync_playwright is None) and not os.environ.get("ZALO_OA_REQUIRE_BROWSER"):
    pytest.skip("Chromium or Playwright is not installed", allow_module_level=True)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveServer:
    """The app under a real uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live(api: Api) -> Iterator[LiveServer]:
    if api.backend.name != "sqlite":
        pytest.skip("one browser run is enough (SQLite)")
    with LiveServer(api.backend.app) as server:
        yield server


QUERY = "{ officialAccounts { totalCount items { code name } } }"


async def test_graphiql_runs_a_query_and_docs_open(api: Api, live: LiveServer) -> None:
    await oa(api.backend.database, "OA07", name="Cửa hàng Hà Nội")
    token = api.tokens["read"]
    result = await asyncio.to_thread(_browse, live.url, token)
    assert '"totalCount": 1' in result["response"], result
    assert "Cửa hàng Hà Nội" in result["response"]
    assert "followers" in result["docs"].lower()


def _browse(url: str, token: str) -> dict[str, str]:
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        external: list[str] = []
        page.on(
            "request",
            lambda r: (
                external.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None
            ),
        )
        page.goto(f"{url}/graphql?token={token}")
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=20_000)
        page.evaluate(
            "q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
            ".setValue(q)",
            QUERY,
        )
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "() => (document.querySelector('.graphiql-response') || {}).innerText"
            "?.includes('totalCount')",
            timeout=20_000,
        )
        response = page.inner_text(".graphiql-response")
        page.screenshot(path=os.environ.get("ZALO_OA_SCREENSHOT", "/tmp/graphiql.png"))
        page.goto(f"{url}/docs")
        page.get_by_text("/v4/zalo-oa/followers").first.wait_for(timeout=20_000)
        docs = page.inner_text("body")
        browser.close()
    assert not external, f"the page fetched from outside the module: {external[:3]}"
    return {"response": response, "docs": docs}

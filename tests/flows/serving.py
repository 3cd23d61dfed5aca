"""Real HTTP for the webhook flows: the app (or a test receiver) under uvicorn on loopback, in
the test's own event loop, and the module as separate processes that tests can SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import Api
from tests.factories import oa
from zalo.sandbox.seed import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_OA_ID, DEMO_OA_SECRET_KEY
from zalo.signature import webhook_signature
from zalo_oa.db import Database
from zalo_oa.http_protocol import UVICORN_HTTP
from zalo_oa.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
USER = "2512523625412515"  # the demo world's first follower


@pytest.fixture(autouse=True)
def fresh_accounts(api: Api) -> None:
    """The receiver caches accounts for a moment; each test starts with its own."""
    api.backend.app.state.hooks.forget()


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port from this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, http=UVICORN_HTTP
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class FlakyReceiver:
    """A module that receives deliveries: answers ``statuses`` in turn (on ``path`` only, if
    given), then 200."""

    def __init__(self, *statuses: int, path: str | None = None) -> None:
        self.statuses = list(statuses)
        self.path = path
        self.seen: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        flaky = self.path is None or request.url.path == self.path
        status = self.statuses.pop(0) if self.statuses and flaky else 200
        self.seen.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": body,
                "status": status,
            }
        )
        return JSONResponse({"ok": status < 300}, status_code=status)


def signed(
    payload: dict[str, Any],
    *,
    secret: str = DEMO_OA_SECRET_KEY,
    app_id: str = DEMO_APP_ID,
    prefix: str = "mac=",
) -> tuple[bytes, dict[str, str]]:
    """A Zalo-style body (with a fresh ``timestamp`` unless given) and its signature header."""
    payload = {"app_id": app_id, "timestamp": str(int(time.time() * 1000)), **payload}
    body = json.dumps(payload, ensure_ascii=False).encode()
    mac = webhook_signature(app_id, body, str(payload["timestamp"]), secret)
    return body, {"Content-Type": "application/json", "X-ZEvent-Signature": prefix + mac}


def user_text(text: str, msg_id: str, user: str = USER) -> dict[str, Any]:
    return {
        "event_name": "user_send_text",
        "sender": {"id": user},
        "recipient": {"id": DEMO_OA_ID},
        "message": {"text": text, "msg_id": msg_id},
        "user_id_by_app": "555",
    }


async def demo_oa(database: Database, code: str = "DEMO", **values: Any) -> None:
    """An OA that Zalo's demo app signs webhooks for (no OAuth needed to receive)."""
    await oa(
        database,
        code,
        app_id=DEMO_APP_ID,
        app_secret=DEMO_APP_SECRET,
        oa_id=DEMO_OA_ID,
        oa_secret_key=DEMO_OA_SECRET_KEY,
        webhook_user="crm-webhook",
        is_default=True,
        **values,
    )


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 10.0, every: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s: {found!r}")
        await asyncio.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ModuleProcess:
    """``python -m tests.flows.hook_runner``: the whole module (workers included) in a child
    process on the test's database, so a test can kill it like a crash would."""

    def __init__(self, settings: Settings, *, hold: bool = False) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ZALO_OA_DATABASE_URL": settings.database_url,
            "ZALO_OA_DATA_DIR": str(settings.data_dir),
            "ZALO_OA_OAUTH_BASE_URL": settings.oauth_base_url,
            "ZALO_OA_OPENAPI_BASE_URL": settings.openapi_base_url,
            "ZALO_OA_ZNS_BASE_URL": settings.zns_base_url,
            "ZALO_OA_RETRY_BASE_SECONDS": "0.2",
            "ZALO_OA_LOG_LEVEL": "WARNING",
        }
        env.pop("ZALO_OA_SECRET_KEY", None)
        args = [sys.executable, "-m", "tests.flows.hook_runner", str(self.port)]
        self.process = subprocess.Popen(
            [*args, "--hold"] if hold else args, cwd=ROOT, env=env, start_new_session=True
        )

    async def ready(self, within: float = 30.0) -> ModuleProcess:
        async with httpx.AsyncClient(base_url=self.base_url) as client:

            async def up() -> bool:
                if self.process.poll() is not None:
                    raise AssertionError(f"the module exited with {self.process.returncode}")
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, within, every=0.1)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

"""Running the sandbox for tests: a uvicorn thread on a free port, and its control client."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from zalo.sandbox.app import create_app


class SandboxServer:
    """The sandbox served on a free loopback port from a background thread.

    ``with SandboxServer(seed) as server:`` gives ``server.base_url`` and the three Zalo base
    URLs to hand to :class:`zalo.client.ZaloClient`.
    """

    def __init__(
        self, seed: dict[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = create_app(seed)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def oauth_base_url(self) -> str:
        return f"{self.base_url}/oauth"

    @property
    def openapi_base_url(self) -> str:
        return f"{self.base_url}/openapi"

    @property
    def zns_base_url(self) -> str:
        return f"{self.base_url}/zns"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Zalo sandbox did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SandboxControl:
    """Async client for the ``/__fake`` control API (shapes in :mod:`zalo.sandbox`)."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(
            base_url=f"{base_url.rstrip('/')}/__fake", timeout=10.0, transport=transport
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self._http.post(path, json=body or {})
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox {path}: {response.status_code} {response.text}")
        return response.json()

    async def reset(self, seed: dict[str, Any] | None = None) -> Any:
        return await self._post("/reset", seed)

    async def seed(self, seed: dict[str, Any]) -> Any:
        return await self._post("/seed", seed)

    async def advance(self, seconds: float) -> Any:
        return await self._post("/clock", {"advance_seconds": seconds})

    async def knobs(self, **values: Any) -> Any:
        return await self._post("/knobs", values)

    async def tokens(self, app_id: str, oa_id: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"app_id": app_id, **({"oa_id": oa_id} if oa_id else {}), **extra}
        pair: dict[str, Any] = await self._post("/tokens", body)
        return pair

    async def state(self) -> dict[str, Any]:
        response = await self._http.get("/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    async def webhook_target(self, url: str | None, app_id: str | None = None) -> Any:
        return await self._post(
            "/webhook/target", {"url": url, **({"app_id": app_id} if app_id else {})}
        )

    async def emit(self, event_name: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._post(
            "/webhook/emit", {"event_name": event_name, **fields}
        )
        return result

    async def flush(self, order: str = "fifo") -> Any:
        return await self._post("/webhook/flush", {"order": order})

    async def inbox(self) -> list[dict[str, Any]]:
        response = await self._http.get("/webhook/inbox")
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def clear_inbox(self) -> None:
        await self._http.delete("/webhook/inbox")

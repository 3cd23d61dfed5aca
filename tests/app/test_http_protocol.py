"""`zalo_oa.http_protocol`: what a response writes in one event-loop step reaches the socket
as one write, over a real socket; and uvicorn serving with the protocol answers plain,
streamed, large and keep-alive responses byte for byte."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.flows.serving import serving
from zalo_oa.app import _fastapi_telemetry
from zalo_oa.http_protocol import FLUSH_AT, CoalescingTransport


class Writes:
    """A transport's writes, recorded on their way to it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.seen: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.seen.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[CoalescingTransport, Writes, socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    writes = Writes(transport)
    return CoalescingTransport(writes, loop), writes, theirs  # type: ignore[arg-type]


async def _closed(coalescing: CoalescingTransport, peer: socket.socket) -> None:
    if not coalescing.is_closing():
        coalescing.close()
    for _ in range(3):  # the transport lets its socket go on the next turns of the loop
        await asyncio.sleep(0)
    peer.close()


async def _received(peer: socket.socket, size: int) -> bytes:
    peer.setblocking(False)
    loop = asyncio.get_running_loop()
    got = b""
    while len(got) < size:
        got += await asyncio.wait_for(loop.sock_recv(peer, size - len(got)), 5)
    return got


async def test_writes_in_one_step_reach_the_socket_as_one() -> None:
    coalescing, writes, peer = await _pair()
    head, body = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", b"{}"
    coalescing.write(head)
    coalescing.write(body)
    assert writes.seen == []
    assert coalescing.get_write_buffer_size() == len(head + body)
    await asyncio.sleep(0)
    assert writes.seen == [head + body]
    assert await _received(peer, len(head + body)) == head + body
    coalescing.write(b"next")  # a later step: a write of its own
    await asyncio.sleep(0)
    assert writes.seen[1:] == [b"next"]
    await _closed(coalescing, peer)


async def test_a_large_step_goes_out_at_once_and_close_flushes_first() -> None:
    coalescing, writes, peer = await _pair()
    coalescing.write(b"a" * 10)
    coalescing.write(b"b" * FLUSH_AT)  # past the threshold: no waiting for the step's end
    assert writes.seen == [b"a" * 10 + b"b" * FLUSH_AT]
    coalescing.write(b"tail")
    coalescing.close()  # the pending write goes out before the connection closes
    assert writes.seen[-1] == b"tail"
    assert await _received(peer, 10 + FLUSH_AT + 4) == b"a" * 10 + b"b" * FLUSH_AT + b"tail"
    await asyncio.sleep(0)  # the scheduled flush finds nothing more to send
    assert len(writes.seen) == 2
    await _closed(coalescing, peer)


async def test_abort_drops_what_is_pending() -> None:
    coalescing, writes, peer = await _pair()
    coalescing.write(b"never")
    coalescing.abort()
    await asyncio.sleep(0)
    assert writes.seen == []
    await _closed(coalescing, peer)


BIG = bytes(range(256)) * 20_000  # 5 MB


async def _stream() -> AsyncIterator[bytes]:
    for i in range(50):
        yield f"chunk {i}\n".encode()
        await asyncio.sleep(0)


async def _plain(_: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "text": "Nguyễn Văn An"})


async def _big(_: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def _streamed(_: Request) -> StreamingResponse:
    return StreamingResponse(_stream(), media_type="text/plain")


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


APP = Starlette(
    routes=[
        Route("/plain", _plain),
        Route("/big", _big),
        Route("/streamed", _streamed),
        Route("/echo", _echo, methods=["POST"]),
    ]
)


async def test_uvicorn_with_the_protocol_answers_every_kind_of_response() -> None:
    async with serving(APP) as base, httpx.AsyncClient(base_url=base) as client:
        for _ in range(20):  # one keep-alive connection, request after request
            response = await client.get("/plain")
            assert response.status_code == 200
            assert response.json() == {"ok": True, "text": "Nguyễn Văn An"}
        big = await client.get("/big")
        assert big.content == BIG
        streamed = await client.get("/streamed")
        assert streamed.text == "".join(f"chunk {i}\n" for i in range(50))
        echoed = await client.post("/echo", content=BIG)
        assert echoed.content == BIG
        answers = await asyncio.gather(*(client.get("/plain") for _ in range(32)))
        assert {a.status_code for a in answers} == {200}


def test_fastapi_telemetry_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    assert _fastapi_telemetry() == {"tracing": False, "metrics": False, "logs": False}
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert _fastapi_telemetry() is None  # FastAPI's own default: on once configured

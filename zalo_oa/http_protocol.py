"""uvicorn's httptools protocol, with what a response writes in one step sent at once.

uvicorn hands a response's status line and headers to the socket as soon as the app sends
``http.response.start``, and its body on ``http.response.body``: a small JSON answer costs
two ``send`` system calls and two TCP segments, and the peer two reads. On loopback under
load, one write instead of two made a one-row query ~9 % cheaper in CPU time (docs/performance.md,
eighth round). `CoalescingTransport` keeps what is written during one step of the event loop
and passes it to the socket once, at the end of that step; what the app sends across steps
(a streamed body) still goes out as it comes. A step's writes past `FLUSH_AT` bytes go out at
once, so the transport's own flow control (``pause_writing`` once its buffer is full) still
holds a producer that writes a lot without yielding.

uvicorn takes the protocol by name (`UVICORN_HTTP`); `zalo_oa.cli serve` passes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_AT = 64 * 1024
UVICORN_HTTP = "zalo_oa.http_protocol:CoalescingHttpTools"  # uvicorn's ``http`` option


class CoalescingTransport:
    """A transport whose writes within one event-loop step reach the socket as one."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending = [bytes(data)]
            self._size = len(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))
            self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        self._size = 0
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    @property
    def transport(self) -> asyncio.Transport:
        return self._transport

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # what was written goes out before the connection closes
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._size = 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the socket's transport
        return getattr(self._transport, name)


class CoalescingHttpTools(HttpToolsProtocol):
    """`HttpToolsProtocol` writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped: Any = CoalescingTransport(transport, self.loop)
        super().connection_made(wrapped)

    def handle_websocket_upgrade(self) -> None:
        # A WebSocket goes on with the socket's own transport: its frames are one write
        # each already. (Coalesced, a flow test's subscription was seen to keep an SQLite
        # write lock past its server's shutdown now and then; see docs/design.md.)
        wrapped: Any = self.transport
        wrapped.flush()
        self.transport = wrapped.transport
        super().handle_websocket_upgrade()

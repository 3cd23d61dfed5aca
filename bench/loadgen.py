"""Load generators: wrk (closed loop, for W1-W6), the asyncpg floor loop, and an open-loop
HTTP client at a fixed rate for the webhook workload (W8), which wrk cannot do."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench.procs import ROOT, Server
from bench.workloads import UNKNOWN_CODE, Request

LUA = ROOT / "bench" / "wrk" / "requests.lua"


def write_requests(path: Path, requests: Sequence[Request]) -> Path:
    with path.open("wb") as out:
        out.write(f"{len(requests)}\n".encode())
        for r in requests:
            out.write(f"{r.method} {r.path} {len(r.body)}\n".encode())
            out.write(r.body)
            out.write(b"\n")
    return path


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Measure:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int = 0
    errors: int = 0
    peak_rss: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def combined(parts: Sequence[Measure]) -> Measure:
    """One measurement of several slices of the same load: their requests over their
    time, the median of their p50s and the highest of their p99s (wrk reports
    percentiles, not latencies), their peak RSS, their bad answers and errors."""
    p50s = sorted(m.p50_ms for m in parts)
    return Measure(
        requests=sum(m.requests for m in parts),
        seconds=sum(m.seconds for m in parts),
        p50_ms=p50s[len(p50s) // 2],
        p99_ms=max(m.p99_ms for m in parts),
        bad=sum(m.bad for m in parts),
        errors=sum(m.errors for m in parts),
        peak_rss=max(m.peak_rss for m in parts),
        extra={"slices": [m.extra for m in parts]},
    )


async def _sample_until(proc: asyncio.subprocess.Process, server: Server | None) -> int:
    peak = 0
    while proc.returncode is None:
        if server is not None:
            peak = max(peak, server.sample())
        try:
            await asyncio.wait_for(proc.wait(), timeout=0.2)
        except TimeoutError:
            pass
    return peak


def _unknown_share(requests_file: Path) -> tuple[int, int]:
    """(requests for the unknown code, all requests) of a requests file."""
    lines = requests_file.read_bytes().split(b"\n")
    heads = [x for x in lines if x.startswith((b"GET ", b"POST ", b"PUT ", b"DELETE "))]
    return sum(UNKNOWN_CODE.encode() in h for h in heads), int(lines[0])


async def run_wrk(
    base_url: str,
    requests_file: Path,
    connections: int,
    seconds: float,
    auth: str | None,
    server: Server | None,
    nonce: str = "0",
    threads: int = 2,
) -> Measure:
    threads = min(threads, connections)
    env = dict(os.environ)
    env.update(
        {
            "BENCH_REQUESTS": str(requests_file),
            "BENCH_AUTH": auth or "",
            "BENCH_NONCE": nonce,
            "BENCH_THREADS": str(threads),
        }
    )
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "120s",
        "-s",
        str(LUA),
        base_url,
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    reader = asyncio.create_task(proc.stdout.read())  # type: ignore[union-attr]
    peak = await _sample_until(proc, server)
    output = (await reader).decode(errors="replace")
    line = next((x for x in output.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    # A 404 NOT_FOUND is right only for the unknown code among the cases: wrk replays them
    # round robin, so each thread meets it at most once per pass over the list.
    unknown, cases = _unknown_share(requests_file)
    passes = -(-data["requests"] // max(cases, 1)) + threads
    # wrk counts every 404 among its status errors too
    data["status"] -= data["missing"]
    data["bad"] += max(0, data["missing"] - unknown * passes)
    return Measure(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        bad=data["bad"] + data["status"],
        errors=errors,
        peak_rss=peak,
        extra={"wrk": data},
    )


async def run_floor(
    url: str,
    op: Callable[[asyncpg.Connection, Any], Awaitable[Any]],
    cases: Sequence[Any],
    connections: int,
    seconds: float,
) -> Measure:
    """The same SQL in an asyncpg loop: ``connections`` loops, no HTTP, no GraphQL."""
    pool = [await asyncpg.connect(url) for _ in range(connections)]
    latencies: list[float] = []
    done = 0
    stop_at = 0.0

    async def loop(conn: asyncpg.Connection, start: int) -> None:
        nonlocal done
        i = start
        while True:
            t = time.perf_counter()
            if t >= stop_at:
                return
            await op(conn, cases[i % len(cases)])
            latencies.append(time.perf_counter() - t)
            done += 1
            i += 1

    try:
        for conn in pool:  # warm the statement caches
            await op(conn, cases[0])
        begin = time.perf_counter()
        stop_at = begin + seconds
        await asyncio.gather(
            *(loop(c, k * max(1, len(cases) // connections)) for k, c in enumerate(pool))
        )
        elapsed = time.perf_counter() - begin
    finally:
        for conn in pool:
            await conn.close()
    return Measure(
        requests=done,
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
    )


# --- open loop at a fixed rate (W8) ---------------------------------------------------------


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    async def roundtrip(self, raw: bytes) -> tuple[int, bytes, bool]:
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        keep = headers.get("connection", "").lower() != "close"
        return status, body, keep


class OpenLoop:
    """Sends pre-built HTTP/1.1 requests at fixed times over a pool of keep-alive
    connections; latency is measured from each request's scheduled time, so a stalled
    server is charged for the queue it causes (no coordinated omission)."""

    def __init__(
        self, host: str, port: int, max_connections: int = 256, keep_alive: float = 4.0
    ) -> None:
        self.host = host
        self.port = port
        self.max = max_connections
        self.keep_alive = keep_alive  # below uvicorn's 5 s keep-alive timeout
        self.idle: list[_Conn] = []
        self.opened = 0
        self.waiters: list[asyncio.Future[_Conn]] = []

    async def _acquire(self, fresh: bool = False) -> _Conn:
        while self.idle and not fresh:
            conn = self.idle.pop()
            if time.monotonic() - conn.idle_since < self.keep_alive:
                return conn
            conn.writer.close()  # the server has (or is about to have) closed it
            self.opened -= 1
        if self.opened < self.max or fresh:
            self.opened += 1
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.opened -= 1
                raise
            return _Conn(reader, writer)
        future: asyncio.Future[_Conn] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        return await future

    def _release(self, conn: _Conn | None) -> None:
        if conn is None:
            self.opened -= 1
            return
        conn.idle_since = time.monotonic()
        if self.waiters:
            self.waiters.pop(0).set_result(conn)
        else:
            self.idle.append(conn)

    async def run(self, requests: Sequence[bytes], rate: float) -> Measure:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        failures: dict[str, int] = {}
        errors = 0
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05

        async def one(raw: bytes, due: float) -> None:
            nonlocal errors
            for attempt in (1, 2):
                try:
                    # a kept-alive socket the server closed gets one retry, on a new one
                    conn = await self._acquire(fresh=attempt == 2)
                except OSError as exc:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    if attempt == 2:
                        errors += 1
                        return
                    continue
                try:
                    status, _, keep = await conn.roundtrip(raw)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    conn.writer.close()
                    self._release(None)
                    if attempt == 2:
                        errors += 1
                        return
            latencies.append(loop.time() - due)
            statuses[status] = statuses.get(status, 0) + 1
            if keep:
                self._release(conn)
            else:
                conn.writer.close()
                self._release(None)

        tasks = []
        for i, raw in enumerate(requests):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(raw, due)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
        for conn in self.idle:
            conn.writer.close()
        ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
        return Measure(
            requests=len(latencies),
            seconds=elapsed,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            bad=len(requests) - ok,
            errors=errors,
            extra={
                "statuses": statuses,
                "socket_failures": failures,
                "mean_ms": statistics.fmean(latencies) * 1000 if latencies else None,
            },
        )


def wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "wrk ?"

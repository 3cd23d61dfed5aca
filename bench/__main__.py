"""bench/run: the whole benchmark in one command (see docs/performance.md).

Starts a throwaway PostgreSQL, migrates it with `zalo-oa migrate`, loads the fixed-seed data
set with COPY, starts the module as in production (`zalo-oa serve --workers 2`) and
PostGraphile v5 on the same database, measures the floor (the same SQL over asyncpg, no
HTTP), drives every workload with wrk at concurrency 16 and 64, checks answers against the
floor's values, counts SQL statements per request with pg_stat_statements, and prints one
table. Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import data, loadgen, procs, workloads
from bench.procs import ROOT, Server
from bench.workloads import Request, Workload

MB = 1024 * 1024
EXCLUDED_PREFIXES = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START TRANSACTION")


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


@dataclass
class Ready:
    """A system prepared for measurement on one workload (`Bench.prepare`)."""

    workload: Workload
    system: str
    path: Path  # its wrk request file
    per_req: float  # SQL statements per request
    seen: list[Any]  # the statements counted


# W6's pairs are measured in this many alternating slices each (`Bench.paired_workloads`).
PAIRED_SLICES = 3


@dataclass
class Row:
    workload: str
    system: str
    conc: int | None
    rate: float | None = None
    unit: str = "req/s"
    p50_ms: float | None = None
    p99_ms: float | None = None
    stmts: float | None = None
    rss_mb: float | None = None
    floor_ratio: float | None = None
    check: str = "ok"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def excluded(query: str) -> bool:
    q = query.lstrip().upper()
    return (
        q.startswith(EXCLUDED_PREFIXES)
        or "API_TOKENS" in q
        or "PG_STAT_STATEMENTS" in q
        or "PG_STAT_ACTIVITY" in q  # the bench's own
    )


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.size = data.SIZES[args.size]
        self.params = workloads.params_for(args.size)
        self.duration = args.duration or (3.0 if args.size == "tiny" else 15.0)
        self.warmup = 1.0 if args.size == "tiny" else 2.0
        self.concurrency = [int(c) for c in args.concurrency.split(",")]
        self.workdir = Path(args.workdir or f"/tmp/zalo-bench-{args.size}").resolve()
        self.pg_port = args.pg_port or (25433 if args.size == "full" else 25434)
        self.port = args.port or (18000 if args.size == "full" else 18100)
        self.pgl_port = args.postgraphile_port or (15678 if args.size == "full" else 15778)
        self.use_pgl = args.size == "full" and not args.no_postgraphile
        self.only = set(args.only.split(",")) if args.only else None
        self.rows: list[Row] = []
        self.servers: list[Server] = []
        self.module: Server | None = None
        self.pgl: Server | None = None
        self.url = ""
        self.token = ""
        self.facts: dict[str, Any] = {}
        self.idle_rate: dict[int, float] = {}
        self.info: dict[str, Any] = {}
        self.run_nonce = f"{int(time.time()) % 100000}"
        self.seq = 0
        self.cpu = procs.CpuMeter(self.workdir)

    async def timed(self, work: Any) -> tuple[Any, dict[str, float]]:
        """Await ``work`` and say how busy the machine was, and with whose work."""
        mark = self.cpu.start()
        result = await work
        return result, self.cpu.stop(mark)

    # --- set-up ----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZALO_OA_")}
        env.update(
            {
                "ZALO_OA_DATABASE_URL": self.url,
                "ZALO_OA_SECRET_KEY": self.secret_key,
                "ZALO_OA_DATA_DIR": str(self.workdir / "data"),
                "ZALO_OA_LOG_LEVEL": "warning",
                # docs/operations.md: with several workers, metrics in multiprocess mode
                "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prometheus"),
            }
        )
        return env

    def zalo_oa(self, *argv: str) -> str:
        exe = Path(sys.executable).parent / "zalo-oa"
        out = subprocess.run(
            [str(exe), *argv],
            env=self.env(),
            cwd=self.workdir,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    async def setup(self) -> None:
        from models import _crypto

        procs.prepare_workdir(self.workdir)
        (self.workdir / "data").mkdir(exist_ok=True)
        prom = self.workdir / "prometheus"  # must start empty
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir()
        self.secret_key = _crypto.generate_key()
        _crypto.configure(self.secret_key)
        # kept (owner-only) so the loaded database can be reopened for profiling afterwards
        key_file = self.workdir / "data" / "secret.key"
        key_file.unlink(missing_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.secret_key + "\n")
        procs.require_free(self.port, "the module")
        if self.use_pgl:
            procs.require_free(self.pgl_port, "PostGraphile")
        t = time.monotonic()
        log(f"== PostgreSQL (throwaway, {self.workdir / 'pg'}, port {self.pg_port})")
        self.url = procs.postgres_start(self.workdir, self.pg_port)
        log("== migrate (zalo-oa migrate)")
        self.zalo_oa("migrate")
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(
                "CREATE SCHEMA IF NOT EXISTS bench; "
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA bench"
            )
            log(
                f"== load {self.size.name}: {self.size.oas} OAs, {self.size.followers:,} "
                f"followers, {self.size.messages:,} messages (seed {data.SEED})"
            )
            self.facts = await data.load(conn, self.size, log)
            self.info["pg_version"] = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        self.info["load_seconds"] = round(time.monotonic() - t)
        self.token = self.zalo_oa("token", "create", "--module", "bench", "--scope", "admin")
        log(f"== module: zalo-oa serve --workers 2 on 127.0.0.1:{self.port}")
        exe = Path(sys.executable).parent / "zalo-oa"
        self.module = procs.start(
            "module",
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
            self.env(),
            self.workdir / "module.log",
            cwd=self.workdir,
        )
        self.servers.append(self.module)
        procs.wait_http(self.module, f"http://127.0.0.1:{self.port}/healthz")
        await asyncio.sleep(2.0)  # both workers up
        self.info["module_rss_idle_mb"] = [round(x / MB) for x in self.module.rss_by_process()]
        if self.use_pgl:
            prefix = Path(self.args.postgraphile_dir)
            log(f"== PostGraphile v5 on 127.0.0.1:{self.pgl_port} (installed under {prefix})")
            self.pgl = procs.postgraphile_start(
                prefix, self.url, self.pgl_port, self.workdir / "postgraphile.log"
            )
            self.servers.append(self.pgl)
            self.info["postgraphile"] = procs.postgraphile_version(prefix)

    def stop(self) -> None:
        for server in reversed(self.servers):
            try:
                server.stop()
            except Exception as exc:
                log(f"stopping {server.name}: {exc}")
        procs.postgres_stop(self.workdir)

    # --- helpers ---------------------------------------------------------------------------

    def base(self, system: str) -> str:
        port = self.pgl_port if system == "postgraphile" else self.port
        return f"http://127.0.0.1:{port}"

    def auth(self, system: str) -> str | None:
        return None if system == "postgraphile" else f"Bearer {self.token}"

    def server(self, system: str) -> Server | None:
        return self.pgl if system == "postgraphile" else self.module

    def wanted(self, key: str) -> bool:
        return self.only is None or key.split()[0] in self.only

    async def http(self, client: httpx.AsyncClient, system: str, req: Request) -> Any:
        headers = {"Content-Type": "application/json"}
        auth = self.auth(system)
        if auth:
            headers["Authorization"] = auth
        response = await client.request(
            req.method, self.base(system) + req.path, content=req.body or None, headers=headers
        )
        if response.status_code == 404 and req.method == "GET" and "/v4/" in req.path:
            return {"__status": 404, "__body": response.text}
        try:
            body = response.json()
        except ValueError:
            body = {"__status": response.status_code, "__body": response.text[:300]}
        if response.status_code >= 300 and isinstance(body, dict):
            body.setdefault("__status", response.status_code)
        return body

    async def statements(
        self, conn: asyncpg.Connection, system: str, send: Any, k: int
    ) -> tuple[float, list[tuple[int, str]]]:
        """SQL statements per request over ``k`` requests, token look-up and transaction
        control excluded. A statement the server also runs when idle (its background loops,
        seen by ``measure_idle``) counts only if, less its idle rate, it ran at least once
        every other request: background polls are not the request's statements."""
        await self.quiesce(conn, system)
        await conn.execute("SELECT bench.pg_stat_statements_reset()")
        t = time.monotonic()
        for i in range(k):
            await send(i)
        await self.quiesce(conn, system)
        elapsed = time.monotonic() - t
        counted = []
        for qid, calls, query in await self._stat_rows(conn):
            if qid in self.idle_rate:
                calls -= self.idle_rate[qid] * elapsed
                if calls < k / 2:
                    continue
            counted.append((round(calls), query))
        total = sum(c for c, _ in counted)
        return total / k, sorted(counted, reverse=True)

    async def _stat_rows(self, conn: asyncpg.Connection) -> list[tuple[int, float, str]]:
        rows = await conn.fetch(
            "SELECT queryid, calls, query FROM bench.pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return [
            (r["queryid"], float(r["calls"]), r["query"]) for r in rows if not excluded(r["query"])
        ]

    async def measure_idle(self, conn: asyncpg.Connection, seconds: float = 10.0) -> None:
        """What the servers run on their own (background loops), per statement per second."""
        await self.quiesce(conn, "module")
        await conn.execute("SELECT bench.pg_stat_statements_reset()")
        await asyncio.sleep(seconds)
        rows = await self._stat_rows(conn)
        self.idle_rate = {qid: calls / seconds for qid, calls, _ in rows}
        self.info["idle_statements_per_s"] = round(sum(self.idle_rate.values()), 2)
        self.info["idle_statements"] = sorted(
            ((round(c / seconds, 2), q[:160]) for _, c, q in rows), reverse=True
        )

    async def quiesce(self, conn: asyncpg.Connection, system: str, limit_s: float = 300) -> None:
        """Wait until the last measurement's requests are really over: no active query and
        the server's processes (nearly) idle. wrk stops counting at its deadline, but a
        server may still be working through what it had accepted."""
        server = self.server(system) if system != "floor" else None
        deadline = time.monotonic() + limit_s
        calm = 0
        while time.monotonic() < deadline:
            before = server.cpu_seconds() if server else 0.0
            await asyncio.sleep(0.3)
            busy = ((server.cpu_seconds() if server else 0.0) - before) / 0.3
            active = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'active'"
            )
            calm = calm + 1 if active == 0 and busy < 0.15 else 0
            if calm >= 2:
                return
        log(f"   (still busy after {limit_s:.0f} s; going on)")

    def add(self, row: Row, cpu: dict[str, float] | None = None) -> Row:
        if cpu is not None:
            row.extra["cpu"] = cpu
            if cpu["other_pct"] >= 5:
                row.note = (row.note + "; " if row.note else "") + (
                    f"other processes took {cpu['other_pct']:.0f}% of the CPU"
                )
        self.rows.append(row)
        rate = f"{row.rate:,.0f} {row.unit}" if row.rate is not None else "-"
        log(f"   {row.workload:<28} {row.system:<13} c{row.conc or '-':<3} {rate:>16}  {row.check}")
        return row

    # --- the read workloads (W1-W4, W6) ---------------------------------------------------

    async def check(
        self, conn: asyncpg.Connection, client: httpx.AsyncClient, wl: Workload, system: str
    ) -> str:
        cases = wl.cases if len(wl.cases) <= 20 else random.Random(7).sample(wl.cases, 20)
        for case in cases:
            assert wl.floor is not None
            expected = await wl.floor(conn, case)
            body = await self.http(client, system, wl.systems[system].request(case))
            if isinstance(body, dict) and body.get("__status") == 404:
                return "not available (404)"
            try:
                got = wl.systems[system].extract(body)
            except Exception as exc:
                return f"WRONG: unreadable answer ({type(exc).__name__}: {str(body)[:200]})"
            if got != expected:
                return f"WRONG: case {case!r}: got {str(got)[:160]} expected {str(expected)[:160]}"
        return "ok"

    async def read_workload(
        self, conn: asyncpg.Connection, client: httpx.AsyncClient, wl: Workload, floor: bool
    ) -> None:
        log(f"== {wl.key}: {wl.title}")
        if floor and wl.floor is not None:
            for c in self.concurrency:
                m, cpu = await self.timed(
                    loadgen.run_floor(self.url, wl.floor, wl.cases, c, self.duration)
                )
                await self.quiesce(conn, "floor")
                self.add(Row(wl.key, "floor", c, m.rate, wl.unit, m.p50_ms, m.p99_ms), cpu)
        for system in wl.systems:
            if system == "postgraphile" and self.pgl is None:
                continue
            ready = await self.prepare(conn, client, wl, system)
            if ready is None:
                continue
            for c in self.concurrency:
                m, cpu = await self.timed(self.load(ready, c, self.duration))
                await self.quiesce(conn, system)
                self.add(self.measured(ready, c, m), cpu)

    async def paired_workloads(
        self, conn: asyncpg.Connection, client: httpx.AsyncClient, pair: list[Workload]
    ) -> None:
        """Workloads whose target is their ratio (W6: a REST call and its GraphQL twin),
        measured in alternating slices: at each concurrency, ``PAIRED_SLICES`` turns of
        ``duration / PAIRED_SLICES`` seconds each, one system after the other. A slow
        minute of the host or the database (a checkpoint, autovacuum, a noisy neighbour)
        then falls on both sides of the ratio instead of on one of them."""
        ready: list[Ready] = []
        for wl in pair:
            log(f"== {wl.key}: {wl.title}")
            found = await self.prepare(conn, client, wl, "module")
            if found is not None:
                ready.append(found)
        for c in self.concurrency:
            slices: list[list[tuple[loadgen.Measure, dict[str, float]]]] = [[] for _ in ready]
            for _ in range(PAIRED_SLICES):
                for mine, one in zip(slices, ready, strict=True):
                    mine.append(await self.timed(self.load(one, c, self.duration / PAIRED_SLICES)))
                    await self.quiesce(conn, one.system)
            for mine, one in zip(slices, ready, strict=True):
                m = loadgen.combined([x for x, _ in mine])
                cpu = {k: round(sum(x[k] for _, x in mine) / len(mine), 1) for k in mine[0][1]}
                row = self.measured(one, c, m)
                row.note = f"{PAIRED_SLICES} slices alternating with its pair"
                self.add(row, cpu)

    async def prepare(
        self, conn: asyncpg.Connection, client: httpx.AsyncClient, wl: Workload, system: str
    ) -> Ready | None:
        """A system ready to be measured on ``wl``: its answers checked, its statements per
        request counted, its request file written and the server warmed up; or None (with
        the verdict's row added) when its answers are wrong."""
        verdict = await self.check(conn, client, wl, system)
        if verdict != "ok":
            self.add(Row(wl.key, system, None, check=verdict))
            return None
        reqs = [wl.systems[system].request(c) for c in wl.cases]
        per_req, seen = await self.statements(
            conn,
            system,
            lambda i, reqs=reqs, system=system: self.http(client, system, reqs[i % len(reqs)]),
            10,
        )
        path = loadgen.write_requests(
            self.workdir / f"req-{wl.key.replace(' ', '_')}-{system}.txt", reqs
        )
        ready = Ready(wl, system, path, per_req, seen)
        await self.load(ready, 16, self.warmup)
        await self.quiesce(conn, system)
        return ready

    def load(self, ready: Ready, c: int, seconds: float) -> Any:
        """wrk on ``ready``'s request file at ``c`` connections for ``seconds``."""
        system = ready.system
        return loadgen.run_wrk(
            self.base(system), ready.path, c, seconds, self.auth(system), self.server(system)
        )

    def measured(self, ready: Ready, c: int, m: loadgen.Measure) -> Row:
        wl, system = ready.workload, ready.system
        verdict = "ok"
        if m.bad or m.errors:
            verdict = f"WRONG: {m.bad} bad answers, {m.errors} socket errors under load"
        return Row(
            wl.key,
            "module GraphQL"
            if system == "module" and "REST" not in wl.key
            else "module REST"
            if system == "module"
            else system,
            c,
            m.rate,
            wl.unit,
            m.p50_ms,
            m.p99_ms,
            round(ready.per_req, 2),
            m.peak_rss / MB if m.peak_rss else None,
            check=verdict,
            extra={"statements": ready.seen[:8], "compare_to": wl.compare_to},
        )

    # --- W5: bulk create -------------------------------------------------------------------

    async def cleanup_bulk(self, conn: asyncpg.Connection) -> tuple[int, int]:
        rows = await conn.fetchval(
            "SELECT count(*) FROM followers WHERE zalo_oa = $1", data.BULK_OA
        )
        partial = await conn.fetchval(
            "SELECT count(*) FROM (SELECT split_part(code, '-', 1) AS batch, count(*) AS n "
            "FROM followers WHERE zalo_oa = $1 GROUP BY 1) AS b WHERE n <> $2",
            data.BULK_OA,
            self.params.bulk,
        )
        await conn.execute("DELETE FROM followers WHERE zalo_oa = $1", data.BULK_OA)
        await conn.execute("VACUUM (ANALYZE) followers")
        return int(rows), int(partial)

    async def w5(self, conn: asyncpg.Connection, client: httpx.AsyncClient) -> None:
        n = self.params.bulk
        # 1,000-row requests are slow: give them time to finish at all under c64
        duration = max(self.duration, 30.0 if self.size.name == "full" else 10.0)
        log(f"== W5: bulk create of {n:,} followers in one request (rows/s, one transaction)")
        items = data.bulk_items(n, seed=data.SEED + 5)
        columns, arrays = workloads.bulk_floor_rows(items, "bench")
        sql = workloads.bulk_floor_sql(columns)
        created_at = columns.index("created")

        async def floor_op(c: asyncpg.Connection, _: Any) -> None:
            self.seq += 1
            tag = f"f{self.run_nonce}x{self.seq}"  # before any await: loops run concurrently
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            arrays[created_at] = [now] * n
            async with c.transaction():
                await c.execute(sql, *arrays, tag)

        await self.cleanup_bulk(conn)
        for c in self.concurrency:
            m, cpu = await self.timed(loadgen.run_floor(self.url, floor_op, [None], c, duration))
            await self.quiesce(conn, "floor")
            rows, partial = await self.cleanup_bulk(conn)
            check = "ok" if partial == 0 and rows >= m.requests * n else "WRONG: partial batches"
            self.add(
                Row("W5", "floor", c, m.rate * n, "rows/s", m.p50_ms, m.p99_ms, check=check), cpu
            )

        builders = {
            "module": workloads.bulk_module_request,
            "postgraphile": workloads.bulk_pgl_request,
        }
        for system, build in builders.items():
            if system == "postgraphile" and self.pgl is None:
                continue
            label = "module GraphQL" if system == "module" else system
            verdict = await self.check_bulk(conn, client, system, items)
            if verdict != "ok":
                self.add(Row("W5", label, None, unit="rows/s", check=verdict))
                continue
            template = build(items, "{{SEQ}}")

            async def send(i: int, system: str = system, build: Any = build) -> None:
                self.seq += 1
                tag = f"s{self.run_nonce}x{self.seq}"
                await self.http(client, system, build(items, tag))

            per_req, seen = await self.statements(conn, system, send, 3)
            await self.cleanup_bulk(conn)
            path = loadgen.write_requests(self.workdir / f"req-W5-{system}.txt", [template])
            server = self.server(system)
            for c in self.concurrency:
                self.run_nonce = f"{int(time.time() * 1000) % 10**9}"
                m, cpu = await self.timed(
                    loadgen.run_wrk(
                        self.base(system),
                        path,
                        c,
                        duration,
                        self.auth(system),
                        server,
                        nonce=self.run_nonce,
                    )
                )
                await self.quiesce(conn, system)
                rows, partial = await self.cleanup_bulk(conn)
                verdict = "ok"
                if m.requests == 0:
                    verdict = f"no request completed within {duration:.0f} s"
                elif m.bad or m.errors:
                    verdict = f"WRONG: {m.bad} bad answers, {m.errors} socket errors"
                elif partial or rows < m.requests * n:
                    verdict = (
                        f"WRONG: {partial} partial batches, {rows} rows for {m.requests} requests"
                    )
                self.add(
                    Row(
                        "W5",
                        label,
                        c,
                        m.rate * n,
                        "rows/s",
                        m.p50_ms,
                        m.p99_ms,
                        round(per_req, 2),
                        m.peak_rss / MB if m.peak_rss else None,
                        check=verdict,
                        note="1 transaction" if system == "module" else "",
                        extra={"statements": seen[:8]},
                    ),
                    cpu,
                )

    async def check_bulk(
        self,
        conn: asyncpg.Connection,
        client: httpx.AsyncClient,
        system: str,
        items: list[dict[str, Any]],
    ) -> str:
        n = len(items)
        build = workloads.bulk_module_request if system == "module" else workloads.bulk_pgl_request
        await self.cleanup_bulk(conn)
        body = await self.http(client, system, build(items, "chk1"))
        stored = await conn.fetchval("SELECT count(*) FROM followers WHERE code LIKE 'BKchk1-%'")
        if system == "module":
            count = (((body or {}).get("data") or {}).get("createFollowers") or {}).get(
                "affectedCount"
            )
            if count != n or stored != n:
                return f"WRONG: affectedCount {count}, {stored} rows stored of {n}"
            sample = await conn.fetchrow(
                "SELECT name, keyword, creator, is_deleted FROM followers WHERE code = 'BKchk1-0007'"
            )
            if sample is None or sample["name"] != items[7]["name"] or not sample["keyword"]:
                return f"WRONG: stored row differs: {dict(sample or {})}"
            # all or nothing: one bad item (an unknown OA) and nothing may be written
            bad = [dict(i) for i in items]
            bad[n // 2]["zaloOaCode"] = "NO-SUCH-OA"
            answer = await self.http(
                client,
                system,
                workloads.bulk_module_request(
                    bad, "chk2", "affectedCount errors { index field message }"
                ),
            )
            leaked = await conn.fetchval(
                "SELECT count(*) FROM followers WHERE code LIKE 'BKchk2-%'"
            )
            payload = ((answer.get("data") or {}).get("createFollowers")) or {}
            errors = payload.get("errors") or answer.get("errors") or []
            indexes = {e.get("index") for e in errors if isinstance(e, dict)}
            if leaked or payload.get("affectedCount") or n // 2 not in indexes:
                text = json.dumps(answer, ensure_ascii=False)
                return f"WRONG: all-or-nothing: {leaked} rows leaked; answer {text[:200]}"
        elif stored != n or (isinstance(body, dict) and body.get("errors")):
            return f"WRONG: {stored} rows stored of {n}: {str(body)[:200]}"
        await self.cleanup_bulk(conn)
        return "ok"

    # --- W7: keyset paging ------------------------------------------------------------------

    async def w7(self, conn: asyncpg.Connection, client: httpx.AsyncClient) -> None:
        page = self.params.page
        fields = workloads.W1_FIELDS
        log(f"== W7: keyset paging through all followers, {page} a page, {len(fields)} fields")
        sql = workloads.sql_keyset(fields)

        digest = hashlib.sha256()
        total = 0
        latencies: list[float] = []
        mark = self.cpu.start()
        t0 = time.perf_counter()
        last = 0
        while True:
            t = time.perf_counter()
            rows = await conn.fetch(sql, last, page)
            latencies.append(time.perf_counter() - t)
            if not rows:
                break
            for row in workloads.rows_value(fields, rows):
                digest.update(repr(row).encode())
            total += len(rows)
            last = rows[-1]["id"]
            if len(rows) < page:
                break
        elapsed = time.perf_counter() - t0
        cpu = self.cpu.stop(mark)
        expected = (total, digest.hexdigest())
        self.add(
            Row(
                "W7",
                "floor",
                1,
                total / elapsed,
                "rows/s",
                loadgen.percentile(latencies, 50) * 1000,
                loadgen.percentile(latencies, 99) * 1000,
                note=f"{total:,} rows",
            ),
            cpu,
        )
        module_q = (
            "query W7($first: Int!, $after: String) { followersConnection(first: $first, "
            "after: $after) { pageInfo { hasNextPage endCursor } nodes { "
            + " ".join(workloads.gql_name(f) for f in fields)
            + " } } }"
        )
        pgl_q = (
            "query W7($first: Int!, $after: Cursor) { allFollowers(first: $first, after: $after,"
            " orderBy: PRIMARY_KEY_ASC, filter: {isDeleted: {equalTo: 0}}) { pageInfo {"
            " hasNextPage endCursor } nodes { "
            + " ".join(workloads.pgl_name(f) for f in fields)
            + " } } }"
        )
        for system, query, root, key in (
            ("module", module_q, "followersConnection", workloads.gql_name),
            ("postgraphile", pgl_q, "allFollowers", workloads.pgl_name),
        ):
            if system == "postgraphile" and self.pgl is None:
                continue
            server = self.server(system)
            assert server is not None
            rss_start = server.sample()
            samples = [rss_start]
            digest = hashlib.sha256()
            total = 0
            latencies = []
            after = None
            pages = 0
            mark = self.cpu.start()
            t0 = time.perf_counter()
            verdict = "ok"
            while True:
                t = time.perf_counter()
                body = await self.http(
                    client, system, workloads.graphql(query, {"first": page, "after": after})
                )
                latencies.append(time.perf_counter() - t)
                pages += 1
                if pages % 10 == 0:
                    samples.append(server.sample())
                try:
                    conn_page = body["data"][root]
                except (KeyError, TypeError):
                    verdict = f"WRONG: {str(body)[:200]}"
                    break
                for item in conn_page["nodes"]:
                    row = workloads.norm_row(fields, lambda f, item=item, key=key: item[key(f)])
                    digest.update(repr(row).encode())
                total += len(conn_page["nodes"])
                if not conn_page["pageInfo"]["hasNextPage"]:
                    break
                after = conn_page["pageInfo"]["endCursor"]
            elapsed = time.perf_counter() - t0
            cpu = self.cpu.stop(mark)
            samples.append(server.sample())
            if verdict == "ok" and (total, digest.hexdigest()) != expected:
                verdict = f"WRONG: {total} rows, digest differs from the floor's"
            per_page, seen = await self.statements(
                conn,
                system,
                lambda i, system=system, query=query: self.http(
                    client, system, workloads.graphql(query, {"first": page, "after": None})
                ),
                5,
            )
            growth = (max(samples) - rss_start) / MB
            self.add(
                Row(
                    "W7",
                    "module GraphQL" if system == "module" else system,
                    1,
                    total / elapsed,
                    "rows/s",
                    loadgen.percentile(latencies, 50) * 1000,
                    loadgen.percentile(latencies, 99) * 1000,
                    round(per_page, 2),
                    max(samples) / MB,
                    check=verdict,
                    note=f"{total:,} rows; RSS {rss_start / MB:.0f}→{max(samples) / MB:.0f}→"
                    f"{samples[-1] / MB:.0f} MB (start→peak→end)",
                    extra={"rss_growth_mb": growth, "statements": seen[:5], "pages": pages},
                ),
                cpu,
            )

    # --- W8: signed webhook ingest -----------------------------------------------------------

    def webhook_request(self, oa_index: int, zalo: str, msg_id: str) -> bytes:
        from zalo.signature import webhook_signature

        oa = self.facts["oa_codes"][oa_index]
        app_id = str(data.APP_ID_BASE + oa_index + 1)
        ts = str(int(time.time() * 1000))
        body = {
            "app_id": app_id,
            "user_id_by_app": zalo,
            "event_name": "user_send_text",
            "timestamp": ts,
            "sender": {"id": zalo},
            "recipient": {"id": str(1_000_000_000_000 + oa_index)},
            "message": {"text": "Xin chào shop, còn hàng không ạ?", "msg_id": msg_id},
        }
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        mac = webhook_signature(app_id, raw, ts, data.OA_SECRET)
        head = (
            f"POST /v4/zalo-oa/hooks/{oa} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
            f"X-ZEvent-Signature: mac={mac}\r\n\r\n"
        )
        return head.encode() + raw

    def webhook_events(self, count: int, tag: str) -> list[bytes]:
        rnd = random.Random(data.SEED + 8)
        by_oa = self.facts["zalo_by_oa"]
        codes = self.facts["oa_codes"]
        out = []
        for i in range(count):
            k = rnd.randrange(len(codes))
            zalo = rnd.choice(by_oa.get(codes[k]) or ["1"])
            out.append(self.webhook_request(k, zalo, f"bench{tag}m{i:07d}"))
        return out

    async def w8(self, conn: asyncpg.Connection) -> None:
        rate = self.params.rate
        log(f"== W8: signed webhook ingest at {rate} events/s for {self.duration:.0f} s")
        gen = loadgen.OpenLoop("127.0.0.1", self.port)
        probe = await gen.run(self.webhook_events(1, f"p{self.run_nonce}"), 10)
        if probe.extra["statuses"].get(404):
            self.add(Row("W8", "module", None, unit="events/s", check="not available (404)"))
            return
        if probe.bad:
            self.add(
                Row("W8", "module", None, unit="events/s", check=f"WRONG: probe {probe.extra}")
            )
            return
        has_events = await conn.fetchval("SELECT to_regclass('events') IS NOT NULL")
        before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events") if has_events else 0

        async def send(i: int) -> None:
            await loadgen.OpenLoop("127.0.0.1", self.port, 1).run(
                self.webhook_events(1, f"s{self.run_nonce}x{i}"), 10
            )

        per_req, seen = await self.statements(conn, "module", send, 10)
        count = int(rate * self.duration)
        tag = f"r{self.run_nonce}"
        events = self.webhook_events(count, tag)
        assert self.module is not None
        sampler = asyncio.create_task(self._sample_forever(self.module))
        try:
            m, cpu = await self.timed(loadgen.OpenLoop("127.0.0.1", self.port).run(events, rate))
        finally:
            sampler.cancel()
        await self.quiesce(conn, "module")
        verdict = "ok"
        if m.bad or m.errors:
            verdict = f"WRONG: {m.bad} non-2xx, {m.errors} socket errors ({m.extra['statuses']})"
        note = ""
        if has_events:
            await asyncio.sleep(2.0)
            stored = await conn.fetchval(
                "SELECT count(*) FROM events WHERE id > $1 AND raw LIKE $2",
                before,
                f"%bench{tag}m%",
            )
            note = f"{stored:,}/{count:,} events stored"
            if verdict == "ok" and stored != count:
                verdict = f"WRONG: {stored} of {count} events stored"
        self.add(
            Row(
                "W8",
                "module",
                None,
                m.requests / m.seconds if m.seconds else None,
                "events/s",
                m.p50_ms,
                m.p99_ms,
                round(per_req, 2),
                self.module.peak_rss / MB,
                check=verdict,
                note=f"offered {rate}/s open loop; " + note,
                extra={"statements": seen[:8], "offered": rate},
            ),
            cpu,
        )

    async def _sample_forever(self, server: Server) -> None:
        while True:
            server.sample()
            await asyncio.sleep(0.2)

    # --- the run -----------------------------------------------------------------------------

    async def run(self) -> int:
        try:
            await self.setup()
            await self.workloads()
        except BaseException:
            traceback.print_exc()
            self.stop()
            raise
        self.stop()
        return self.report()

    async def workloads(self) -> None:
        p = self.params
        codes = self.facts["follower_codes_sample"]
        codes = [*codes[:1990], workloads.UNKNOWN_CODE] if len(codes) > 10 else codes
        conn = await asyncpg.connect(self.url)
        limits = httpx.Limits(max_connections=4)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            try:
                await self.measure_idle(conn)
                reads = [
                    workloads.w1(p),
                    workloads.w2(p, self.facts["oa_codes"]),
                    workloads.w3(p),
                    workloads.w4(codes),
                ]
                for wl in reads:
                    if self.wanted(wl.key):
                        await self.read_workload(conn, client, wl, floor=True)
                if self.wanted("W6"):
                    await self.w6(conn, client, codes)
                if self.wanted("W7"):
                    await self.w7(conn, client)
                # W5 last: PostGraphile's 1,000-alias mutations can keep PostgreSQL busy for
                # minutes after their measurement, which would be charged to W8.
                if self.wanted("W8"):
                    await self.w8(conn)
                if self.wanted("W5"):
                    await self.w5(conn, client)
            finally:
                await conn.close()

    async def w6(
        self, conn: asyncpg.Connection, client: httpx.AsyncClient, codes: list[str]
    ) -> None:
        group = workloads.w6(self.params, codes)
        rest = [w for w in group if "REST" in w.key]
        verdicts = [await self.check(conn, client, w, "module") for w in rest]
        if all(v.startswith("not available") for v in verdicts):
            log("== W6: REST shim not available (404): skipped")
            self.add(Row("W6 (REST)", "module REST", None, check="not available (404)"))
            return
        for twin, rest_wl in zip(group[::2], group[1::2], strict=True):
            assert rest_wl.compare_to == twin.key
            await self.paired_workloads(conn, client, [twin, rest_wl])

    # --- the report ---------------------------------------------------------------------------

    def machine(self) -> dict[str, Any]:
        cpu = "?"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
            mem_kb = int(
                next(
                    x
                    for x in Path("/proc/meminfo").read_text().splitlines()
                    if x.startswith("MemTotal")
                ).split()[1]
            )
        except (OSError, StopIteration, ValueError):
            mem_kb = 0
        commit = subprocess.run(
            ["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

        def v(pkg: str) -> str:
            try:
                return metadata.version(pkg)
            except metadata.PackageNotFoundError:
                return "?"

        return {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(),
            "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "cpu": cpu,
            "kernel": platform.release(),
            "python": platform.python_version(),
            "commit": commit + (" (+ uncommitted changes)" if dirty else ""),
            "libs": ", ".join(
                f"{p} {v(p)}"
                for p in ("uvicorn", "fastapi", "strawberry-graphql", "sqlalchemy", "asyncpg")
            ),
            "wrk": loadgen.wrk_version(),
            "command": "bench/run " + " ".join(sys.argv[1:]),
            "size": asdict(self.size),
            "duration_s": self.duration,
            **self.info,
        }

    def ratios(self) -> None:
        floors = {(r.workload, r.conc): r.rate for r in self.rows if r.system == "floor"}
        for r in self.rows:
            if r.system == "floor" or r.rate is None or not r.check.startswith("ok"):
                continue
            f = floors.get((r.workload, r.conc))
            if f:
                r.floor_ratio = r.rate / f
        by_key = {(r.workload, r.conc): r for r in self.rows}
        for r in self.rows:
            twin_key = r.extra.get("compare_to")
            if twin_key and r.rate:
                twin = by_key.get((twin_key, r.conc))
                if twin and twin.rate:
                    vs = f"{r.rate / twin.rate:.2f}x its GraphQL twin"
                    r.note = f"{vs}; {r.note}" if r.note else vs
                    r.extra["vs_twin"] = r.rate / twin.rate

    def table(self) -> str:
        head = (
            "| workload | system | c | throughput | p50 ms | p99 ms | SQL/req | peak RSS MB "
            "| x floor | check | notes |"
        )
        lines = [head, "|" + "---|" * 11]
        for r in self.rows:
            if r.check.startswith("ok") and r.rate is not None:
                check = "ok"
            elif r.check.startswith("not available"):
                check = "not available"
            elif r.check.startswith("WRONG"):
                check = "**WRONG**"
            else:
                check = "no number"

            def num(x: float | None, fmt: str) -> str:
                return "-" if x is None else format(x, fmt)

            shown = r.check.startswith("ok")
            rate = f"{r.rate:,.0f} {r.unit}" if shown and r.rate is not None else "-"
            note = r.note if shown else r.check
            lines.append(
                f"| {r.workload} | {r.system} | {r.conc or '-'} | {rate} | "
                f"{num(r.p50_ms if shown else None, '.1f')} | {num(r.p99_ms if shown else None, '.1f')} | "
                f"{num(r.stmts, '.2f')} | {num(r.rss_mb, '.0f')} | "
                f"{num(r.floor_ratio, '.2f')} | {check} | {note} |"
            )
        return "\n".join(lines)

    def targets(self) -> list[tuple[str, str, str]]:
        rows = [r for r in self.rows if r.check.startswith("ok") and r.rate is not None]

        def get(wl: str, system: str, c: int | None) -> Row | None:
            return next(
                (r for r in rows if r.workload == wl and r.system == system and r.conc == c), None
            )

        out: list[tuple[str, str, str]] = []

        def verdict(ok: bool | None) -> str:
            return "n/a" if ok is None else "met" if ok else "MISSED"

        for wl in ("W1", "W2", "W4"):
            for c in self.concurrency:
                m, g = get(wl, "module GraphQL", c), get(wl, "postgraphile", c)
                ratio = m.rate / g.rate if m and g and m.rate and g.rate else None
                out.append(
                    (
                        f"{wl} c{c}: GraphQL ≥ 1.0x PostGraphile v5",
                        f"{ratio:.2f}x" if ratio is not None else "no PostGraphile number",
                        verdict(None if ratio is None else ratio >= 1.0),
                    )
                )
        for c in self.concurrency:
            m, f = get("W3", "module GraphQL", c), get("W3", "floor", c)
            ratio = m.rate / f.rate if m and f and m.rate and f.rate else None
            out.append(
                (
                    f"W3 c{c}: ≥ 0.95x floor",
                    f"{ratio:.2f}x" if ratio is not None else "-",
                    verdict(None if ratio is None else ratio >= 0.95),
                )
            )
        w2 = [r.stmts for r in rows if r.workload == "W2" and r.system == "module GraphQL"]
        out.append(
            (
                "W2 in ≤ 3 SQL statements",
                f"{w2[0]:.2f}" if w2 else "-",
                verdict(None if not w2 else w2[0] <= 3.0 + 1e-9),
            )
        )
        w5 = [r for r in rows if r.workload == "W5" and r.system == "module GraphQL"]
        best = max((r.rate or 0 for r in w5), default=None)
        out.append(
            (
                "W5 ≥ 10,000 rows/s, all or nothing",
                ", ".join(f"c{r.conc} {r.rate:,.0f}" for r in w5 if r.rate) or "-",
                verdict(None if best is None else all((r.rate or 0) >= 10_000 for r in w5)),
            )
        )
        rest = [r for r in rows if "vs_twin" in r.extra]
        if rest:
            for r in rest:
                out.append(
                    (
                        f"{r.workload} c{r.conc}: within 15% of its GraphQL query",
                        f"{r.extra['vs_twin']:.2f}x",
                        verdict(r.extra["vs_twin"] >= 0.85),
                    )
                )
        else:
            out.append(("W6 REST within 15% of GraphQL", "REST shim not available", "n/a"))
        w7 = get("W7", "module GraphQL", 1)
        if w7 and w7.rate:
            growth = w7.extra.get("rss_growth_mb", 0.0)
            out.append(
                (
                    "W7 ≥ 20,000 rows/s, flat RSS",
                    f"{w7.rate:,.0f} rows/s, RSS +{growth:.0f} MB",
                    verdict(w7.rate >= 20_000 and growth <= 32),
                )
            )
        else:
            out.append(("W7 ≥ 20,000 rows/s, flat RSS", "-", "n/a"))
        w8 = get("W8", "module", None)
        offered = self.params.rate
        out.append(
            (
                f"W8 p99 < 200 ms at {offered} events/s",
                f"p99 {w8.p99_ms:.0f} ms at {w8.rate:,.0f}/s"
                if w8 and w8.p99_ms
                else "receiver not available",
                verdict(None if not w8 or w8.p99_ms is None else w8.p99_ms < 200),
            )
        )
        peak = self.module.peak_rss / MB if self.module else None
        out.append(
            (
                "server RSS < 300 MB",
                f"peak {peak:.0f} MB (2 workers + supervisor)" if peak else "-",
                verdict(None if not peak else peak < 300),
            )
        )
        return out

    def report(self) -> int:
        self.ratios()
        if self.module is not None:
            self.info["module_peak_rss_by_process_mb"] = sorted(
                (round(v / MB) for v in self.module.peak_by_pid.values()), reverse=True
            )
        info = self.machine()
        table = self.table()
        targets = self.targets()
        wrong = [r for r in self.rows if r.check.startswith("WRONG")]
        lines = [
            f"# bench/run --size {self.size.name}: {info['date']}",
            "",
            f"machine: {info['nproc']} cores, {info['memory_gib']} GiB, {info['cpu']}, Linux {info['kernel']}",
            f"versions: Python {info['python']}, PostgreSQL {info.get('pg_version', '?')}, "
            f"{info['libs']}; {info['wrk']}; {info.get('postgraphile', 'PostGraphile not run')}",
            f"commit: {info['commit']}; data: {self.size.oas} OAs, {self.size.followers:,} followers, "
            f"{self.size.messages:,} messages, loaded in {info.get('load_seconds', '?')} s; "
            f"{self.duration:.0f} s per measurement",
            f"module RSS by process (MB): idle {info.get('module_rss_idle_mb')}, "
            f"peak {info.get('module_peak_rss_by_process_mb')}",
            "",
            table,
            "",
            "| target | measured | verdict |",
            "|---|---|---|",
            *(f"| {t} | {m} | {v} |" for t, m, v in targets),
            "",
            f"wrong answers: {len(wrong)}",
        ]
        text = "\n".join(lines)
        print(text, flush=True)
        (self.workdir / "results.md").write_text(text + "\n")
        (self.workdir / "results.json").write_text(
            json.dumps(
                {"info": info, "rows": [asdict(r) for r in self.rows], "targets": targets},
                indent=1,
                default=str,
            )
        )
        log(f"(saved {self.workdir / 'results.md'} and results.json)")
        return 1 if wrong else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(data.SIZES), default="full")
    parser.add_argument("--duration", type=float, help="seconds per measurement (full 15, tiny 3)")
    parser.add_argument("--concurrency", default="16,64", help="wrk connections, comma-separated")
    parser.add_argument("--only", help="workloads to run, e.g. W1,W4 (default: all)")
    parser.add_argument("--workdir", help="scratch folder (default /tmp/zalo-bench-SIZE)")
    parser.add_argument("--pg-port", type=int, help="throwaway PostgreSQL port (25433 / 25434)")
    parser.add_argument("--port", type=int, help="module port (18000 / 18100)")
    parser.add_argument("--postgraphile-port", type=int)
    parser.add_argument(
        "--postgraphile-dir",
        default="/tmp/zalo-bench-postgraphile",
        help="where PostGraphile v5 is npm-installed (outside the repository)",
    )
    parser.add_argument("--no-postgraphile", action="store_true", help="skip the peer")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    return asyncio.run(Bench(args).run())


if __name__ == "__main__":
    sys.exit(main())

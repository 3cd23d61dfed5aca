"""Sustained signed webhook ingest against one module process, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.webhooks                       # 500 events/s for 20 s, both
    .venv/bin/python -m bench.webhooks --rates 250,500,1000 --duration 20 --db sqlite
    .venv/bin/python -m bench.webhooks --postgres-url postgresql://…/scratch   # wiped!

The module runs as ``serve`` runs it (uvicorn, one process, lifespan on: the applier and the
forwarder work while the receiver ingests). An open-loop client sends ``user_send_text``
events signed like Zalo's at a fixed rate; latency counts from each event's scheduled time,
so a stalled receiver pays for the queue it builds. Reported per rate: events/s answered,
p50/p99/max response time, non-2xx answers, and how long the applier took to apply
everything after the last answer. Without ``--postgres-url`` a throwaway PostgreSQL is
started (``scripts/postgres``) and stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import models
from bench import loadgen, procs
from models import _crypto
from resolvers import _crud
from resolvers.caller import SYSTEM
from resolvers.resources import OFFICIAL_ACCOUNTS
from zalo.signature import webhook_signature
from zalo_oa import keys, migrate
from zalo_oa.db import Database
from zalo_oa.settings import Settings

APP_ID, OA_ID, SECRET, OA_CODE = "4400000001", "4400000000000000001", "bench-oa-secret", "BENCH"
USERS = [str(7_000_000_000_000_000 + i * 7919) for i in range(2000)]
_events = models.Event.__table__  # type: ignore[attr-defined]


def event(msg_id: str, port: int, rnd: random.Random, scheduled_ms: int) -> bytes:
    """One raw HTTP request: a signed ``user_send_text`` for the hook URL with the OA code."""
    user = rnd.choice(USERS)
    ts = str(scheduled_ms)
    body = {
        "app_id": APP_ID,
        "user_id_by_app": user,
        "event_name": "user_send_text",
        "timestamp": ts,
        "sender": {"id": user},
        "recipient": {"id": OA_ID},
        "message": {"text": "Xin chào shop, còn hàng không ạ?", "msg_id": msg_id},
    }
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    mac = webhook_signature(APP_ID, raw, ts, SECRET)
    head = (
        f"POST /v4/zalo-oa/hooks/{OA_CODE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
        f"X-ZEvent-Signature: mac={mac}\r\n\r\n"
    )
    return head.encode() + raw


async def prepare(settings: Settings, postgres: bool) -> None:
    """A fresh schema and the one OA the events are signed for."""
    keys.configure(settings)
    if postgres:
        database = Database.from_settings(settings)
        async with database.engine.begin() as connection:
            await connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            await connection.execute(sa.text("CREATE SCHEMA public"))
        await database.dispose()
    await asyncio.to_thread(migrate.upgrade, settings)
    database = Database.from_settings(settings)
    async with database.sessions() as session:
        result = await _crud.create_many(
            session,
            OFFICIAL_ACCOUNTS,
            [
                {
                    "code": OA_CODE,
                    "name": "Bench OA",
                    "app_id": APP_ID,
                    "oa_id": OA_ID,
                    "oa_secret_key": SECRET,
                    "status": 1,
                    "is_default": True,
                }
            ],
            SYSTEM,
        )
        assert result.ok, result.problems
        await session.commit()
    await database.dispose()


async def pending(settings: Settings) -> tuple[int, int]:
    database = Database.from_settings(settings)
    try:
        async with database.sessions() as session:
            row = (
                await session.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.count(_events.c.applied),
                    ).where(_events.c.source == "zalo")
                )
            ).one()
            return int(row[0]), int(row[1])
    finally:
        await database.dispose()


async def measure(
    name: str,
    settings: Settings,
    env: dict[str, str],
    rates: list[int],
    duration: float,
    workdir: Path,
) -> list[dict[str, Any]]:
    port = loadgen_port()
    server = procs.start(
        f"module-{name}",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "zalo_oa.app:serve_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            # The load generator keeps connections open between sends, as Zalo's pool would;
            # uvicorn's 5 s default would close idle ones under it.
            "--timeout-keep-alive",
            "60",
        ],
        env,
        workdir / f"module-{name}.log",
    )
    rows: list[dict[str, Any]] = []
    try:
        await asyncio.to_thread(procs.wait_http, server, f"http://127.0.0.1:{port}/healthz")
        rnd = random.Random(8)
        warm = [event(f"warm{i}", port, rnd, int(time.time() * 1000)) for i in range(200)]
        await loadgen.OpenLoop("127.0.0.1", port).run(warm, 200)
        for rate in rates:
            count = int(rate * duration)
            # Timestamps are the scheduled send times, so none is stale at the end of a run.
            start_ms = int(time.time() * 1000)
            batch = [
                event(f"{name}-{rate}-{i}", port, rnd, start_ms + int(i * 1000 / rate))
                for i in range(count)
            ]
            cpu_before = server.cpu_seconds()
            result = await loadgen.OpenLoop("127.0.0.1", port).run(batch, rate)
            answered = time.monotonic()
            cpu = server.cpu_seconds() - cpu_before
            while True:
                total, applied = await pending(settings)
                if applied >= total:
                    break
                await asyncio.sleep(0.2)
            rows.append(
                {
                    "db": name,
                    "offered": rate,
                    "events_per_s": round(result.requests / result.seconds, 1),
                    "p50_ms": round(result.p50_ms, 1),
                    "p99_ms": round(result.p99_ms, 1),
                    "non_2xx": result.bad,
                    "statuses": result.extra["statuses"],
                    "socket_errors": result.errors,
                    "applied_lag_s": round(time.monotonic() - answered, 1),
                    "cpu_s_per_1000": round(cpu / count * 1000, 2),
                    "rss_mb": round(server.sample() / 2**20),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.stop()
    return rows


def loadgen_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rates", default="500", help="comma-separated events/s")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    parser.add_argument("--postgres-url", default=None, help="a scratch database (wiped)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/zalo-webhooks-bench"))
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    procs.prepare_workdir(args.workdir)
    key = _crypto.generate_key()
    results: list[dict[str, Any]] = []
    started_pg = False
    try:
        for name in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
            if name == "sqlite":
                (args.workdir / "bench.db").unlink(missing_ok=True)
                url = f"sqlite:///{args.workdir / 'bench.db'}"
            else:
                url = args.postgres_url
                if url is None:
                    url = procs.postgres_start(args.workdir, 55499)
                    started_pg = True
            env = {
                **os.environ,
                "ZALO_OA_DATABASE_URL": url,
                "ZALO_OA_SECRET_KEY": key,
                "ZALO_OA_DATA_DIR": str(args.workdir / "data"),
                "ZALO_OA_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(procs.ROOT),
            }
            settings = Settings(
                database_url=url, secret_key=key, data_dir=args.workdir / "data", _env_file=None
            )  # type: ignore[call-arg]
            asyncio.run(prepare(settings, name == "postgres"))
            results += asyncio.run(measure(name, settings, env, rates, args.duration, args.workdir))
    finally:
        if started_pg:
            procs.postgres_stop(args.workdir)
    print(
        "\n| db | offered/s | answered/s | p50 ms | p99 ms | non-2xx | applied lag s | CPU s/1000 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['db']} | {r['offered']} | {r['events_per_s']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r['non_2xx'] + r['socket_errors']} | {r['applied_lag_s']} | {r['cpu_s_per_1000']} |"
        )


if __name__ == "__main__":
    main()

"""Sending throughput and follower-sync time against the sandbox's Zalo rate limit.

    .venv/bin/python -m bench.sender                      # SQLite
    .venv/bin/python -m bench.sender --db postgres        # a throwaway PostgreSQL
    .venv/bin/python -m bench.sender --send-rate 600 --minutes 3 --sync-users 10000 --sync-rate 3000

The sandbox Zalo runs as its own process (``zalo-oa sandbox``) and counts calls per app in
fixed minute windows, answering ``-32`` beyond ``rate_limit_per_minute``: that limit is the
physical limit here, and the module's ``zalo_rate_limit_per_minute`` is set equal to it.

1. **Sending.** ``zalo-oa serve`` runs as in production (its lifespan starts the sender).
   The sandbox clock is moved to the start of a window and ``rate x (minutes + 1/2)`` text
   messages are queued at once; each message's ``SentAt`` is Zalo's own ``sent_time``, so
   the messages sent in each full window are counted exactly. Throughput = the mean per
   window, against the limit.
2. **Follower sync.** The OA gets ``--sync-users`` followers; a sync job runs in this
   process (as ``zalo-oa sync followers`` runs it) with the limit at ``--sync-rate``. Zalo
   needs ``users / 50`` list calls and one detail call per user; at the limit that takes at
   least ``calls / rate`` minutes sustained; with Zalo's fixed windows the last calls can go
   no earlier than the start of window ``ceil(calls / rate) - 1``, and then take as long as
   the module needs for them unthrottled: that is the time the limit allows. The same sync
   runs again without a limit, for the module's own speed (and to show ``updated = 0``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from resolvers import _crud, jobs, message, sync
from resolvers.caller import SYSTEM
from resolvers.resources import FOLLOWERS, MESSAGES
from zalo.sandbox import SandboxControl
from zalo.sandbox.seed import DEMO_ADMIN_PHONE, DEMO_OA_ID, DEMO_REDIRECT_URI
from zalo_oa import keys, migrate
from zalo_oa.db import Database
from zalo_oa.demo import DEMO_CODE, ensure_demo_account
from zalo_oa.services import Services
from zalo_oa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = 10_000_000
# The demo followers who wrote within 7 days (every 15th last wrote 10 days ago: -230).
RECENT = {str(2_512_523_625_412_515 + i * 104_729) for i in range(120) if i % 15 != 14}


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spawn(args: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen[bytes]:
    with logfile.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "zalo_oa.cli", *args],
            cwd=logfile.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_http(url: str, proc: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


async def align(control: SandboxControl) -> int:
    """Move the sandbox clock to just after the start of a rate window; its start in ms."""
    now_ms = int((await control.state())["now_ms"])
    left = 60_000 - now_ms % 60_000
    moved = await control.advance(left / 1000 + 0.05)
    start_ms = int(moved["now_ms"]) // 60_000 * 60_000
    return start_ms


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZALO_OA_")}
    env.update(
        ZALO_OA_DATABASE_URL=settings.database_url,
        ZALO_OA_DATA_DIR=str(settings.data_dir),
        ZALO_OA_OAUTH_BASE_URL=settings.oauth_base_url,
        ZALO_OA_OPENAPI_BASE_URL=settings.openapi_base_url,
        ZALO_OA_ZNS_BASE_URL=settings.zns_base_url,
        ZALO_OA_ZALO_RATE_LIMIT_PER_MINUTE=str(settings.zalo_rate_limit_per_minute),
        ZALO_OA_RETRY_BASE_SECONDS=str(settings.retry_base_seconds),
        ZALO_OA_LOG_LEVEL="WARNING",
    )
    return env


async def setup(settings: Settings, postgres: bool) -> None:
    """A fresh schema and the demo OA, authorized against the sandbox, as default OA."""
    keys.configure(settings)
    if postgres:
        database = Database.from_settings(settings)
        async with database.engine.begin() as connection:
            await connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            await connection.execute(sa.text("CREATE SCHEMA public"))
        await database.dispose()
    await asyncio.to_thread(migrate.upgrade, settings)
    database = Database.from_settings(settings)
    services = Services.create(settings, database)
    try:
        log(await ensure_demo_account(services, DEMO_REDIRECT_URI))
    finally:
        await services.close()
        await database.dispose()


async def run_sync(settings: Settings) -> tuple[Any, float]:
    database = Database.from_settings(settings)
    services = Services.create(settings, database)
    try:
        async with database.sessions() as session:
            job = await sync.start(session, sync.SYNC_FOLLOWERS, DEMO_CODE)
            await session.commit()
        started = time.monotonic()
        final = await services.jobs.run(job.id)
        return final, time.monotonic() - started
    finally:
        await services.close()
        await database.dispose()


async def bench_send(
    settings: Settings, control: SandboxControl, workdir: Path, rate: int, minutes: int
) -> dict[str, Any]:
    log(f"sending: limit {rate}/min at Zalo and in the module, {minutes} full windows")
    final, _ = await run_sync(settings.model_copy(update={"zalo_rate_limit_per_minute": UNLIMITED}))
    assert final is not None and final.status == jobs.SUCCEEDED, final
    await control.knobs(rate_limit_per_minute=rate)
    database = Database.from_settings(settings)
    followers = FOLLOWERS.table
    async with database.sessions() as session:
        users = sorted((await session.execute(sa.select(followers.c.zalo))).scalars())
    port = free_port()
    serve = spawn(["serve", "--port", str(port)], env_for(settings), workdir / "serve.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", serve)
        await asyncio.sleep(1.0)  # the lifespan has started the sender
        recent = [u for u in users if u in RECENT] or users
        total = rate * minutes + rate // 2
        start_ms = await align(control)
        async with database.sessions() as session:
            items = [
                {"zalo_user_id": recent[i % len(recent)], "text": f"bench {i}"}
                for i in range(total)
            ]
            result = await _crud.create_many(
                session, MESSAGES, items, SYSTEM, prepare=message.prepare_create
            )
            assert result.ok, result.problems[:3]
            await session.commit()
        queued_ms = int((await control.state())["now_ms"])
        end_ms = start_ms + minutes * 60_000
        now_ms = int((await control.state())["now_ms"])
        await asyncio.sleep(max(end_ms + 2000 - now_ms, 0) / 1000)
    finally:
        stop(serve)
    async with database.sessions() as session:
        rows = (
            await session.execute(
                sa.select(MESSAGES.table.c.status, MESSAGES.table.c.sent_at).where(
                    MESSAGES.table.c.direction == "out"
                )
            )
        ).all()
    await database.dispose()
    windows = [0] * minutes
    for status, sent_at in rows:
        if status == "sent" and sent_at is not None:
            index = (int(sent_at.timestamp() * 1000) - start_ms) // 60_000
            if 0 <= index < minutes:
                windows[index] += 1
    state = await control.state()
    mean = sum(windows) / minutes
    return {
        "limit_per_minute": rate,
        "queued": total,
        "queued_after_window_start_ms": queued_ms - start_ms,
        "sent_per_window": windows,
        "sent_per_minute": mean,
        "ratio_to_limit": mean / rate,
        "sent_total": sum(1 for s, _ in rows if s == "sent"),
        "still_queued": sum(1 for s, _ in rows if s in ("queued", "sending")),
        "failed": sum(1 for s, _ in rows if s == "failed"),
        "zalo_send_calls": state["calls"].get("POST /openapi/v3.0/oa/message/cs", 0),
        "doubles": sum(1 for n in state["oa_message_counts"].values() if n > 1),
    }


def users_seed(count: int) -> dict[str, Any]:
    users = [
        {
            "user_id": str(3_000_000_000_000_000 + i * 7919),
            "display_name": f"Khách hàng {i}",
            "last_interaction_days_ago": i % 6,
            "tags": ["vip"] if i % 10 == 0 else [],
            "avatar": f"https://s120-ava-talk.zadn.vn/bench/{i}.jpg",
        }
        for i in range(count)
    ]
    return {
        "oas": [
            {
                "oa_id": DEMO_OA_ID,
                "name": "demo OA",
                "admin_phones": [DEMO_ADMIN_PHONE],
                "users": users,
            }
        ]
    }


async def bench_sync(
    settings: Settings, control: SandboxControl, users: int, rate: int
) -> dict[str, Any]:
    log(f"follower sync: {users} users, limit {rate}/min")
    await control.seed(users_seed(users))
    await control.knobs(rate_limit_per_minute=rate)
    before = (await control.state())["calls"]
    await align(control)
    final, elapsed = await run_sync(
        settings.model_copy(update={"zalo_rate_limit_per_minute": rate})
    )
    after = (await control.state())["calls"]
    assert final is not None and final.status == jobs.SUCCEEDED, final

    def made(state: dict[str, int]) -> int:
        return sum(n for path, n in state.items() if path.startswith("GET /openapi/v3.0/oa/user/"))

    calls = made(after) - made(before)
    sustained = calls / rate * 60
    windows = math.ceil(calls / rate)
    log("follower sync again, no limit (the module's own speed)")
    await control.knobs(rate_limit_per_minute=UNLIMITED)
    again, raw = await run_sync(
        settings.model_copy(update={"zalo_rate_limit_per_minute": UNLIMITED})
    )
    assert again is not None and again.status == jobs.SUCCEEDED and again.updated_count == 0
    # The windows' limit lets the last calls start no earlier than the last window needed;
    # those then take what the module needs for them without a limit.
    allowed = (windows - 1) * 60 + (calls - (windows - 1) * rate) / (calls / raw)
    return {
        "users": users,
        "limit_per_minute": rate,
        "zalo_calls": calls,
        "created": final.created_count,
        "seconds": elapsed,
        "allowed_seconds": allowed,
        "ratio_to_allowed": elapsed / allowed,
        "sustained_bound_seconds": sustained,
        "ratio_to_sustained_bound": elapsed / sustained,
        "unlimited_seconds": raw,
        "unlimited_calls_per_second": calls / raw,
        "second_run_updated": again.updated_count,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = ROOT / "var" / "bench-sender" / args.db
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    sandbox_port = free_port()
    sandbox = spawn(
        ["sandbox", "--port", str(sandbox_port)],
        {k: v for k, v in os.environ.items() if not k.startswith("ZALO_OA_")},
        workdir / "sandbox.log",
    )
    pg_dir = None
    try:
        base = f"http://127.0.0.1:{sandbox_port}"
        wait_http(base + "/", sandbox)
        if args.db == "postgres":
            url = args.postgres_url
            if url is None:
                pg_dir = "/tmp/zalo-oa-bench-sender-pg"
                started = await asyncio.to_thread(
                    subprocess.run,
                    [str(ROOT / "scripts" / "postgres"), "start", pg_dir, "55477"],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                url = started.stdout.strip()
        else:
            url = f"sqlite:///{workdir / 'bench.db'}"
        settings = Settings(
            database_url=url,
            data_dir=workdir / "data",
            oauth_base_url=base + "/oauth",
            openapi_base_url=base + "/openapi",
            zns_base_url=base + "/zns",
            zalo_rate_limit_per_minute=args.send_rate,
            retry_base_seconds=1.0,
            _env_file=None,  # type: ignore[call-arg]
        )
        await setup(settings, args.db == "postgres")
        control = SandboxControl(base)
        try:
            results: dict[str, Any] = {"db": args.db}
            if args.minutes:
                results["send"] = await bench_send(
                    settings, control, workdir, args.send_rate, args.minutes
                )
                log(json.dumps(results["send"]))
            if args.sync_users:
                results["sync"] = await bench_sync(
                    settings, control, args.sync_users, args.sync_rate
                )
                log(json.dumps(results["sync"]))
        finally:
            await control.close()
        return results
    finally:
        stop(sandbox)
        if pg_dir is not None:
            await asyncio.to_thread(
                subprocess.run, [str(ROOT / "scripts" / "postgres"), "stop", pg_dir], check=False
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", help="a scratch PostgreSQL (wiped!)")
    parser.add_argument("--send-rate", type=int, default=600, help="messages per minute")
    parser.add_argument("--minutes", type=int, default=3, help="full windows to measure")
    parser.add_argument("--sync-users", type=int, default=10_000)
    parser.add_argument("--sync-rate", type=int, default=3000, help="calls per minute")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    out = ROOT / "var" / "bench-sender" / f"{args.db}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

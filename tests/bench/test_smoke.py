"""The benchmark's smoke run: `bench/run --size tiny` end to end, so the bench does not rot.

It starts its own throwaway PostgreSQL, the module (`zalo-oa serve --workers 2`) and wrk
on loopback ports of its own, so it runs only when asked: ``ZALO_OA_BENCH_SMOKE=1``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("ZALO_OA_BENCH_SMOKE") != "1",
    reason="the bench smoke run is opt-in: set ZALO_OA_BENCH_SMOKE=1",
)


def test_tiny_bench_prints_the_table_with_no_wrong_answer() -> None:
    workdir = Path("/tmp/zalo-bench-smoke")  # the postgres user must reach it: not tmp_path
    result = subprocess.run(
        [str(ROOT / "bench" / "run"), "--size", "tiny", "--workdir", str(workdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = result.stdout
    assert "| workload | system | c | throughput |" in out, result.stderr[-3000:]
    for workload in ("W1", "W2", "W3", "W4", "W5", "W7"):
        assert f"| {workload} | module GraphQL |" in out, out
    for pair in ("list sparse", "list all", "one sparse", "one all"):  # measured in pairs
        assert f"| W6 {pair} (REST) | module REST |" in out, out
        assert f"| W6 {pair} (GraphQL twin) | module GraphQL |" in out, out
    assert "its GraphQL twin; 3 slices alternating with its pair" in out, out
    assert "wrong answers: 0" in out, out
    assert "**WRONG**" not in out, out
    assert result.returncode == 0, result.stderr[-3000:]

"""The bench refuses a port something already listens on (a server left over from an
interrupted run would otherwise answer, and be measured, in place of its own)."""

from __future__ import annotations

import socket

import pytest

from bench import procs


def test_a_taken_port_is_refused_by_number() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {port} \\(for the module\\) is taken"):
            procs.require_free(port, "the module")


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    procs.require_free(port, "the module")

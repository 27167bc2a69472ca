"""Ports for the servers tests start, taken below the kernel's ephemeral range.

A port found by binding port 0 comes from the ephemeral range, the same range the kernel hands every other
process that binds port 0 or connects out: the Temporal dev server's own HTTP, metrics and internal ports, and
every client. Between finding such a port and our server binding it, another process may take it (CI, stop 23:
`firebreak up`'s intake found its port taken and exited). Below the range, only a server started on a port by
number can collide, so each pytest-xdist worker takes its own block of ports there and skips any port
something already holds.
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

FIRST_PORT = 20000
BLOCK = 500
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; other kernels: the bind check below still guards


def _worker_block() -> range:
    """This test process's ports: block 0 without xdist, block N+1 for worker gwN."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    start = FIRST_PORT + index * BLOCK
    return range(start, min(start + BLOCK, _ephemeral_start()))


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_BLOCK = _worker_block()
_next_ports = itertools.cycle(_BLOCK)


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now, and that no other call in this test run hands out soon."""
    if not _BLOCK:  # an ephemeral range starting below our blocks: fall back to the kernel's pick
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for _ in range(len(_BLOCK)):
        port = next(_next_ports)
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {_BLOCK.start}-{_BLOCK.stop - 1} on 127.0.0.1")

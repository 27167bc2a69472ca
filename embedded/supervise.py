"""What makes `firebreak up` a supervisor: one `up` per home, ports checked first, children watched.

- `claim_home`: an exclusive lock on $FIREBREAK_HOME/up.lock, held while `up` lives (the kernel drops it when
  the process dies, even by SIGKILL), so a second `up` over the same home says so before it starts anything.
- `busy_ports`: the ports `up` is about to bind, refused up front when something already listens there.
- `Child` / `watch`: every child is polled; the first one that exits on its own ends `up`, with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from embedded.leash import terminate

LOCK_NAME = "up.lock"
POLL_SECONDS = 0.2


class SupervisorError(Exception):
    """`up` cannot start or go on; the message says why and what to do."""


@dataclass
class HomeLock:
    path: Path
    handle: IO[str]

    def describe(self, what: dict[str, str]) -> None:
        """Write who holds the lock and where it listens, for the `up` that finds it taken."""
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(json.dumps({"pid": os.getpid(), **what}))
        self.handle.flush()

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def claim_home(home: Path) -> HomeLock:
    """Take $FIREBREAK_HOME/up.lock, or raise SupervisorError naming the `up` that holds it."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            handle.close()
            raise SupervisorError(f"cannot lock {path}: {err.strerror}") from err
        handle.seek(0)
        holder = _holder(handle.read())
        handle.close()
        raise SupervisorError(f"`firebreak up` is already running for {home}{holder}. Use that one, stop it "
                              f"first (Ctrl-C in its terminal), or set FIREBREAK_HOME to another directory and "
                              f"pick other ports.") from err
    return HomeLock(path, handle)


def _holder(text: str) -> str:
    try:
        info = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(info, dict):
        return ""
    parts = [f"{k} {v}" for k, v in info.items() if k != "pid"]
    return f" (pid {info.get('pid', '?')}" + (f": {', '.join(parts)}" if parts else "") + ")"


def busy_ports(host: str, ports: dict[str, int]) -> list[str]:
    """The ports among `ports` (what -> port) where something already listens on `host`."""
    busy = []
    for what, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                busy.append(f"{port} ({what})")
    return busy


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    """A process `up` started and answers for."""

    name: str
    process: subprocess.Popen[bytes]
    log_tail: Callable[[], str] = field(default=lambda: "")
    exit_code: int = 3  # what `up` exits with when this child dies on its own

    def exited(self) -> int | None:
        return self.process.poll()

    def reason(self) -> str:
        code = self.process.returncode
        tail = self.log_tail().strip()
        return (f"the {self.name} (pid {self.process.pid}) stopped on its own: {exit_reason(code)}"
                + (f"; its log ends:\n{tail}" if tail else ""))

    def stop(self, timeout: float = 15.0) -> None:
        terminate(self.process, timeout)


async def watch(children: Sequence[Child], stop: asyncio.Event) -> Child | None:
    """Until `stop` is set: the first child that exits on its own (and set `stop`), or None."""
    while not stop.is_set():
        for child in children:
            if child.exited() is not None:
                stop.set()
                return child
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)
    return None


async def wait_http(child: Child, url: str, timeout: float) -> None:
    """Until `url` answers 200; SupervisorError when the child exits first or the time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=1.0) as http:
        while loop.time() < deadline:
            if child.exited() is not None:
                raise SupervisorError(child.reason().replace("stopped on its own", "did not start"))
            try:
                answer = await http.get(url)
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}"
            except httpx.HTTPError as err:
                last = str(err) or type(err).__name__
            await asyncio.sleep(POLL_SECONDS)
    raise SupervisorError(f"the {child.name} did not answer {url} within {timeout:.0f} s ({last})")

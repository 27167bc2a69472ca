"""`firebreak up` supervises what it starts: real `up` processes on free ports, killed and doubled up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, write_playbook

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG")


class Up:
    def __init__(self, home: Path, playbook: Path, api: bool = True) -> None:
        self.home, self.port, self.ui_port, self.api_port = home, free_port(), free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        self.env.update({"FIREBREAK_HOME": str(home), "FIREBREAK_PLAYBOOK": str(playbook),
                         "FIREBREAK_TASK_QUEUE": f"up-{uuid.uuid4()}"})
        self.args = ["up", "--port", str(self.port), "--ui-port", str(self.ui_port), "--api-port",
                     str(self.api_port), *([] if api else ["--no-api"])]
        self.out = home.parent / f"up-{uuid.uuid4().hex[:6]}.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen([FIREBREAK, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        return self.proc

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no '{text}' from firebreak up:\n{self.output()}")

    def run_again(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([FIREBREAK, *self.args], env=env or self.env, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)


def children(pid: int) -> dict[int, str]:
    """Live processes whose parent is `pid`: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped is dead)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running(up: Up) -> Iterator[Up]:
    proc = up.start()
    kids: dict[int, str] = {}
    try:
        up.wait_for("Artefacts:")
        kids.update(children(proc.pid))
        yield up
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in list(kids) + list(children(proc.pid)):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_children_die_with_up_even_on_sigkill_and_a_second_up_is_refused(tmp_path: Path) -> None:
    up = Up(tmp_path / "home", write_playbook(tmp_path))
    with running(up):
        assert up.proc is not None
        kids = children(up.proc.pid)
        assert any("start-dev" in c and str(up.home / "temporal.db") in c for c in kids.values()), kids
        assert any("-m intake" in c and f"--port {up.api_port}" in c for c in kids.values()), kids
        # ready: Temporal answers and up's own worker polls the task queue
        deadline = time.monotonic() + 30
        while (ready := httpx.get(f"http://127.0.0.1:{up.api_port}/readyz", timeout=5)).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
        assert ready.json()["workers"] >= 1

        again = up.run_again()
        assert again.returncode == 1, again.stdout + again.stderr
        assert f"`firebreak up` is already running for {up.home} (pid {up.proc.pid}" in again.stderr
        assert "Temporal:" not in again.stdout  # no banner: it started nothing
        elsewhere = up.run_again({**up.env, "FIREBREAK_HOME": str(tmp_path / "other")})
        assert elsewhere.returncode == 1, elsewhere.stdout + elsewhere.stderr
        assert f"something already listens on 127.0.0.1 port {up.port} (Temporal)" in elsewhere.stderr
        assert not (tmp_path / "other" / "temporal.db").exists()
        assert set(children(up.proc.pid)) == set(kids)  # neither attempt started a server or an intake

        up.proc.kill()  # SIGKILL: up gets no chance to stop anyone
        up.proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [kids[pid] for pid in kids if alive(pid)]
        assert not [p for p in (up.port, up.ui_port, up.api_port) if listening(p)]


def test_up_fails_with_the_reason_when_the_dev_server_dies(tmp_path: Path) -> None:
    up = Up(tmp_path / "home", write_playbook(tmp_path))
    with running(up):
        assert up.proc is not None
        server = next(pid for pid, c in children(up.proc.pid).items() if "start-dev" in c)
        intake = next(pid for pid, c in children(up.proc.pid).items() if "-m intake" in c)
        os.kill(server, signal.SIGKILL)
        assert up.proc.wait(timeout=60) == 3
        out = up.output()
        assert f"firebreak: the Temporal dev server (pid {server}) stopped on its own: killed by SIGKILL" in out
        assert "stopping the rest" in out and out.rstrip().endswith("firebreak: stopped")
        assert not alive(intake) and not listening(up.api_port)


def test_an_intake_that_cannot_start_fails_up_with_its_reason(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, '[intake.sources.api]\nformat = "firebreak"\ntoken_env = "NOT_SET_ANYWHERE"\n')
    up = Up(tmp_path / "home", playbook)
    up.env.pop("NOT_SET_ANYWHERE", None)
    proc = up.start()
    try:
        assert proc.wait(timeout=120) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    out = up.output()
    assert "the secret NOT_SET_ANYWHERE is not set" in out  # the intake's own words
    assert "firebreak: the intake API (pid " in out and ") did not start: exit code 2" in out
    assert "Temporal UI:" not in out  # no banner
    assert not listening(up.port)  # the dev server it had started is stopped again

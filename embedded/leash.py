"""`python -m embedded.leash PARENT_PID -- CMD ...`: run CMD so that it dies with the process that started it.

`firebreak up` starts the Temporal dev server and the intake API through this. On Linux it asks the kernel for
PR_SET_PDEATHSIG (SIGTERM), then execs CMD in its place (same pid, same command line): when `up` dies — even by
SIGKILL, which leaves it no chance to stop anyone — the kernel sends CMD a SIGTERM and it shuts down as on
Ctrl-C. Doing this here rather than in a `preexec_fn` keeps it out of the forked copy of `up`, whose SDK threads
make anything but exec unsafe after fork. The death signal is tied to the thread that started the child, so `up`
starts its children from its main thread. Elsewhere than Linux CMD is exec'd as it is, without that guarantee.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
DEATH_SIGNAL = signal.SIGTERM


def leashed(command: list[str]) -> list[str]:
    """`command`, started through this module so that it dies with the calling process."""
    return [sys.executable, "-m", "embedded.leash", str(os.getpid()), "--", *command]


def _tie_to_parent(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SystemExit(f"firebreak: cannot tie this process to its parent: {os.strerror(err)}")
    if os.getppid() != parent:  # the parent died before prctl: nobody would send the signal now
        raise SystemExit(f"firebreak: process {parent} that started this one is gone; not starting")


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        raise SystemExit("usage: python -m embedded.leash PARENT_PID -- COMMAND [ARG ...]")
    _tie_to_parent(int(argv[0]))
    command = argv[2:]
    try:
        os.execvp(command[0], command)
    except OSError as err:
        raise SystemExit(f"firebreak: cannot run {command[0]}: {err.strerror}") from err


if __name__ == "__main__":
    main(sys.argv[1:])


def terminate(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`: a child that ignores the polite stop still goes."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)

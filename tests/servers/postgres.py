"""A real PostgreSQL server for tests: Debian's `postgresql` package (`make test` installs it when root), started
with initdb/pg_ctl in a temporary folder on a free 127.0.0.1 port.

PostgreSQL refuses to run as root, so as root the server runs as a dedicated user (created with useradd when
missing); otherwise as the current user. Reuse it for any test that needs PostgreSQL:

    with postgres_server() as pg:
        url = pg.url("mydb")   # creates the database on first use
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.ports import free_port

BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]
SERVICE_USER = "firebreak-pg"


class PostgresUnavailable(Exception):
    """No PostgreSQL binaries on this machine (install Debian's `postgresql`: `make test` does, as root)."""


def bin_dir() -> Path:
    for folder in BIN_DIRS:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")


def _run_as() -> str | None:
    """The user the server runs as: a dedicated one when we are root (created on first use), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                               SERVICE_USER], capture_output=True)
        if made.returncode != 0:
            pwd.getpwnam(SERVICE_USER)  # another test process (pytest-xdist) made it first; else KeyError
    return SERVICE_USER


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    bindir: Path
    _databases: set[str] = field(default_factory=set)

    def url(self, database: str = "postgres") -> str:
        """postgresql://user@127.0.0.1:port/database, created when first asked for (trust auth on loopback)."""
        if database != "postgres" and database not in self._databases:
            subprocess.run([str(self.bindir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user,
                            database], check=True, capture_output=True, timeout=30)
            self._databases.add(database)
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway server; stop it and remove its data afterwards."""
    bindir, user = bin_dir(), _run_as()
    superuser = user or pwd.getpwuid(os.geteuid()).pw_name
    tmp = Path(tempfile.mkdtemp(prefix="firebreak-pg-"))
    data, log, port = tmp / "data", tmp / "server.log", free_port()
    if user is not None:
        shutil.chown(tmp, user)
    os.chmod(tmp, 0o700)

    def run(*args: str, timeout: float = 60) -> None:
        subprocess.run(list(args), check=True, capture_output=True, timeout=timeout, user=user, cwd=tmp)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", superuser, "--auth=trust", "--no-sync",
            "-E", "UTF8", "--locale=C")
        options = f"-h 127.0.0.1 -p {port} -k {tmp} -c fsync=off -c full_page_writes=off -c max_connections=100"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start",
            timeout=90)
        try:
            yield PostgresServer("127.0.0.1", port, superuser, bindir)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or b"").decode(errors="replace")
        if log.exists():
            detail += log.read_text(errors="replace")[-2000:]
        raise PostgresUnavailable(f"PostgreSQL did not start: {detail}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

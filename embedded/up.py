"""`firebreak up`: the embedded default — dev server (SQLite under .firebreak/), worker and intake API.

With TEMPORAL_ADDRESS (or a Temporal config profile) set, no embedded server starts: the worker and the
API use that cluster. Ctrl-C stops everything; running it again carries on with the same SQLite file.

`up` supervises what it starts (embedded/supervise.py, docs/operations.md): one `up` per FIREBREAK_HOME, its
ports checked before anything starts, its children tied to it (embedded/leash.py: they die with it, even on
SIGKILL), and a child that fails to start or dies later ends `up` with that child's reason.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import settings
from client.codec import CodecConfigError, load_codec
from embedded.devserver import DevServer, DevServerError
from embedded.leash import leashed
from embedded.supervise import Child, HomeLock, SupervisorError, busy_ports, claim_home, wait_http, watch
from intake.codec_server import ORIGINS_ENV
from observability.logs import configure_logging
from observability.runtime import MetricsConfigError, metrics_address
from observability.tracing import TracingConfigError
from observability.tracing import setup as setup_tracing
from settings import database_url, firebreak_home
from worker import run_worker

log = logging.getLogger("firebreak.up")
HOST = "127.0.0.1"
API_START_SECONDS = 60.0
WORKER_STOP_SECONDS = 20.0
# Exit codes (cli.py's): 1 refused (another `up`, a busy port) or a child other than Temporal failed; 2 bad
# configuration; 3 the Temporal dev server did not start or stopped.
REFUSED, TEMPORAL_DOWN = 1, 3


def _api_command(args: argparse.Namespace, address: str) -> list[str] | None:
    if args.no_api:
        return None
    if importlib.util.find_spec("intake.__main__") is None:
        log.warning("the intake API is not installed in this build; skipping it")
        return None
    return [sys.executable, "-m", "intake", "--playbook", str(args.playbook), "--host", HOST,
            "--port", str(args.api_port), "--address", address]


def _ports(args: argparse.Namespace, external: str | None, api: bool) -> dict[str, int]:
    ports = {} if external else {"Temporal": args.port, "Temporal UI": args.ui_port}
    return ports | ({"intake API": args.api_port} if api else {})


async def _up(args: argparse.Namespace) -> int:
    home = firebreak_home()
    external = args.address or os.environ.get("TEMPORAL_ADDRESS")
    try:
        encrypted = load_codec() is not None
        metrics_address()
        setup_tracing("firebreak-worker")  # the intake process sets up its own
    except (CodecConfigError, MetricsConfigError, TracingConfigError) as err:
        print(f"firebreak: {err}", file=sys.stderr)
        return 2
    try:
        lock = claim_home(home)
    except SupervisorError as err:
        print(f"firebreak: {err}", file=sys.stderr)
        return REFUSED
    try:
        return await _supervise(args, home, external, encrypted, lock)
    finally:
        lock.release()


async def _supervise(args: argparse.Namespace, home: Path, external: str | None, encrypted: bool,
                     lock: HomeLock) -> int:
    with_api = not args.no_api and importlib.util.find_spec("intake.__main__") is not None
    busy = busy_ports(HOST, _ports(args, external, with_api))
    if busy:
        print(f"firebreak: not starting: something already listens on {HOST} port {', '.join(busy)} (another "
              f"`firebreak up` or Temporal server?). Stop it, pick other ports (--port, --ui-port, --api-port), "
              f"or set TEMPORAL_ADDRESS to use a Temporal server that is already running.", file=sys.stderr)
        return REFUSED
    # With encryption on, the UI decodes payloads through the intake's codec endpoint (intake/codec_server.py).
    codec_endpoint = f"http://{HOST}:{args.api_port}/codec" if encrypted and with_api else None
    if codec_endpoint:
        os.environ.setdefault(ORIGINS_ENV, f"http://localhost:{args.ui_port},http://127.0.0.1:{args.ui_port}")
    children: list[Child] = []
    try:
        server: DevServer | None = None
        if external:
            address = external
            log.info("using the Temporal server at %s; no embedded server started", address)
        else:
            server = DevServer(db_path=home / "temporal.db", log_path=home / "temporal.log", port=args.port,
                               ui_port=args.ui_port, codec_endpoint=codec_endpoint)
            server.start()
            assert server.process is not None
            children.append(Child("Temporal dev server", server.process, server.log_tail, TEMPORAL_DOWN))
            try:
                await server.wait_ready()
            except DevServerError as err:
                print(f"firebreak: {err}", file=sys.stderr)
                return TEMPORAL_DOWN
            address = server.address
        api_command = _api_command(args, address)
        if api_command is not None:
            # From this (the main) thread: the child's death signal follows the thread that started it.
            ui = {settings.TEMPORAL_UI_URL: server.ui_url} if server is not None else {}  # the board links to it
            api = subprocess.Popen(leashed(api_command), stdin=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, **ui})
            children.append(Child("intake API", api, exit_code=REFUSED))
            try:
                await wait_http(children[-1], f"http://{HOST}:{args.api_port}/healthz", API_START_SECONDS)
            except SupervisorError as err:
                print(f"firebreak: {err}", file=sys.stderr)
                return REFUSED
        lock.describe({"temporal": address, **({"intake": f"{HOST}:{args.api_port}"} if api_command else {})})
        _banner(args, home, address, server, api_command is not None, codec_endpoint)
        return await _run(args, address, children)
    finally:
        for child in reversed(children):  # the intake first, so it stops taking alerts before Temporal goes
            child.stop()
        print("firebreak: stopped", flush=True)


def _banner(args: argparse.Namespace, home: Path, address: str, server: DevServer | None, api: bool,
            codec_endpoint: str | None) -> None:
    lines = [f"Temporal:     {address}" + ("" if server is None else f" (dev server, data in {home / 'temporal.db'})")]
    if server is not None:
        lines.append(f"Temporal UI:  {server.ui_url}/namespaces/default/workflows")
    if api:
        lines.append(f"Intake API:   http://{HOST}:{args.api_port} (OpenAPI at /docs)"
                     + (f"; codec server at {codec_endpoint}" if codec_endpoint else ""))
        lines.append(f"Board:        http://{HOST}:{args.api_port}/ (sign in with `firebreak token issue PERSON`)")
    store = "PostgreSQL (FIREBREAK_DATABASE_URL)" if database_url() else str(home / "artefacts")
    lines += [f"Artefacts:    {store}", f"Playbook:     {args.playbook}",
              "Ctrl-C stops everything; `firebreak declare --service S --kind toxicity` opens an incident."]
    print("\n".join(lines), flush=True)


async def _run(args: argparse.Namespace, address: str, children: list[Child]) -> int:
    """The worker in this process and the watch over the children, until Ctrl-C or until something fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = asyncio.create_task(run_worker(args.playbook.resolve(), address, stop), name="worker")
    watcher = asyncio.create_task(watch(children, stop), name="watch")
    await asyncio.wait({worker, watcher}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    dead = await watcher
    if dead is not None:
        print(f"firebreak: {dead.reason()}\nfirebreak: stopping the rest", file=sys.stderr, flush=True)
    # A worker whose Temporal is gone cannot finish anything and may not finish its shutdown: do not wait for it.
    bound = 3.0 if dead is not None and dead.exit_code == TEMPORAL_DOWN else WORKER_STOP_SECONDS
    done, _ = await asyncio.wait({worker}, timeout=bound)
    if not done:
        worker.cancel()
        await asyncio.wait({worker}, timeout=5.0)
        log.warning("the worker did not stop within %.0f s; left it", bound)
    elif not worker.cancelled() and worker.exception() is not None:
        print(f"firebreak: the worker stopped: {worker.exception()}", file=sys.stderr, flush=True)
        return dead.exit_code if dead is not None else REFUSED
    return dead.exit_code if dead is not None else 0


def run_up(args: argparse.Namespace) -> int:
    configure_logging()
    return asyncio.run(_up(args))

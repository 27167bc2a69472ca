"""`firebreak up`: the embedded default — dev server (SQLite under .firebreak/), worker and intake API.

With TEMPORAL_ADDRESS (or a Temporal config profile) set, no embedded server starts: the worker and the
API use that cluster. Ctrl-C stops everything; running it again carries on with the same SQLite file.
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

from client.codec import CodecConfigError, load_codec
from embedded.devserver import DevServer, DevServerError
from intake.codec_server import ORIGINS_ENV
from observability.logs import configure_logging
from observability.runtime import MetricsConfigError, metrics_address
from observability.tracing import TracingConfigError
from observability.tracing import setup as setup_tracing
from settings import firebreak_home
from worker import run_worker

log = logging.getLogger("firebreak.up")


def _start_api(args: argparse.Namespace, address: str) -> subprocess.Popen[bytes] | None:
    if args.no_api:
        return None
    if importlib.util.find_spec("intake.__main__") is None:
        log.warning("the intake API is not installed in this build; skipping it")
        return None
    cmd = [sys.executable, "-m", "intake", "--playbook", str(args.playbook), "--host", "127.0.0.1",
           "--port", str(args.api_port), "--address", address]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)


async def _up(args: argparse.Namespace) -> int:
    home = firebreak_home()
    external = args.address or os.environ.get("TEMPORAL_ADDRESS")
    server: DevServer | None = None
    try:
        encrypted = load_codec() is not None
        metrics_address()
        setup_tracing("firebreak-worker")  # the intake process sets up its own
    except (CodecConfigError, MetricsConfigError, TracingConfigError) as err:
        print(f"firebreak: {err}", file=sys.stderr)
        return 2
    # With encryption on, the UI decodes payloads through the intake's codec endpoint (intake/codec_server.py).
    codec_endpoint = f"http://127.0.0.1:{args.api_port}/codec" if encrypted and not args.no_api else None
    if codec_endpoint:
        os.environ.setdefault(ORIGINS_ENV, f"http://localhost:{args.ui_port},http://127.0.0.1:{args.ui_port}")
    if external:
        address = external
        log.info("using the Temporal server at %s; no embedded server started", address)
    else:
        server = DevServer(db_path=home / "temporal.db", log_path=home / "temporal.log", port=args.port,
                           ui_port=args.ui_port, codec_endpoint=codec_endpoint)
        server.start()
        try:
            await server.wait_ready()
        except DevServerError as err:
            server.stop()
            print(f"firebreak: {err}", file=sys.stderr)
            return 3
        address = server.address
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    api = _start_api(args, address)
    lines = [f"Temporal:     {address}" + ("" if external else f" (dev server, data in {home / 'temporal.db'})")]
    if server is not None:
        lines.append(f"Temporal UI:  {server.ui_url}/namespaces/default/workflows")
    if api is not None:
        lines.append(f"Intake API:   http://127.0.0.1:{args.api_port} (OpenAPI at /docs)"
                     + (f"; codec server at {codec_endpoint}" if codec_endpoint else ""))
    lines += [f"Artefacts:    {home / 'artefacts'}", f"Playbook:     {args.playbook}",
              "Ctrl-C stops everything; `firebreak declare --service S --kind toxicity` opens an incident."]
    print("\n".join(lines), flush=True)
    try:
        await run_worker(args.playbook.resolve(), address, stop)
    finally:
        if api is not None and api.poll() is None:
            api.send_signal(signal.SIGTERM)
            try:
                api.wait(timeout=15)
            except subprocess.TimeoutExpired:
                api.kill()
        if server is not None:
            server.stop()
        print("firebreak: stopped", flush=True)
    return 0


def run_up(args: argparse.Namespace) -> int:
    configure_logging()
    return asyncio.run(_up(args))

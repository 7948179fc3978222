"""The peers of the HTTP and OpenDSR systems' tests, each a process of its own on loopback.

- ``receiver``: the reference webhook receiver (``tests/systems/receiver.py``), steered over HTTP;
  it can be stopped and started again on the same port (a system that is down, then back).
- ``tracker_server``: a second tracker process (gunicorn) on the test database, serving the
  OpenDSR processor endpoints (``/v1/``) and the systems' callback views: what the receiver calls
  back, and the processor an ``opendsr`` system forwards to.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opendsr.signing import processor_keys
from tests.conftest import (
    LOOPBACK_SYSTEMS_ENV,
    ROOT,
    TEST_WEBHOOK_SECRET,
    TEST_WEBHOOK_SECRET_ENV,
    _test_database_url,
)
from tests.servers import free_port, wait_for_port


def _http(method: str, url: str, payload: Any = None, *, ca_file: str = "") -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        return json.loads(response.read())


@dataclass(frozen=True)
class TlsFiles:
    """A certificate for 127.0.0.1 and localhost, self-signed (its own authority), and its key."""

    certificate: Path
    key: Path


def tls_files_write(directory: Path) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(certificate=directory / "receiver.crt", key=directory / "receiver.key")
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass
class ReceiverProcess:
    """The reference receiver, running in its own process (over https with ``tls``)."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tls: TlsFiles | None = None

    @property
    def base(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def _ca_file(self) -> str:
        return str(self.tls.certificate) if self.tls else ""

    @property
    def hook_url(self) -> str:
        return f"{self.base}/hook"

    def start(self) -> None:
        env = {**os.environ, TEST_WEBHOOK_SECRET_ENV: TEST_WEBHOOK_SECRET}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.systems.receiver",
                "--port",
                str(self.port),
                "--secret-env",
                TEST_WEBHOOK_SECRET_ENV,
                *(
                    ["--tls-cert", str(self.tls.certificate), "--tls-key", str(self.tls.key)]
                    if self.tls
                    else []
                ),
            ],
            cwd=ROOT,
            env=env,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def control(self, **settings: Any) -> None:
        _http("POST", f"{self.base}/_control", settings, ca_file=self._ca_file)

    def received(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = _http("GET", f"{self.base}/_received", ca_file=self._ca_file)
        return found

    def callbacks(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = _http("GET", f"{self.base}/_callbacks", ca_file=self._ca_file)
        return found


@pytest.fixture
def receiver() -> Iterator[ReceiverProcess]:
    process = ReceiverProcess()
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def loopback_systems(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process may reach systems on loopback over http, with the tests' shared secret."""
    settings.SYSTEM_HTTP_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.SYSTEM_HTTP_ALLOW_HTTP = True
    monkeypatch.setenv(TEST_WEBHOOK_SECRET_ENV, TEST_WEBHOOK_SECRET)


@dataclass(frozen=True)
class TrackerServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def processor_host() -> str:
    """The loopback name the OpenDSR processor certificate is for.

    Every process here signs with the key and certificate generated once under ``var/`` (for
    ``OPENDSR_PROCESSOR_DOMAIN``, ``localhost`` by default), and a controller checks that the
    certificate names the processor's host: the second tracker is addressed by that name.
    """
    certificate = processor_keys().certificate
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    found = {str(name) for name in names.get_values_for_type(x509.DNSName)}
    found |= {str(address) for address in names.get_values_for_type(x509.IPAddress)}
    loopback = sorted(found & {"localhost", "127.0.0.1"})
    assert loopback, f"the OpenDSR certificate under var/ is for {found}, not loopback: remove it"
    return loopback[0]


@pytest.fixture(scope="session")
def tracker_server(django_db_setup: None, django_db_blocker: object) -> Iterator[TrackerServer]:
    """A second tracker process on the test database (its data must be committed to be seen)."""
    host, port = processor_host(), free_port()
    env = {
        **os.environ,
        **LOOPBACK_SYSTEMS_ENV,
        "DATABASE_URL": _test_database_url(),
        "SITE_URL": f"http://{host}:{port}",
        "SECURE_SSL_REDIRECT": "false",
        "OPENDSR_CALLBACK_ALLOW_HTTP": "true",
    }
    log = open(ROOT / "var" / "test-tracker-server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, seconds=60)
        yield TrackerServer(host=host, port=port)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()

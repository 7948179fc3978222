"""Signatures: a controller verifies every answer with the certificate that discovery names."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from opendsr import signing
from tests.api.conftest import CommittingClient
from tests.opendsr.conftest import (
    opendsr_request,
    post_request,
    served_certificate,
    verify_signature,
)

pytestmark = pytest.mark.django_db

DOMAIN = "opendsr.processor.test"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def test_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate authority made for this test, as a real one would issue the processor's."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("DSR Tracker test CA"))
        .issuer_name(_name("DSR Tracker test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


@pytest.fixture
def issued(settings: Any, test_ca: tuple[Any, x509.Certificate]) -> x509.Certificate:
    """A processor key and a certificate the test CA issued for it, configured as in production."""
    ca_key, ca_certificate = test_ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(DOMAIN))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    settings.OPENDSR_PRIVATE_KEY = _pem(key)
    settings.OPENDSR_CERTIFICATE = certificate.public_bytes(serialization.Encoding.PEM).decode()
    settings.OPENDSR_PROCESSOR_DOMAIN = DOMAIN
    return certificate


def test_the_certificate_discovery_names_is_the_one_the_ca_issued(
    api: CommittingClient, test_ca: tuple[Any, x509.Certificate], issued: x509.Certificate
) -> None:
    served = served_certificate(api)

    assert served == issued
    served.verify_directly_issued_by(test_ca[1])
    assert served.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == [DOMAIN]


def test_every_answer_is_signed_over_its_raw_body_with_the_certificates_key(
    api: CommittingClient, opendsr: CommittingClient, issued: x509.Certificate
) -> None:
    certificate = served_certificate(api)
    answers = [
        api.get("/v1/discovery"),
        post_request(opendsr, opendsr_request()),
        post_request(opendsr, b"{not json"),
        post_request(api, opendsr_request()),
    ]

    assert [a.status_code for a in answers] == [200, 201, 400, 401]
    for answer in answers:
        assert answer["X-OpenDSR-Processor-Domain"] == DOMAIN
        verify_signature(certificate, answer.content, answer["X-OpenDSR-Signature"])


def test_a_changed_body_fails_verification(api: CommittingClient, issued: x509.Certificate) -> None:
    answer = api.get("/v1/discovery")

    with pytest.raises(InvalidSignature):
        verify_signature(issued, answer.content + b" ", answer["X-OpenDSR-Signature"])


def test_the_processor_signature_field_signs_the_body_without_it(
    opendsr: CommittingClient, issued: x509.Certificate
) -> None:
    receipt = post_request(opendsr, opendsr_request()).json()
    signature = receipt.pop("processor_signature")

    verify_signature(issued, json.dumps(receipt, separators=(",", ":")).encode(), signature)


def test_without_configured_keys_a_key_and_certificate_are_generated_once(
    settings: Any, tmp_path: Path
) -> None:
    settings.OPENDSR_KEY_FILE = tmp_path / "processor.pem"
    settings.OPENDSR_PROCESSOR_DOMAIN = "dsr.example.com"

    first = signing.processor_keys()
    signing._load.cache_clear()
    second = signing.processor_keys()

    assert first.certificate == second.certificate
    assert first.certificate.subject.rfc4514_string() == (
        "O=DSR Tracker OpenDSR processor,CN=dsr.example.com"
    )
    assert stat.S_IMODE(settings.OPENDSR_KEY_FILE.stat().st_mode) == 0o600


def test_a_key_without_its_certificate_stops_with_a_clear_error(
    settings: Any, issued: x509.Certificate
) -> None:
    settings.OPENDSR_CERTIFICATE = ""

    with pytest.raises(ImproperlyConfigured, match="must be set together"):
        signing.processor_keys()


def test_a_certificate_for_another_key_is_refused(settings: Any, issued: x509.Certificate) -> None:
    settings.OPENDSR_PRIVATE_KEY = _pem(ec.generate_private_key(ec.SECP256R1()))

    with pytest.raises(ImproperlyConfigured, match="is not for its key"):
        signing.processor_keys()

"""The processor's signing key and certificate, and the signature on every OpenDSR message.

A signature is the base64 of an RSA (PKCS #1 v1.5) or ECDSA signature with SHA-256 over the raw
bytes of a response or callback body, made with the private key of the certificate that
``/v1/discovery`` names. Controllers verify it with that certificate before parsing the body.

Production sets ``OPENDSR_PRIVATE_KEY`` and ``OPENDSR_CERTIFICATE`` (PEM, usually through
``OPENDSR_PRIVATE_KEY_FILE`` / ``OPENDSR_CERTIFICATE_FILE``) to a key and a CA-issued certificate
for ``OPENDSR_PROCESSOR_DOMAIN``, as the spec requires. Without them an RSA key and a self-signed
certificate for that domain are generated once into ``OPENDSR_KEY_FILE`` (under ``VAR_DIR``,
owner-only), which is enough to evaluate the interface but not what a controller should trust.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----\s*", re.DOTALL)
GENERATED_KEY_BITS = 3072
GENERATED_CERTIFICATE_DAYS = 3650


@dataclass(frozen=True)
class ProcessorKeys:
    private_key: SigningKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def processor_keys() -> ProcessorKeys:
    """Return the configured key and certificate, or the generated ones (created on first use)."""
    return _load(
        settings.OPENDSR_PRIVATE_KEY,
        settings.OPENDSR_CERTIFICATE,
        str(settings.OPENDSR_KEY_FILE),
        settings.OPENDSR_PROCESSOR_DOMAIN,
    )


@functools.lru_cache(maxsize=8)
def _load(key_pem: str, certificate_pem: str, key_file: str, domain: str) -> ProcessorKeys:
    if key_pem or certificate_pem:
        if not (key_pem and certificate_pem):
            raise ImproperlyConfigured(
                "OPENDSR_PRIVATE_KEY and OPENDSR_CERTIFICATE must be set together"
            )
        return _parse(key_pem.encode("ascii"), certificate_pem.encode("ascii"), source="settings")
    path = Path(key_file)
    if not path.exists():
        _generate(path, domain)
    blocks = {m.group(1).decode(): m.group(0) for m in _PEM_BLOCK.finditer(path.read_bytes())}
    if "PRIVATE KEY" not in blocks or "CERTIFICATE" not in blocks:
        raise ImproperlyConfigured(f"{path} must hold a PRIVATE KEY and a CERTIFICATE block")
    return _parse(blocks["PRIVATE KEY"], blocks["CERTIFICATE"], source=str(path))


def _parse(key_pem: bytes, certificate_pem: bytes, *, source: str) -> ProcessorKeys:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as error:
        raise ImproperlyConfigured(f"the OpenDSR key or certificate in {source}: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ImproperlyConfigured("the OpenDSR signing key must be an RSA or an EC key")
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ImproperlyConfigured(f"the OpenDSR certificate in {source} is not for its key")
    return ProcessorKeys(private_key=key, certificate=certificate)


def _subject_alternative_name(domain: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(domain))
    except ValueError:
        return x509.DNSName(domain)


def _generate(path: Path, domain: str) -> None:
    """Write a new RSA key and a self-signed certificate for ``domain`` to ``path`` (mode 600).

    The file appears complete or not at all: it is written under another name and hard-linked
    into place, which fails if another process got there first (its pair then wins).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_KEY_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, domain),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DSR Tracker OpenDSR processor"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=GENERATED_CERTIFICATE_DAYS))
        .add_extension(x509.SubjectAlternativeName([_subject_alternative_name(domain)]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    content = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + certificate.public_bytes(serialization.Encoding.PEM)
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        with contextlib.suppress(FileExistsError):  # another process's pair won
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def sign(body: bytes) -> str:
    """Return the base64 signature of ``body`` (SHA-256) with the processor's key."""
    key = processor_keys().private_key
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode("ascii")


def signature_headers(body: bytes) -> dict[str, str]:
    """Return the headers that sign ``body``: OpenDSR's, and OpenGDPR's older names for them."""
    signature = sign(body)
    domain = settings.OPENDSR_PROCESSOR_DOMAIN
    return {
        "X-OpenDSR-Processor-Domain": domain,
        "X-OpenDSR-Signature": signature,
        "X-OpenGDPR-Processor-Domain": domain,
        "X-OpenGDPR-Signature": signature,
    }

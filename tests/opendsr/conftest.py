"""Shared set-up for the OpenDSR tests: a processor organisation, a controller, a local server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.urls import reverse

from opendsr.models import Controller
from policies.models import Organization, PolicyVersion, RequestType
from tests.api.conftest import CommittingClient
from tests.factories import ControllerFactory
from tests.tracker import (
    _fresh_rate_limits,
    _plain_http,
    _tasks_run_in_process,
    organization,
    publish_version,
    version,
)


@pytest.fixture(autouse=True)
def _commit_after_each_call(django_capture_on_commit_callbacks: Any) -> None:
    CommittingClient.capture = staticmethod(django_capture_on_commit_callbacks)


@pytest.fixture
def api() -> CommittingClient:
    return CommittingClient()


@pytest.fixture
def processor_version(organization: Organization) -> PolicyVersion:
    """The processor's policy: access, portability and deletion, 30 days from receipt."""
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {"response_period": 30, "max_extension": 30},
            RequestType.PORTABILITY: {"response_period": 30},
            RequestType.DELETION: {"response_period": 1, "response_unit": "months"},
        },
        label="processor",
    )


@pytest.fixture
def controller(processor_version: PolicyVersion) -> Controller:
    found: Controller = ControllerFactory.create(
        organization=processor_version.policy.organization,
        name="Kafe Oqtepa",
        identifier="oqtepa",
        callback_hosts="dsr.oqtepa.example\n127.0.0.1",
    )
    return found


@pytest.fixture
def opendsr(controller: Controller) -> CommittingClient:
    """A client that calls the OpenDSR endpoints with the controller's API key."""
    client = CommittingClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {controller.api_key}")  # type: ignore[attr-defined]
    return client


def opendsr_request(**changes: Any) -> dict[str, Any]:
    """A valid OpenDSR request body (an erasure for one email), with ``changes`` applied."""
    return {
        "regulation": "gdpr",
        "subject_request_id": str(uuid4()),
        "subject_request_type": "erasure",
        "submitted_time": "2026-10-02T15:00:00Z",
        "subject_identities": [
            {
                "identity_type": "email",
                "identity_value": "Customer@Example.com",
                "identity_format": "raw",
            },
            {
                "identity_type": "controller_customer_id",
                "identity_value": "cust-42",
                "identity_format": "raw",
            },
        ],
        "api_version": "2.0",
        **changes,
    }


def post_request(client: CommittingClient, body: dict[str, Any] | bytes, **extra: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        reverse("opendsr:request_create"), data=raw, content_type="application/json", **extra
    )


def verify_signature(certificate: x509.Certificate, body: bytes, signature: str) -> None:
    """Raise ``InvalidSignature`` unless ``signature`` signs ``body`` with the certificate's key."""
    key = certificate.public_key()
    raw = base64.b64decode(signature)
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(raw, body, ec.ECDSA(hashes.SHA256()))


def served_certificate(client: CommittingClient) -> x509.Certificate:
    """Fetch the certificate discovery names, the way a controller would."""
    discovery = client.get(reverse("opendsr:discovery")).json()
    path = discovery["processor_certificate"].split("://", 1)[1].split("/", 1)[1]
    response = client.get(f"/{path}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    return x509.load_pem_x509_certificate(response.content)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased: HTTP header names are case-insensitive
    body: bytes


@dataclass
class CallbackServer:
    """A local HTTP server standing in for a controller's callback endpoint."""

    port: int
    received: list[Received] = field(default_factory=list)
    # The statuses to answer with, in order; 200 once they run out.
    answers: list[int] = field(default_factory=list)
    redirect_to: str = ""

    def url(self, path: str = "/opendsr/callbacks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def callback_server() -> Iterator[CallbackServer]:
    state = CallbackServer(port=0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                headers = {name.lower(): value for name, value in self.headers.items()}
                state.received.append(Received(self.path, headers, body))
                status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", state.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()

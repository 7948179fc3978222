"""OpenDSR processors: what is forwarded, the certificate checks, and the status callbacks.

The whole path against a second tracker process is in ``test_outside_systems_worker.py``; here the
processor's signatures are made with a key of the test's own, whose certificate is pinned on the
task as ``forward`` pins the processor's.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from opendsr.models import Controller, OpenDSRRequest, api_key_hash
from policies.models import Organization, PolicyVersion, RequestType
from systems import processors
from systems.handlers import task_send
from systems.models import System, SystemKind, SystemTask, TaskAction, TaskStatus
from tests.factories import OrganizationFactory
from tests.systems.peers import TrackerServer, loopback_systems, tracker_server
from tests.tracker import file_request, organization, publish_version

__all__ = ["loopback_systems", "organization", "tracker_server"]

pytestmark = pytest.mark.django_db

SUBJECT_REQUEST_ID = "a7551968-d5d6-44b2-9831-815ac9017798"


def certificate_for(
    key: ec.EllipticCurvePrivateKey, host: str, *, days: int = 30
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
def processor_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def policy(organization: Organization) -> PolicyVersion:
    return publish_version(
        organization,
        {
            RequestType.ACCESS: {"response_period": 30},
            RequestType.PORTABILITY: {"response_period": 30},
            RequestType.DELETION: {"response_period": 30},
        },
    )


@pytest.fixture
def processor(organization: Organization) -> System:
    found: System = System.objects.create(
        organization=organization,
        name="ZPos",
        slug="zpos",
        kind=SystemKind.OPENDSR,
        endpoint_url="https://dsr.zpos.example/",
        connection_env="ZPOS_OPENDSR_KEY",
        actions=[TaskAction.EXPORT, TaskAction.ERASE],
        owner_email="vendors@beshqozon.example",
    )
    return found


@pytest.fixture
def task(
    processor: System, policy: PolicyVersion, processor_key: ec.EllipticCurvePrivateKey
) -> SystemTask:
    """An erasure forwarded to the processor, its certificate pinned, waiting for callbacks."""
    pem = certificate_for(processor_key, "dsr.zpos.example").public_bytes(
        serialization.Encoding.PEM
    )
    found: SystemTask = SystemTask.objects.create(
        request=file_request(policy, RequestType.DELETION),
        system=processor,
        action=TaskAction.ERASE,
        status=TaskStatus.IN_PROGRESS,
        attempts=1,
        external_ref=SUBJECT_REQUEST_ID,
        due_at=timezone.now() + timedelta(days=10),
        evidence={"opendsr": {"certificate": pem.decode("ascii")}},
    )
    return found


def callback(task: SystemTask, key: ec.EllipticCurvePrivateKey, status: str, **changes: Any) -> Any:
    body = json.dumps(
        {
            "controller_id": "beshqozon",
            "expected_completion_time": "2026-12-20T10:00:00Z",
            "status_callback_url": "https://dsr.beshqozon.example/callback",
            "subject_request_id": SUBJECT_REQUEST_ID,
            "request_status": status,
            "api_version": "2.0",
            **changes,
        }
    ).encode()
    signature = base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    return Client().post(
        reverse("systems_callbacks:opendsr", args=[task.pk]),
        data=body,
        content_type="application/json",
        headers={"X-OpenDSR-Signature": signature, "X-OpenDSR-Processor-Domain": "zpos"},
    )


# --- What is forwarded ---------------------------------------------------------------------------


def test_an_erasure_task_is_forwarded_as_an_erasure_with_the_subjects_email(
    task: SystemTask, settings: Any
) -> None:
    settings.SITE_URL = "https://dsr.beshqozon.example"
    body = processors.request_body(task, SUBJECT_REQUEST_ID)

    assert body["regulation"] == "gdpr"
    assert body["subject_request_type"] == "erasure"
    assert body["subject_identities"] == [
        {
            "identity_type": "email",
            "identity_value": "subject@example.com",
            "identity_format": "raw",
        }
    ]
    assert body["status_callback_urls"] == [
        f"https://dsr.beshqozon.example/privacy/systems/tasks/{task.pk}/opendsr-status"
    ]


def test_an_export_task_is_forwarded_as_portability_when_the_subject_asked_for_it(
    processor: System, policy: PolicyVersion
) -> None:
    request = file_request(policy, RequestType.PORTABILITY)
    request.account_identifier = "cust-42"
    request.save()
    task = SystemTask.objects.create(request=request, system=processor, action=TaskAction.EXPORT)

    body = processors.request_body(task, SUBJECT_REQUEST_ID)

    assert body["subject_request_type"] == "portability"
    assert body["subject_identities"][1] == {
        "identity_type": "controller_customer_id",
        "identity_value": "cust-42",
        "identity_format": "raw",
    }


def test_a_correction_cannot_be_forwarded_through_opendsr(
    processor: System, policy: PolicyVersion
) -> None:
    request = file_request(policy, RequestType.ACCESS)
    task = SystemTask.objects.create(request=request, system=processor, action=TaskAction.CORRECT)

    with pytest.raises(processors.ProcessorError, match="no request type for the action correct"):
        processors.request_body(task, SUBJECT_REQUEST_ID)


# --- The certificate -----------------------------------------------------------------------------


def test_a_certificate_for_another_host_is_refused(
    processor_key: ec.EllipticCurvePrivateKey,
) -> None:
    certificate = certificate_for(processor_key, "evil.example")

    with pytest.raises(processors.ProcessorError, match=r"not issued for dsr\.zpos\.example"):
        processors.certificate_check(certificate, "dsr.zpos.example", at=datetime.now(UTC))


def test_an_expired_certificate_is_refused(processor_key: ec.EllipticCurvePrivateKey) -> None:
    certificate = certificate_for(processor_key, "dsr.zpos.example", days=1)

    with pytest.raises(processors.ProcessorError, match="not valid today"):
        processors.certificate_check(
            certificate, "dsr.zpos.example", at=datetime.now(UTC) + timedelta(days=2)
        )


# --- Status callbacks ----------------------------------------------------------------------------


def test_a_completed_callback_settles_the_task(
    task: SystemTask, processor_key: ec.EllipticCurvePrivateKey
) -> None:
    response = callback(task, processor_key, "completed", results_count=0)

    assert response.status_code == 200
    assert response.json() == {"task_id": str(task.pk), "status": "done"}
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.answered_by == "ZPos"
    assert task.evidence["opendsr"]["results_count"] == 0


def test_an_in_progress_callback_keeps_the_task_in_progress(
    task: SystemTask, processor_key: ec.EllipticCurvePrivateKey
) -> None:
    response = callback(task, processor_key, "in_progress")

    assert response.json()["status"] == "in_progress"
    task.refresh_from_db()
    assert task.evidence["opendsr"]["request_status"] == "in_progress"


def test_a_cancelled_callback_fails_the_task_for_an_officer(
    task: SystemTask, processor_key: ec.EllipticCurvePrivateKey
) -> None:
    callback(task, processor_key, "cancelled")

    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert task.last_error == "the processor cancelled the request"
    assert task.next_attempt_at is None


def test_a_callback_repeated_after_the_task_settled_changes_nothing(
    task: SystemTask, processor_key: ec.EllipticCurvePrivateKey
) -> None:
    callback(task, processor_key, "completed")
    task.refresh_from_db()
    finished = task.finished_at

    again = callback(task, processor_key, "cancelled")

    assert again.status_code == 200
    task.refresh_from_db()
    assert (task.status, task.finished_at, task.last_error) == (TaskStatus.DONE, finished, "")


def test_a_callback_signed_by_another_key_is_refused(task: SystemTask) -> None:
    response = callback(task, ec.generate_private_key(ec.SECP256R1()), "completed")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS


def test_a_callback_for_another_request_is_refused(
    task: SystemTask, processor_key: ec.EllipticCurvePrivateKey
) -> None:
    response = callback(
        task,
        processor_key,
        "completed",
        subject_request_id="0e5f8bc6-1f5b-4f7c-9d3e-1a2b3c4d5e6f",
    )

    assert response.status_code == 409
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS


def test_a_callback_with_an_unknown_status_is_refused(
    task: SystemTask, processor_key: ec.EllipticCurvePrivateKey
) -> None:
    response = callback(task, processor_key, "archived")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == ("the processor's status is not one of OpenDSR's")


# --- Against a second tracker process (its /v1/ endpoints) ---------------------------------------

OPENDSR_KEY_ENV = "DSR_TEST_OPENDSR_KEY"
OPENDSR_KEY = "odsr_test-key-of-the-controller-beshqozon-0123456789"


@pytest.fixture
def forwarding(
    tracker_server: TrackerServer,
    loopback_systems: None,
    organization: Organization,
    policy: PolicyVersion,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> SystemTask:
    """An erasure task for an OpenDSR system that is the second tracker, our controller there."""
    zpos: Organization = OrganizationFactory.create(slug="zpos", name="ZPos System")
    publish_version(zpos, {RequestType.DELETION: {"response_period": 30}}, label="pos")
    Controller.objects.create(
        organization=zpos,
        name="BESHQOZON",
        identifier="beshqozon",
        callback_hosts="127.0.0.1\nlocalhost",
        api_key_hash=api_key_hash(OPENDSR_KEY),
    )
    monkeypatch.setenv(OPENDSR_KEY_ENV, OPENDSR_KEY)
    settings.SITE_URL = tracker_server.url
    system = System.objects.create(
        organization=organization,
        name="ZPos",
        slug="zpos",
        kind=SystemKind.OPENDSR,
        endpoint_url=f"{tracker_server.url}/",
        connection_env=OPENDSR_KEY_ENV,
        actions=[TaskAction.ERASE],
        owner_email="vendors@beshqozon.example",
    )
    found: SystemTask = SystemTask.objects.create(
        request=file_request(policy, RequestType.DELETION),
        system=system,
        action=TaskAction.ERASE,
    )
    return found


@pytest.mark.django_db(transaction=True)
def test_a_retry_looks_the_request_up_instead_of_sending_it_twice(forwarding: SystemTask) -> None:
    task_send(task_id=forwarding.pk)
    forwarding.refresh_from_db()
    assert forwarding.status == TaskStatus.IN_PROGRESS, forwarding.last_error
    # An officer retries it (say the receipt was lost): the same subject_request_id is asked for.
    SystemTask.objects.filter(pk=forwarding.pk).update(status=TaskStatus.FAILED)

    task_send(task_id=forwarding.pk)
    forwarding.refresh_from_db()

    assert forwarding.attempts == 2
    assert forwarding.status == TaskStatus.IN_PROGRESS
    assert forwarding.evidence["opendsr"]["request_status"] == "pending"
    [forwarded] = OpenDSRRequest.objects.all()
    assert str(forwarded.subject_request_id) == forwarding.external_ref


@pytest.mark.django_db(transaction=True)
def test_a_processor_whose_certificate_is_for_another_host_is_refused(
    forwarding: SystemTask, tracker_server: TrackerServer
) -> None:
    # The same processor, addressed by its other loopback name than the certificate's.
    other = "127.0.0.1" if tracker_server.host == "localhost" else "localhost"
    System.objects.filter(pk=forwarding.system_id).update(
        endpoint_url=f"http://{other}:{tracker_server.port}/"
    )

    task_send(task_id=forwarding.pk)
    forwarding.refresh_from_db()

    assert forwarding.status == TaskStatus.FAILED
    assert forwarding.last_error == (
        "discovery names a certificate on another host than the processor's"
    )
    assert not OpenDSRRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_key_the_processor_does_not_know_fails_the_task_with_its_answer(
    forwarding: SystemTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OPENDSR_KEY_ENV, "odsr_a-key-nobody-issued")

    task_send(task_id=forwarding.pk)
    forwarding.refresh_from_db()

    assert forwarding.status == TaskStatus.FAILED
    assert forwarding.last_error == (
        "the processor answered HTTP 401 to the status lookup: Unknown or inactive API key."
    )
    assert forwarding.next_attempt_at is None  # a key to fix, not a moment to wait

"""The OpenDSR processor endpoints: discovery, create (idempotent), status, cancel, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from opendsr.models import Controller, OpenDSRRequest
from policies.models import RequestType
from requests_app.audit import Actor
from requests_app.models import ActorKind, EventKind, RequestStatus, SubjectRequest
from requests_app.workflow import request_complete, request_reject, request_start
from tests.api.conftest import CommittingClient
from tests.factories import ControllerFactory
from tests.opendsr.conftest import opendsr_request, post_request
from tests.tracker import file_request, publish_version

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")


def _status(client: CommittingClient, subject_request_id: str) -> Any:
    return client.get(reverse("opendsr:request_detail", args=[subject_request_id]))


def _cancel(client: CommittingClient, subject_request_id: str) -> Any:
    return client.delete(reverse("opendsr:request_detail", args=[subject_request_id]))


def _error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == response.status_code
    assert response["X-OpenDSR-Signature"]
    return error


def test_discovery_names_identities_types_and_the_certificate_url(
    api: CommittingClient, settings: Any
) -> None:
    settings.SITE_URL = "https://dsr.example.com"

    response = api.get(reverse("opendsr:discovery"))

    assert response.status_code == 200
    assert response.json() == {
        "api_version": "2.0",
        "supported_identities": [
            {"identity_type": "email", "identity_format": "raw"},
            {"identity_type": "controller_customer_id", "identity_format": "raw"},
        ],
        "supported_subject_request_types": ["access", "portability", "erasure"],
        "processor_certificate": "https://dsr.example.com/v1/certificate.pem",
    }


def test_a_new_request_becomes_a_verified_subject_request_with_a_receipt(
    opendsr: CommittingClient, controller: Controller
) -> None:
    body = opendsr_request()
    raw = json.dumps(body).encode()

    response = post_request(opendsr, raw)

    assert response.status_code == 201, response.content
    receipt = response.json()
    request = SubjectRequest.objects.get()
    assert receipt["controller_id"] == "oqtepa"
    assert receipt["subject_request_id"] == body["subject_request_id"]
    assert base64.b64decode(receipt["encoded_request"]) == raw
    assert parse_datetime(receipt["expected_completion_time"]) == request.effective_due_at
    assert receipt["processor_signature"]
    assert request.status == RequestStatus.VERIFIED
    assert request.request_type == RequestType.DELETION
    assert request.email == "customer@example.com"
    assert request.account_identifier == "cust-42"
    assert request.details["deletion_confirmed"] is True
    note = request.events.get(kind=EventKind.NOTE)
    assert note.actor_label == "opendsr:oqtepa"
    assert note.data["subject_request_id"] == body["subject_request_id"]


def test_the_controller_not_the_subject_is_recorded_as_having_verified_the_request(
    opendsr: CommittingClient,
) -> None:
    post_request(opendsr, opendsr_request())

    verified = SubjectRequest.objects.get().events.get(kind=EventKind.VERIFIED)
    assert (verified.actor_kind, verified.actor_label) == (ActorKind.SYSTEM, "opendsr:oqtepa")


def test_the_same_subject_request_id_twice_is_one_request_and_one_receipt(
    opendsr: CommittingClient,
) -> None:
    body = opendsr_request()

    first = post_request(opendsr, body)
    second = post_request(opendsr, body)

    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert SubjectRequest.objects.count() == OpenDSRRequest.objects.count() == 1


def test_a_subject_request_id_reused_for_another_request_is_409(
    opendsr: CommittingClient,
) -> None:
    body = opendsr_request()
    post_request(opendsr, body)

    response = post_request(opendsr, {**body, "subject_request_type": "access"})

    assert response.status_code == 409
    assert _error(response)["errors"][0]["reason"] == "subject_request_id_reused"
    assert SubjectRequest.objects.count() == 1


def test_two_controllers_may_use_the_same_id(
    opendsr: CommittingClient, controller: Controller
) -> None:
    other = ControllerFactory.create(organization=controller.organization, identifier="other")
    client = CommittingClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    body = opendsr_request()
    identities = [
        {"identity_type": "email", "identity_value": "b@example.com", "identity_format": "raw"}
    ]

    mine = post_request(opendsr, body)
    theirs = post_request(client, {**body, "subject_identities": identities})

    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["controller_id"] == "other"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer odsr_not-a-key", "Bearer", "Token abc", "Bearer odsr_a b"],
)
def test_a_request_without_a_valid_controller_key_is_refused_with_401(
    api: CommittingClient, controller: Controller, header: str | None
) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = post_request(api, opendsr_request(), **extra)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="opendsr"'
    assert _error(response)["errors"][0]["domain"] == "Authentication"
    assert not SubjectRequest.objects.exists()


def test_an_inactive_controllers_key_is_refused(
    opendsr: CommittingClient, controller: Controller
) -> None:
    Controller.objects.filter(pk=controller.pk).update(is_active=False)

    response = post_request(opendsr, opendsr_request())

    assert response.status_code == 401


def test_invalid_input_is_400_with_every_problem_and_no_identity_data(
    opendsr: CommittingClient,
) -> None:
    body = opendsr_request(
        regulation="hipaa",
        subject_request_id="A7551968-D5D6-44B2-9831-815AC9017798",
        subject_identities=[
            {
                "identity_type": "passport",
                "identity_value": "secret-value@example.com",
                "identity_format": "raw",
            }
        ],
    )
    del body["submitted_time"]

    response = post_request(opendsr, body)

    assert response.status_code == 400
    error = _error(response)
    fields = {item["message"].split(":")[0] for item in error["errors"]}
    assert fields == {
        "regulation",
        "subject_request_id",
        "submitted_time",
        "subject_identities.0.identity_type",
    }
    assert "secret-value" not in response.content.decode()
    assert "hipaa" not in response.content.decode()


def test_a_request_without_a_raw_email_identity_is_400(opendsr: CommittingClient) -> None:
    hashed = [{"identity_type": "email", "identity_value": "ab" * 32, "identity_format": "sha256"}]

    response = post_request(opendsr, opendsr_request(subject_identities=hashed))

    assert response.status_code == 400
    assert "email identity in raw format" in _error(response)["errors"][0]["message"]


def test_a_type_the_processors_policy_does_not_offer_is_400(
    api: CommittingClient,
) -> None:
    other = ControllerFactory.create(identifier="no-portability")
    publish_version(other.organization, {RequestType.ACCESS: {}})
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")

    response = post_request(api, opendsr_request(subject_request_type="portability"))

    assert response.status_code == 400
    assert _error(response)["errors"][0]["reason"] == "request_type_not_offered"


def test_callback_urls_must_be_https_on_a_registered_host(
    opendsr: CommittingClient, settings: Any
) -> None:
    settings.OPENDSR_CALLBACK_ALLOW_HTTP = False
    answers = [
        post_request(opendsr, opendsr_request(status_callback_urls=[url]))
        for url in (
            "https://evil.example/callbacks",
            "http://dsr.oqtepa.example/callbacks",
            "https://dsr.oqtepa.example/callbacks",
        )
    ]

    assert [a.status_code for a in answers] == [400, 400, 201]
    assert OpenDSRRequest.objects.get().status_callback_urls == [
        "https://dsr.oqtepa.example/callbacks"
    ]


def test_a_subject_with_an_open_request_of_the_type_is_409_and_nothing_is_filed(
    opendsr: CommittingClient, processor_version: Any
) -> None:
    file_request(processor_version, RequestType.DELETION, email="customer@example.com")

    response = post_request(opendsr, opendsr_request())

    assert response.status_code == 409
    assert _error(response)["errors"][0]["reason"] == "duplicate_request"
    assert SubjectRequest.objects.count() == 1
    assert not OpenDSRRequest.objects.exists()


def test_the_status_follows_the_request_through_our_workflow(
    opendsr: CommittingClient,
) -> None:
    body = opendsr_request()
    post_request(opendsr, body)
    request = SubjectRequest.objects.get()
    statuses = [_status(opendsr, body["subject_request_id"]).json()["request_status"]]
    request = request_start(request=request, actor=SYSTEM)
    statuses.append(_status(opendsr, body["subject_request_id"]).json()["request_status"])
    request_complete(request=request, actor=SYSTEM, outcome="Erased.")
    final = _status(opendsr, body["subject_request_id"])

    assert [*statuses, final.json()["request_status"]] == ["pending", "in_progress", "completed"]
    assert final.json()["controller_id"] == "oqtepa"
    assert final.json()["expected_completion_time"]


def test_a_rejected_request_is_cancelled_for_the_controller(opendsr: CommittingClient) -> None:
    body = opendsr_request()
    post_request(opendsr, body)
    request_reject(
        request=SubjectRequest.objects.get(),
        actor=SYSTEM,
        reason_code="no_data_held",
        reason="No data.",
    )

    assert _status(opendsr, body["subject_request_id"]).json()["request_status"] == "cancelled"


def test_another_controllers_request_and_a_malformed_id_are_not_found(
    opendsr: CommittingClient, controller: Controller
) -> None:
    other = ControllerFactory.create(organization=controller.organization, identifier="other")
    client = CommittingClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    body = opendsr_request()
    post_request(opendsr, body)

    assert _status(client, body["subject_request_id"]).status_code == 404
    assert _status(opendsr, "not-a-uuid").status_code == 404
    assert _cancel(client, body["subject_request_id"]).status_code == 404


def test_cancelling_a_pending_request_withdraws_it_and_can_be_repeated(
    opendsr: CommittingClient,
) -> None:
    body = opendsr_request()
    post_request(opendsr, body)

    first = _cancel(opendsr, body["subject_request_id"])
    second = _cancel(opendsr, body["subject_request_id"])

    assert first.status_code == second.status_code == 202
    assert first.content == second.content
    assert set(first.json()) == {
        "controller_id",
        "subject_request_id",
        "received_time",
        "api_version",
        "processor_signature",
    }
    request = SubjectRequest.objects.get()
    assert request.status == RequestStatus.WITHDRAWN
    assert request.events.filter(kind=EventKind.WITHDRAWN).get().actor_label == "opendsr:oqtepa"
    assert _status(opendsr, body["subject_request_id"]).json()["request_status"] == "cancelled"


def test_a_request_being_worked_on_cannot_be_cancelled(opendsr: CommittingClient) -> None:
    body = opendsr_request()
    post_request(opendsr, body)
    request_start(request=SubjectRequest.objects.get(), actor=SYSTEM)

    response = _cancel(opendsr, body["subject_request_id"])

    assert response.status_code == 409
    assert _error(response)["errors"][0]["reason"] == "not_pending"
    assert SubjectRequest.objects.get().status == RequestStatus.IN_PROGRESS


def test_the_opengdpr_paths_answer_as_the_opendsr_ones(opendsr: CommittingClient) -> None:
    body = opendsr_request()

    created = opendsr.post(
        "/v1/opengdpr_requests", data=json.dumps(body), content_type="application/json"
    )
    status = opendsr.get(f"/v1/opengdpr_requests/{body['subject_request_id']}")

    assert created.status_code == 201
    assert created["X-OpenGDPR-Signature"] == created["X-OpenDSR-Signature"]
    assert status.json()["request_status"] == "pending"


def test_a_body_that_is_not_json_is_refused(opendsr: CommittingClient) -> None:
    broken = post_request(opendsr, b'{"regulation": "gdpr",}')
    form = opendsr.post(reverse("opendsr:request_create"), {"a": "b"}, format="multipart")
    listed = post_request(opendsr, b"[]")

    assert broken.status_code == 400
    assert form.status_code == 415
    assert listed.status_code == 400


def test_a_body_over_64_kib_is_413(opendsr: CommittingClient) -> None:
    body = opendsr_request(extensions={"dsr.example.com": {"padding": "x" * 70_000}})

    response = post_request(opendsr, body)

    assert response.status_code == 413
    assert not SubjectRequest.objects.exists()


def _with_customer_id(value: str) -> dict[str, Any]:
    body = opendsr_request()
    body["subject_identities"][1]["identity_value"] = value
    return body


@pytest.mark.parametrize(
    "customer_id",
    [
        "<script>alert(1)</script>",
        "cust\u202e24",  # a right-to-left override
        "cust\u200b42",  # a zero-width space
        "cust\r\n42",
        "cust\x0042",
    ],
)
def test_a_customer_id_is_plain_text_as_on_the_form(
    opendsr: CommittingClient, customer_id: str
) -> None:
    response = post_request(opendsr, _with_customer_id(customer_id))

    assert response.status_code == 400
    (item,) = _error(response)["errors"]
    assert item["message"].startswith("subject_identities.1.identity_value: ")
    assert not SubjectRequest.objects.exists()


def test_a_customer_id_longer_than_the_account_identifier_is_refused_not_cut(
    opendsr: CommittingClient,
) -> None:
    fits = post_request(opendsr, _with_customer_id("c" * 100))
    response = post_request(opendsr, _with_customer_id("c" * 101))

    assert fits.status_code == 201
    assert SubjectRequest.objects.get().account_identifier == "c" * 100
    assert response.status_code == 400
    (item,) = _error(response)["errors"]
    assert item["message"] == (
        "subject_identities.1.identity_value: Ensure this field has no more than 100 characters."
    )


def test_a_customer_id_is_normalised_as_on_the_form(opendsr: CommittingClient) -> None:
    fullwidth = "\uff43\uff55\uff53\uff54-42"  # what NFKC turns into "cust-42"

    response = post_request(opendsr, _with_customer_id(f"  {fullwidth} "))

    assert response.status_code == 201
    assert SubjectRequest.objects.get().account_identifier == "cust-42"


def test_a_body_over_the_upload_limit_is_413_not_500(
    opendsr: CommittingClient, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # below the 64 KiB OpenDSR checks itself

    response = post_request(opendsr, opendsr_request(extensions={"x": "y" * 2000}))

    assert response.status_code == 413
    assert _error(response)["errors"][0]["reason"] == "payload_too_large"


def test_a_controller_over_its_rate_gets_429(opendsr: CommittingClient, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "opendsr": "2/min",
        },
    }
    url = reverse("opendsr:request_detail", args=[opendsr_request()["subject_request_id"]])

    answers = [opendsr.get(url) for _ in range(3)]

    assert [a.status_code for a in answers] == [404, 404, 429]
    assert _error(answers[2])["errors"][0]["domain"] == "RateLimit"

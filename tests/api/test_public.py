"""The subject's endpoints: the same validation, limits and duplicate rule as the web form."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from policies.models import PolicyVersion
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, RequestEvent, RequestStatus, SubjectRequest
from tests.api.conftest import errors_of
from tests.tracker import links_in_outbox

pytestmark = pytest.mark.django_db

ACCESS = {"request_type": "access", "email": "Owner@Shop.example", "name": "Bobur Aliyev"}


def _file(api: APIClient, data: dict[str, Any], org: str = "beshqozon") -> Any:
    return api.post(reverse("api:request_file", args=[org]), data, format="json")


def _confirmed(api: APIClient, version: PolicyVersion) -> tuple[SubjectRequest, str]:
    assert _file(api, ACCESS).status_code == 202
    [token] = links_in_outbox("confirm")
    response = api.post(reverse("api:request_confirm", args=[token]))
    assert response.status_code == 200, response.content
    return SubjectRequest.objects.get(), response.json()["status_token"]


def test_the_offer_lists_the_request_types_the_policy_in_force_offers(
    api: APIClient, version: PolicyVersion
) -> None:
    response = api.get(reverse("api:offer", args=["beshqozon"]))

    assert response.status_code == 200
    body = response.json()
    assert body["policy_version"] == version.version_label
    assert [t["request_type"] for t in body["request_types"]] == [
        "access",
        "correction",
        "deletion",
        "complaint",
    ]
    assert body["request_types"][0]["response_period"] == "30 calendar days"


def test_a_request_filed_through_the_api_waits_for_its_email_to_be_confirmed(
    api: APIClient, version: PolicyVersion
) -> None:
    response = _file(api, {**ACCESS, "account_identifier": "shop-7"})

    assert response.status_code == 202
    request = SubjectRequest.objects.get()
    assert request.status == RequestStatus.AWAITING_VERIFICATION
    assert request.email == "owner@shop.example"
    assert request.account_identifier == "shop-7"
    assert mail.outbox[0].to == ["owner@shop.example"]
    assert len(links_in_outbox("confirm")) == 1


def test_the_api_refuses_what_the_web_form_refuses(api: APIClient, version: PolicyVersion) -> None:
    response = _file(api, {**ACCESS, "name": "<script>alert(1)</script>"})

    assert response.status_code == 400
    assert errors_of(response)["name"] == [
        "Please write plain text: HTML and script tags are not accepted."
    ]
    assert not SubjectRequest.objects.exists()


def test_type_specific_fields_are_required_as_on_the_form(
    api: APIClient, version: PolicyVersion
) -> None:
    deletion = _file(api, {**ACCESS, "request_type": "deletion"})
    correction = _file(api, {**ACCESS, "request_type": "correction"})

    assert deletion.status_code == 400
    assert errors_of(deletion)["confirm_deletion"] == [
        "Please confirm that you want your data deleted."
    ]
    assert correction.status_code == 400
    assert set(errors_of(correction)) == {"correction_field", "correction_value"}


def test_a_request_with_its_type_specific_details_is_filed_as_the_form_files_it(
    api: APIClient, version: PolicyVersion
) -> None:
    response = _file(
        api,
        {
            **ACCESS,
            "request_type": "correction",
            "correction_field": "Phone number",
            "correction_value": "+998 90 123 45 67",
        },
    )

    assert response.status_code == 202
    assert SubjectRequest.objects.get().details == {
        "corrections": [{"field": "Phone number", "value": "+998 90 123 45 67"}]
    }


def test_a_type_the_policy_does_not_offer_is_refused(
    api: APIClient, version: PolicyVersion
) -> None:
    response = _file(api, {**ACCESS, "request_type": "objection", "description": "Profiling"})

    assert response.status_code == 400
    assert list(errors_of(response)) == ["request_type"]


def test_an_unknown_organisation_is_not_found(api: APIClient, version: PolicyVersion) -> None:
    response = _file(api, ACCESS, org="nobody")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_filing_again_while_open_points_to_the_open_request_and_answers_the_same(
    api: APIClient, version: PolicyVersion
) -> None:
    first = _file(api, ACCESS)
    second = _file(api, ACCESS)

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    request = SubjectRequest.objects.get()
    assert request.events.filter(kind=EventKind.DUPLICATE_SUBMITTED).count() == 1


def test_the_address_limit_is_shared_with_the_web_form_and_answers_as_usual(
    api: APIClient, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_EMAIL = "1/h"
    form = api.post(
        reverse("requests_app:request_new", args=["beshqozon"]),
        {"request_type": "access", "email": "owner@shop.example", "name": "Bobur Aliyev"},
        format="multipart",
    )
    assert form.status_code == 302
    sent = len(mail.outbox)

    response = _file(api, {**ACCESS, "request_type": "complaint", "complaint_text": "Late."})

    assert response.status_code == 202
    assert SubjectRequest.objects.count() == 1
    assert len(mail.outbox) == sent


def test_over_the_address_limit_of_the_network_the_answer_is_429(
    api: APIClient, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_IP = "2/h"
    answers = [_file(api, {**ACCESS, "email": f"s{n}@shop.example"}) for n in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["code"] == "throttled"
    assert SubjectRequest.objects.count() == 2


def test_the_public_endpoints_are_throttled_per_client_address(
    api: APIClient, version: PolicyVersion, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public": "2/min",
        },
    }
    url = reverse("api:offer", args=["beshqozon"])

    answers = [api.get(url) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2]["Retry-After"]) > 0


def _public_rate(settings: Any, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public": rate,
        },
    }


def test_a_rotating_forwarded_for_header_does_not_escape_the_public_throttle(
    api: APIClient, version: PolicyVersion, settings: Any
) -> None:
    _public_rate(settings, "2/min")
    url = reverse("api:offer", args=["beshqozon"])

    answers = [api.get(url, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}") for n in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]


def test_behind_one_trusted_proxy_each_client_it_forwards_is_throttled_apart(
    api: APIClient, version: PolicyVersion, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    _public_rate(settings, "2/min")
    url = reverse("api:offer", args=["beshqozon"])

    def call(forwarded: str) -> int:
        answer = api.get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
        return int(answer.status_code)

    # What the client wrote left of the proxy's entry changes nothing.
    first = [call(f"6.6.6.{n}, 203.0.113.1") for n in range(3)]
    second = [call("203.0.113.2") for _ in range(2)]

    assert first == [200, 200, 429]
    assert second == [200, 200]


def test_invalid_filings_do_not_count_and_the_limits_429_says_when_to_retry(
    api: APIClient, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_IP = "1/h"
    invalid = [_file(api, {**ACCESS, "email": "not an address"}) for _ in range(3)]
    accepted = _file(api, ACCESS)

    refused = _file(api, {**ACCESS, "email": "other@shop.example"})

    assert [a.status_code for a in invalid] == [400, 400, 400]
    assert accepted.status_code == 202
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert refused.json()["code"] == "throttled"
    assert refused.json()["detail"].startswith(
        "Too many requests have come from your network in a short time. Please try again in "
    )


def test_confirming_with_the_emailed_token_verifies_and_returns_the_status(
    api: APIClient, version: PolicyVersion
) -> None:
    request, status_token = _confirmed(api, version)

    assert request.status == RequestStatus.VERIFIED
    status = api.get(reverse("api:request_status", args=[status_token]))
    assert status.status_code == 200
    assert status.json()["reference"] == request.reference
    assert status.json()["status"] == "verified"


def test_a_confirmation_token_works_once(api: APIClient, version: PolicyVersion) -> None:
    _confirmed(api, version)
    [token] = links_in_outbox("confirm")

    again = api.post(reverse("api:request_confirm", args=[token]))

    assert again.status_code == 404
    assert again.json()["code"] == "invalid_link"


def test_every_link_that_does_not_work_gets_the_same_answer(
    api: APIClient, version: PolicyVersion
) -> None:
    _request, status_token = _confirmed(api, version)
    [confirm_token] = links_in_outbox("confirm")

    answers = [
        api.get(reverse("api:request_status", args=["x" * 43])),
        api.get(reverse("api:request_status", args=["y" * 65])),
        api.get(reverse("api:request_status", args=[confirm_token])),
        api.post(reverse("api:request_confirm", args=[status_token])),
    ]

    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1


def test_the_subject_sees_public_messages_but_never_staff_notes(
    api: APIClient, version: PolicyVersion
) -> None:
    request, status_token = _confirmed(api, version)
    event_append(
        request=request,
        kind=EventKind.NOTE,
        actor=Actor.system("test"),
        at=request.received_at,
        note="Internal: the subject called twice.",
    )

    body = api.get(reverse("api:request_status", args=[status_token])).json()

    assert [entry["kind"] for entry in body["timeline"]] == ["submitted", "verified"]
    assert "Internal" not in str(body)
    assert "email" not in body


def test_a_subject_withdraws_with_the_status_token_once(
    api: APIClient, version: PolicyVersion
) -> None:
    request, status_token = _confirmed(api, version)
    url = reverse("api:request_withdraw", args=[status_token])

    first = api.post(url)
    second = api.post(url)

    assert first.status_code == 200
    assert first.json()["status"] == "withdrawn"
    assert second.status_code == 409
    assert second.json()["code"] == "illegal_transition"
    assert RequestEvent.objects.filter(request=request, kind=EventKind.WITHDRAWN).count() == 1


def test_a_request_for_someone_else_through_the_api_names_them_as_its_subject(
    api: APIClient, version: PolicyVersion
) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 signed power of attorney").decode()

    response = _file(
        api,
        {
            **ACCESS,
            "about": "represented",
            "on_behalf_subject_name": "Aziz Karimov",
            "subject_email": "Aziz@Example.com",
            "authorisation_base64": pdf,
            "authorisation_filename": "poa.pdf",
        },
    )

    assert response.status_code == 202, response.content
    request = SubjectRequest.objects.get()
    assert (request.email, request.on_behalf_relationship) == ("owner@shop.example", "agent")
    assert request.representation.subject_email == "aziz@example.com"
    assert request.representation.authorisation_type == "application/pdf"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"authorisation_base64": "not base64!"}, "authorisation_base64"),
        ({"authorisation_base64": base64.b64encode(b"<html>").decode()}, "authorisation"),
        ({}, "authorisation"),
    ],
)
def test_the_api_refuses_a_missing_or_bad_authorisation_with_field_errors(
    api: APIClient, version: PolicyVersion, extra: dict[str, str], field: str
) -> None:
    response = _file(
        api,
        {
            **ACCESS,
            "about": "represented",
            "on_behalf_subject_name": "Aziz Karimov",
            "subject_email": "aziz@example.com",
            **extra,
        },
    )

    assert response.status_code == 400
    assert field in errors_of(response)
    assert not SubjectRequest.objects.exists()

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from outbox.models import OutboxMessage
from policies.models import Organization, PolicyVersion, RequestType
from requests_app.audit import Actor
from requests_app.models import (
    RequestEvent,
    RequestStatus,
    RequestToken,
    SubjectRequest,
    TokenPurpose,
)
from requests_app.verification import token_issue
from requests_app.workflow import request_mark_verified, request_withdraw
from tests.factories import OrganizationFactory
from tests.tracker import file_request, links_in_outbox, publish_version

pytestmark = pytest.mark.django_db


def form_url(organization: Organization, request_type: str | None = None) -> str:
    url = reverse("requests_app:request_new", args=[organization.slug])
    return f"{url}?type={request_type}" if request_type else url


def valid_data(request_type: str = RequestType.ACCESS, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "request_type": request_type,
        "email": "Subject@Example.com",
        "name": "Dilnoza Karimova",
        "account_identifier": "shop-42",
        "phone": "+998 90 123 45 67",
        "description": "",
        "website": "",
    }
    if request_type == RequestType.CORRECTION:
        data |= {"correction_field": "Phone number", "correction_value": "+998 90 000 00 00"}
    if request_type == RequestType.DELETION:
        data["confirm_deletion"] = "on"
    if request_type == RequestType.COMPLAINT:
        data["complaint_text"] = "You kept sending me offers after I unsubscribed."
    return data | overrides


def post(client: Client, organization: Organization, data: dict[str, Any], **extra: Any):
    return client.post(form_url(organization), data, **extra)


def test_the_form_offers_exactly_the_types_of_the_version_in_force(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    response = client.get(form_url(organization))

    assert response.status_code == 200
    offered = {rule.request_type for rule in response.context["offer"].rules}
    assert offered == {
        RequestType.ACCESS,
        RequestType.CORRECTION,
        RequestType.DELETION,
        RequestType.COMPLAINT,
    }
    assert 'value="objection"' not in response.content.decode()


def test_an_organisation_without_a_version_in_force_has_no_form(client: Client, db: None) -> None:
    organization: Organization = OrganizationFactory.create(slug="no-policy")

    assert client.get(form_url(organization)).status_code == 404


def test_a_type_not_offered_shows_the_choice_again(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    response = client.get(form_url(organization, RequestType.OBJECTION))

    assert response.status_code == 200
    assert "requests_app/request_choose.html" in [t.name for t in response.templates]


@pytest.mark.parametrize(
    ("request_type", "field"),
    [
        (RequestType.CORRECTION, "correction_value"),
        (RequestType.DELETION, "confirm_deletion"),
        (RequestType.COMPLAINT, "complaint_text"),
    ],
)
def test_each_type_asks_for_its_own_details(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    request_type: str,
    field: str,
) -> None:
    response = client.get(form_url(organization, request_type))

    assert f'name="{field}"' in response.content.decode()
    assert 'name="about"' in response.content.decode()


def test_the_form_refuses_a_post_without_the_csrf_token(
    organization: Organization, version: PolicyVersion
) -> None:
    response = post(Client(enforce_csrf_checks=True), organization, valid_data())

    assert response.status_code == 403
    assert not SubjectRequest.objects.exists()


def test_a_valid_request_is_stored_and_the_subject_gets_a_confirmation_link(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, organization, valid_data(RequestType.CORRECTION))

    assert response.status_code == 302
    assert response["Location"] == reverse("requests_app:request_sent", args=[organization.slug])
    request = SubjectRequest.objects.get()
    assert request.reference.startswith(f"DSR-{timezone.now().year}-")
    assert request.email == "subject@example.com"
    assert request.policy_version == version
    assert request.details == {
        "corrections": [{"field": "Phone number", "value": "+998 90 000 00 00"}]
    }
    assert request.status == RequestStatus.AWAITING_VERIFICATION
    (message,) = mail.outbox
    assert message.to == ["subject@example.com"]
    assert request.reference in message.subject
    alternatives = message.alternatives  # type: ignore[attr-defined]
    assert [kind for _body, kind in alternatives] == ["text/html"]
    assert len(links_in_outbox("confirm")) == 1


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_parents_request_names_the_child_as_its_subject_and_the_parent_as_filer(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = valid_data(
        RequestType.DELETION,
        about="child",
        on_behalf_subject_name="Otabek Dilnozova",
        subject_email="Otabek@Example.net",
        subject_date_of_birth="2014-06-27",
    )

    with django_capture_on_commit_callbacks(execute=True):
        post(client, organization, data)

    request = SubjectRequest.objects.get()
    assert (request.on_behalf_relationship, request.on_behalf_subject_name) == (
        "parent",
        "Otabek Dilnozova",
    )
    assert request.email == "subject@example.com"  # the filer's own address, which they confirm
    assert request.representation.subject_email == "otabek@example.net"
    assert str(request.representation.subject_date_of_birth) == "2014-06-27"
    assert request.representation.status == "pending"
    (message,) = mail.outbox
    assert message.to == ["subject@example.com"]


def test_an_agent_must_attach_an_authorisation_which_is_stored_privately(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    data = valid_data(
        RequestType.ACCESS,
        about="represented",
        on_behalf_subject_name="Aziz Karimov",
        subject_email="aziz@example.com",
    )
    refused = post(client, organization, data)
    assert refused.status_code == 400
    assert set(refused.context["form"].errors) == {"authorisation"}

    upload = SimpleUploadedFile("power-of-attorney.pdf", PDF, content_type="application/pdf")
    post(client, organization, data | {"authorisation": upload})

    representation = SubjectRequest.objects.get().representation
    assert representation.authorisation_type == "application/pdf"
    assert representation.authorisation_name == "power-of-attorney.pdf"
    assert representation.authorisation.path.startswith(storages["exports"].path(""))
    assert representation.authorisation.read() == PDF


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("page.html", b"<html><script>alert(1)</script></html>", "PDF, PNG or JPEG"),
        ("fake.pdf", b"MZ\x90\x00 not a pdf", "PDF, PNG or JPEG"),
        ("huge.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "larger than 5 MB"),
    ],
)
def test_an_authorisation_of_the_wrong_type_or_too_large_is_refused_inline(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    name: str,
    content: bytes,
    problem: str,
) -> None:
    data = valid_data(
        about="represented",
        on_behalf_subject_name="Aziz Karimov",
        subject_email="aziz@example.com",
        authorisation=SimpleUploadedFile(name, content),
    )

    response = post(client, organization, data)

    assert response.status_code == 400
    assert problem in str(response.context["form"].errors["authorisation"])
    assert not SubjectRequest.objects.exists()


def test_a_request_for_someone_else_without_their_name_and_email_is_refused_inline(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    response = post(client, organization, valid_data(about="child"))

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {
        "on_behalf_subject_name",
        "subject_email",
        "subject_date_of_birth",
    }
    assert not SubjectRequest.objects.exists()


def test_a_request_for_someone_else_with_the_filers_own_address_is_refused(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    data = valid_data(
        about="child",
        on_behalf_subject_name="Otabek",
        subject_email="subject@example.com",
        subject_date_of_birth="2014-06-27",
    )

    response = post(client, organization, data)

    assert response.status_code == 400
    assert "your own address" in str(response.context["form"].errors["subject_email"])


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"email": ""}, "email", "This field is required."),
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"description": "x" * 2001}, "description", "at most 2000 characters"),
        ({"email": "a" * 250 + "@x.io"}, "email", "at most 254 characters"),
        ({"name": "<script>alert(1)</script>"}, "name", "plain text"),
        ({"description": "hi <img src=x onerror=alert(1)>"}, "description", "plain text"),
        ({"name": "Dilnoza\u202eavonziK"}, "name", "direction-changing"),
        ({"name": "Dil\x00noza"}, "name", "control characters"),
        ({"email": "subject@gm\u0430il.com"}, "email", "Latin letters"),
        ({"phone": "call me maybe"}, "phone", "phone number"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_stored(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    overrides: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = post(client, organization, valid_data(**overrides))

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors[field])
    assert "<script>alert" not in response.content.decode()
    assert not SubjectRequest.objects.exists()
    assert not RequestEvent.objects.exists()


@pytest.mark.parametrize(
    ("request_type", "missing"),
    [
        (RequestType.CORRECTION, "correction_value"),
        (RequestType.DELETION, "confirm_deletion"),
        (RequestType.COMPLAINT, "complaint_text"),
    ],
)
def test_type_specific_details_are_required(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    request_type: str,
    missing: str,
) -> None:
    data = valid_data(request_type)
    del data[missing]

    response = post(client, organization, data)

    assert response.status_code == 400
    assert missing in response.context["form"].errors
    assert not SubjectRequest.objects.exists()


def test_native_digits_in_a_phone_number_are_accepted(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    post(client, organization, valid_data(phone="+٩٢ ٣٠٠ ١٢٣٤٥٦٧"))

    assert SubjectRequest.objects.get().phone == "+92 300 1234567"


def test_a_tampered_request_type_stores_nothing(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    response = post(client, organization, valid_data(request_type=RequestType.OBJECTION))

    assert response.status_code == 400
    assert not SubjectRequest.objects.exists()


def test_the_honeypot_gets_the_usual_answer_and_stores_nothing(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, organization, valid_data(website="http://spam.example"))

    assert response.status_code == 302
    assert response["Location"] == reverse("requests_app:request_sent", args=[organization.slug])
    assert not SubjectRequest.objects.exists()
    assert mail.outbox == []


def test_too_many_posts_from_one_address_are_refused(
    client: Client, organization: Organization, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_IP = "2/h"
    post(client, organization, valid_data(email="one@example.com"))
    post(client, organization, valid_data(email="two@example.com"))

    response = post(client, organization, valid_data(email="three@example.com"))

    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
    assert SubjectRequest.objects.count() == 2


def test_rate_limit_per_ip_counts_each_client_address(
    client: Client, organization: Organization, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_IP = "1/h"
    post(client, organization, valid_data(email="one@example.com"), REMOTE_ADDR="10.0.0.1")

    response = post(
        client, organization, valid_data(email="two@example.com"), REMOTE_ADDR="10.0.0.2"
    )

    assert response.status_code == 302
    assert SubjectRequest.objects.count() == 2


def test_invalid_submissions_do_not_count_against_the_network_limit(
    client: Client, organization: Organization, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_IP = "1/h"
    invalid = [post(client, organization, valid_data(email="not an address")) for _ in range(3)]

    accepted = post(client, organization, valid_data())

    assert [answer.status_code for answer in invalid] == [400, 400, 400]
    assert accepted.status_code == 302
    assert SubjectRequest.objects.count() == 1


def test_over_the_network_limit_the_page_says_the_real_wait_and_when_to_retry(
    client: Client, organization: Organization, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_IP = "1/h"
    quarter_past = timezone.now().replace(minute=15, second=0, microsecond=0)
    with time_machine.travel(quarter_past, tick=False):
        post(client, organization, valid_data(email="one@example.com"))
        refused = post(client, organization, valid_data(email="two@example.com"))

    assert refused.status_code == 429
    assert refused["Retry-After"] == str(45 * 60)
    assert "Please try again in 45\xa0minutes." in refused.content.decode()
    assert "wait an hour" not in refused.content.decode()


def test_a_rotating_forwarded_for_header_does_not_escape_the_form_limit(
    client: Client, organization: Organization, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_REQUEST_PER_IP = "2/h"
    answers = [
        post(
            client,
            organization,
            valid_data(email=f"s{n}@example.com"),
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
        for n in range(3)
    ]

    assert [answer.status_code for answer in answers] == [302, 302, 429]


def test_too_many_posts_for_one_email_get_the_usual_answer_and_send_nothing(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.RATELIMIT_REQUEST_PER_EMAIL = "1/h"
    with django_capture_on_commit_callbacks(execute=True):
        post(client, organization, valid_data(RequestType.ACCESS))
        response = post(client, organization, valid_data(RequestType.DELETION))

    assert response.status_code == 302
    assert SubjectRequest.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_duplicate_points_to_the_open_request_without_saying_so_on_screen(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, organization, valid_data(), follow=True)
        second = post(client, organization, valid_data(email="SUBJECT@example.com"), follow=True)

    assert first.content == second.content
    request = SubjectRequest.objects.get()
    assert request.events.filter(kind="duplicate_submitted").count() == 1
    # Not yet confirmed: the subject is sent a fresh confirmation link for the same request.
    assert len(links_in_outbox("confirm")) == 2


def test_a_duplicate_of_a_confirmed_request_mails_its_status_link(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        post(client, organization, valid_data())
    (token,) = links_in_outbox("confirm")
    client.post(reverse("requests_app:request_verify", args=[token]))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        post(client, organization, valid_data())

    assert SubjectRequest.objects.count() == 1
    (status_token,) = links_in_outbox("status")
    page = client.get(reverse("requests_app:request_status", args=[status_token]))
    assert page.status_code == 200
    assert SubjectRequest.objects.get().reference in page.content.decode()


def test_the_same_email_may_file_another_type(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    post(client, organization, valid_data(RequestType.ACCESS))
    post(client, organization, valid_data(RequestType.DELETION))

    assert SubjectRequest.objects.count() == 2


def test_confirming_shows_the_status_page_with_the_due_date_in_the_organisation_zone(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with time_machine.travel("2026-03-05 21:00 +00:00", tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            post(client, organization, valid_data(RequestType.CORRECTION))
        (token,) = links_in_outbox("confirm")
        asked = client.get(reverse("requests_app:request_verify", args=[token]))
        with django_capture_on_commit_callbacks(execute=True):
            confirmed = client.post(
                reverse("requests_app:request_verify", args=[token]), follow=True
            )

    assert asked.status_code == 200
    assert SubjectRequest.objects.get().status == RequestStatus.VERIFIED
    page = confirmed.content.decode()
    assert "Confirmed" in page
    # 21:00 UTC on 5 March is already 6 March in Tashkent; + 30 days = 5 April.
    assert "April 5, 2026" in page
    assert version.version_label in page
    # The confirmation mail carries a status link of its own.
    assert len(links_in_outbox("status")) == 1


def test_a_confirmation_link_cannot_be_used_twice(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        post(client, organization, valid_data())
    (token,) = links_in_outbox("confirm")
    url = reverse("requests_app:request_verify", args=[token])

    assert client.post(url).status_code == 302
    replay = client.post(url)

    assert replay.status_code == 404
    request = SubjectRequest.objects.get()
    assert request.events.filter(kind="verified").count() == 1


def _invalid_answers(client: Client, tokens: list[str], name: str) -> set[tuple[int, bytes]]:
    return {
        (response.status_code, response.content)
        for response in (
            client.get(reverse(f"requests_app:{name}", args=[token])) for token in tokens
        )
    }


def test_wrong_expired_used_and_misdirected_links_get_the_same_answer(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        post(client, organization, valid_data(email="used@example.com"))
        post(client, organization, valid_data(email="expired@example.com"))
    used, expired = links_in_outbox("confirm")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("requests_app:request_verify", args=[used]))
    (status_token,) = links_in_outbox("status")

    with time_machine.travel(timezone.now() + timedelta(hours=73)):
        confirm_answers = _invalid_answers(
            client,
            ["wrong", "x" * 43, "y" * 500, used, expired, status_token],
            "request_verify",
        )
        status_answers = _invalid_answers(
            client, ["wrong", "x" * 43, "y" * 500, used, expired], "request_status"
        )

    assert len(confirm_answers) == 1
    assert confirm_answers == status_answers
    assert next(iter(confirm_answers))[0] == 404


def test_a_new_link_is_mailed_only_to_an_address_with_requests_and_the_answer_is_the_same(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    file_request(version, email="known@example.com")
    url = reverse("requests_app:request_new_link", args=[organization.slug])

    with django_capture_on_commit_callbacks(execute=True):
        known = client.post(url, {"email": "known@example.com"}, follow=True)
        unknown = client.post(url, {"email": "unknown@example.com"}, follow=True)

    assert known.content == unknown.content
    assert [message.to for message in mail.outbox] == [["known@example.com"]]
    assert len(links_in_outbox("confirm")) == 1


def test_a_request_closed_recently_gets_a_new_status_link_and_the_same_answer(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    request = request_mark_verified(request=file_request(version, email="closed@example.com"))
    request_withdraw(request=request, actor=Actor.subject())
    url = reverse("requests_app:request_new_link", args=[organization.slug])

    with django_capture_on_commit_callbacks(execute=True):
        closed = client.post(url, {"email": "closed@example.com"}, follow=True)
        unknown = client.post(url, {"email": "unknown@example.com"}, follow=True)

    assert closed.content == unknown.content
    assert [message.to for message in mail.outbox] == [["closed@example.com"]]
    (token,) = links_in_outbox("status")
    assert client.get(reverse("requests_app:request_status", args=[token])).status_code == 200


def test_an_expired_status_link_leads_to_a_new_one(
    client: Client, organization: Organization, version: PolicyVersion, settings: Any
) -> None:
    token = token_issue(request=file_request(version), purpose=TokenPurpose.STATUS)

    with time_machine.travel(timezone.now() + timedelta(days=settings.STATUS_LINK_DAYS)):
        expired = client.get(reverse("requests_app:request_status", args=[token]))
    choose = reverse("requests_app:new_link_choose")
    chosen = client.get(choose)

    assert expired.status_code == 404
    assert f'href="{choose}"' in expired.content.decode()
    # With one organisation there is nothing to choose: straight to its form.
    assert chosen.status_code == 302
    assert chosen["Location"] == reverse("requests_app:request_new_link", args=["beshqozon"])


def test_with_several_organisations_the_subject_chooses_whose_form_to_use(
    client: Client, organization: Organization
) -> None:
    other: Organization = OrganizationFactory.create(slug="clopos", name="Clopos")

    page = client.get(reverse("requests_app:new_link_choose")).content.decode()

    for each in (organization, other):
        assert reverse("requests_app:request_new_link", args=[each.slug]) in page


def test_new_links_are_rate_limited_per_email(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.RATELIMIT_NEW_LINK_PER_EMAIL = "1/h"
    file_request(version, email="known@example.com")
    url = reverse("requests_app:request_new_link", args=[organization.slug])

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"email": "known@example.com"})
        again = client.post(url, {"email": "known@example.com"})

    assert again.status_code == 302
    assert len(mail.outbox) == 1


TIMESTAMP = re.compile(r"'\d{4}-\d\d-\d\d[ T][\d:.]+\+00:00'::timestamptz")


def test_the_new_link_form_does_the_same_work_whether_or_not_the_address_has_requests(
    client: Client,
    organization: Organization,
    version: PolicyVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    file_request(version, email="known@example.com")
    url = reverse("requests_app:request_new_link", args=[organization.slug])
    work: dict[str, Any] = {}
    for email in ("known@example.com", "unknown@example.com"):
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks() as queued,
        ):
            client.post(url, {"email": email})
        work[email] = (
            [
                # The outbox row of the job is written at a (slightly) different time.
                TIMESTAMP.sub("?", query["sql"].replace(email, "?"))
                for query in queries.captured_queries
            ],
            [OutboxMessage.objects.get(pk=callback.args[0]).task_name for callback in queued],
        )

    assert work["known@example.com"] == work["unknown@example.com"]
    # One job either way: the worker looks the requests up.
    assert work["known@example.com"][1] == ["requests_app.send_new_links"]


def test_invalid_new_link_submissions_do_not_count_against_the_network_limit(
    client: Client, organization: Organization, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_NEW_LINK_PER_IP = "1/h"
    url = reverse("requests_app:request_new_link", args=[organization.slug])

    invalid = [client.post(url, {"email": "not an address"}) for _ in range(3)]
    accepted = client.post(url, {"email": "known@example.com"})
    refused = client.post(url, {"email": "other@example.com"})

    assert [answer.status_code for answer in invalid] == [400, 400, 400]
    assert accepted.status_code == 302
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "Please try again in" in refused.content.decode()


def test_too_many_link_openings_are_refused_with_retry_after(
    client: Client, version: PolicyVersion, settings: Any
) -> None:
    settings.RATELIMIT_LINK_OPEN_PER_IP = "2/m"
    url = reverse("requests_app:request_status", args=["no-such-token"])

    answers = [client.get(url) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [404, 404, 429]
    assert 0 < int(answers[2]["Retry-After"]) <= 60


def test_status_page_shows_only_events_meant_for_the_subject(
    client: Client, version: PolicyVersion
) -> None:
    from requests_app.audit import event_append

    request = file_request(version)
    event_append(
        request=request,
        kind="note",
        actor=Actor.system("test"),
        at=timezone.now(),
        note="internal: subject sounded angry",
    )
    token = token_issue(request=request, purpose=TokenPurpose.STATUS)

    page = client.get(reverse("requests_app:request_status", args=[token])).content.decode()

    assert "Request received" in page
    assert "internal" not in page
    assert RequestToken.objects.filter(token_hash=token).count() == 0  # only the hash is stored


def test_another_organisations_policy_does_not_leak_into_the_form(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    other: Organization = OrganizationFactory.create(slug="clopos")
    publish_version(other, {RequestType.MARKETING_OPT_OUT: {}})

    response = client.get(form_url(organization))

    assert "marketing_opt_out" not in response.content.decode()


def test_a_request_about_oneself_ignores_what_was_typed_about_someone_else(
    client: Client, organization: Organization, version: PolicyVersion
) -> None:
    data = valid_data(
        about="self", subject_email="not an address", subject_date_of_birth="27/06/2014"
    )

    response = post(client, organization, data)

    assert response.status_code == 302
    request = SubjectRequest.objects.get()
    assert not request.is_on_behalf
    assert not hasattr(request, "representation")

"""Export packages from the subject request's page: built, reviewed and delivered by an officer,
seen but not touched by agents and auditors, and refused (nothing changed) when forced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exports.delivery import export_create, export_deliver
from exports.models import ExportPackage, ExportStatus
from policies.models import Organization
from requests_app.audit import Actor
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.roles import AGENTS, AUDITORS, OFFICERS
from requests_app.workflow import request_assign
from tests.factories import (
    ConfirmedRequestFactory,
    OrganizationFactory,
    StaffUserFactory,
    account_with_every_record,
)

pytestmark = pytest.mark.django_db

OnCommit = Callable[..., Any]
CHANGELIST = reverse("admin:requests_app_subjectrequest_changelist")
PACKAGES = reverse("admin:exports_exportpackage_changelist")


def change_url(subject_request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_change", args=[subject_request.pk])


def build_url(subject_request: SubjectRequest) -> str:
    return reverse("admin:exports_exportpackage_build", args=[subject_request.pk])


def package_url(package: ExportPackage) -> str:
    return reverse("admin:exports_exportpackage_change", args=[package.pk])


def step_url(package: ExportPackage, step: str) -> str:
    return reverse("admin:exports_exportpackage_step", args=[package.pk, step])


def status(package: ExportPackage) -> str:
    return str(ExportPackage.objects.values_list("status", flat=True).get(pk=package.pk))


def login(client: Client, role: str) -> User:
    user: User = StaffUserFactory.create(username=role.split()[-1].lower(), roles=[role])
    client.force_login(user)
    return user


@pytest.fixture(autouse=True)
def exports_location(settings: Any, tmp_path: Path) -> Path:
    location = tmp_path / "exports"
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location},
        },
    }
    return location


@pytest.fixture
def organization(db: None) -> Organization:
    created: Organization = OrganizationFactory.create(slug="zpos", name="ZPos System")
    account_with_every_record(organization=created, owner_email="owner@shop.example")
    return created


@pytest.fixture
def subject_request(organization: Organization) -> SubjectRequest:
    """A confirmed access request from the owner of a shop with rows in every POS model."""
    created: SubjectRequest = ConfirmedRequestFactory.create(
        organization=organization, email="owner@shop.example"
    )
    return created


@pytest.fixture
def ready(subject_request: SubjectRequest, django_capture_on_commit_callbacks: OnCommit) -> Any:
    """The request's package, built by the (eager) task and waiting for review."""
    officer = StaffUserFactory.create(username="builder", roles=[OFFICERS])
    with django_capture_on_commit_callbacks(execute=True):
        package = export_create(request=subject_request, actor=Actor.staff(officer))
    package.refresh_from_db()
    assert package.status == ExportStatus.READY
    return package


# --- Building -------------------------------------------------------------------------------------


def test_an_officer_builds_the_package_from_the_request_page(
    client: Client, subject_request: SubjectRequest, django_capture_on_commit_callbacks: OnCommit
) -> None:
    officer = login(client, OFFICERS)
    record = client.get(change_url(subject_request)).content.decode()
    assert build_url(subject_request) in record

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(build_url(subject_request))

    package = ExportPackage.objects.get(request=subject_request)
    assert response.status_code == 302
    assert response["Location"] == change_url(subject_request)
    assert (package.status, package.kind, package.created_by) == (
        ExportStatus.READY,
        "access",
        officer,
    )
    after = client.get(change_url(subject_request)).content.decode()
    assert "is being built" in after
    # The package, its counts, and the way to review and deliver it are on the request's page.
    assert "Ready for review" in after
    assert f"{package.total_rows} (" in after
    assert package_url(package) in after
    # One package in preparation at a time: the button is gone.
    assert build_url(subject_request) not in after


def test_a_refused_build_is_a_message_and_changes_nothing(
    client: Client, subject_request: SubjectRequest
) -> None:
    officer = login(client, OFFICERS)
    export_create(request=subject_request, actor=Actor.staff(officer))

    response = client.post(build_url(subject_request), follow=True)

    assert response.status_code == 200
    assert "already has an export package in preparation" in response.content.decode()
    assert ExportPackage.objects.filter(request=subject_request).count() == 1


@pytest.mark.parametrize(
    ("request_type", "request_status"),
    [
        ("deletion", RequestStatus.VERIFIED),
        ("access", RequestStatus.COMPLETED),
        ("access", RequestStatus.REJECTED),
    ],
)
def test_the_build_is_offered_only_for_open_access_and_portability_requests(
    client: Client, organization: Organization, request_type: str, request_status: str
) -> None:
    login(client, OFFICERS)
    subject_request = ConfirmedRequestFactory.create(
        organization=organization, request_type=request_type
    )
    closed_at = None if request_status == RequestStatus.VERIFIED else timezone.now()
    SubjectRequest.objects.filter(pk=subject_request.pk).update(
        status=request_status, closed_at=closed_at
    )

    page = client.get(change_url(subject_request)).content.decode()
    forced = client.post(build_url(subject_request), follow=True)

    assert build_url(subject_request) not in page
    assert forced.status_code == 200
    assert not ExportPackage.objects.exists()


def test_a_portability_request_gets_a_portability_package(
    client: Client, organization: Organization, django_capture_on_commit_callbacks: OnCommit
) -> None:
    login(client, OFFICERS)
    subject_request = ConfirmedRequestFactory.create(
        organization=organization, request_type="portability", email="owner@shop.example"
    )

    with django_capture_on_commit_callbacks(execute=True):
        client.post(build_url(subject_request))

    assert ExportPackage.objects.get().kind == "portability"


def test_an_agent_is_not_offered_the_build_and_a_forced_post_is_refused(
    client: Client, subject_request: SubjectRequest
) -> None:
    agent = login(client, AGENTS)
    # Assigned to them, so only the role stands in the way.
    request_assign(request=subject_request, actor=Actor.staff(agent), assignee=agent)

    page = client.get(change_url(subject_request))
    queue = client.get(CHANGELIST).content.decode()
    forced = client.post(build_url(subject_request))

    assert page.status_code == 200
    assert build_url(subject_request) not in page.content.decode()
    assert 'value="create_export_package"' not in queue
    assert forced.status_code == 403
    assert not ExportPackage.objects.exists()


def test_an_officer_builds_packages_from_the_queue(
    client: Client, subject_request: SubjectRequest, django_capture_on_commit_callbacks: OnCommit
) -> None:
    login(client, OFFICERS)
    assert 'value="create_export_package"' in client.get(CHANGELIST).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST,
            {"action": "create_export_package", "_selected_action": [subject_request.pk]},
            follow=True,
        )

    assert "1 export package queued" in response.content.decode()
    assert ExportPackage.objects.get().request == subject_request


# --- Reviewing and delivering ---------------------------------------------------------------------


def test_an_officer_reviews_and_delivers_the_package_from_the_request_page(
    client: Client, ready: ExportPackage, django_capture_on_commit_callbacks: OnCommit
) -> None:
    officer = login(client, OFFICERS)
    mail.outbox.clear()

    record = client.get(change_url(ready.request)).content.decode()
    review = client.get(package_url(ready)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(step_url(ready, "deliver"))

    assert "Review and deliver the export" in record
    assert "pos.saleline" in review  # the counts per model, to review
    assert step_url(ready, "deliver") in review
    assert response.status_code == 302
    assert response["Location"] == change_url(ready.request)
    ready.refresh_from_db()
    assert (ready.status, ready.delivered_by) == (ExportStatus.DELIVERED, officer)
    (message,) = mail.outbox
    assert message.to == ["owner@shop.example"]
    after = client.get(change_url(ready.request)).content.decode()
    assert "Delivered to the subject" in after
    assert "Review and deliver the export" not in after


def test_delivering_twice_is_refused_with_a_message(
    client: Client, ready: ExportPackage, django_capture_on_commit_callbacks: OnCommit
) -> None:
    officer = login(client, OFFICERS)
    with django_capture_on_commit_callbacks(execute=True):
        export_deliver(package=ready, actor=Actor.staff(officer))
    mail.outbox.clear()

    response = client.post(step_url(ready, "deliver"), follow=True)

    assert response.status_code == 200
    assert "this cannot be done now" in response.content.decode()
    assert step_url(ready, "deliver") not in response.content.decode()
    assert mail.outbox == []


def test_an_officer_discards_a_package_from_its_page(
    client: Client, ready: ExportPackage, django_capture_on_commit_callbacks: OnCommit
) -> None:
    login(client, OFFICERS)

    page = client.get(package_url(ready)).content.decode()
    question = client.get(step_url(ready, "discard"))
    assert status(ready) == ExportStatus.READY  # asking changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        client.post(step_url(ready, "discard"))

    assert f'href="{step_url(ready, "discard")}"' in page
    assert f"Discard export package #{ready.pk}? Its file is deleted" in question.content.decode()
    assert status(ready) == ExportStatus.DISCARDED
    assert ready.request.events.filter(note__contains="Discarded in the admin by officers").exists()


def test_a_step_is_taken_only_by_post(client: Client, ready: ExportPackage) -> None:
    login(client, OFFICERS)

    responses = [
        client.get(step_url(ready, "deliver")),
        client.get(build_url(ready.request)),
        client.post(step_url(ready, "publish")),
    ]

    assert [r.status_code for r in responses] == [405, 405, 404]
    assert status(ready) == ExportStatus.READY


def test_an_auditor_sees_the_package_but_cannot_deliver_it(
    client: Client, ready: ExportPackage
) -> None:
    login(client, AUDITORS)

    record = client.get(change_url(ready.request)).content.decode()
    review = client.get(package_url(ready))
    forced = [client.post(step_url(ready, step)) for step in ("deliver", "rerun", "discard")]
    forced_build = client.post(build_url(ready.request))

    assert "Ready for review" in record
    assert package_url(ready) in record  # the inline's "View" link
    assert "Review and deliver the export" not in record
    assert review.status_code == 200
    assert "/step/" not in review.content.decode()
    assert [r.status_code for r in forced] == [403, 403, 403]
    assert forced_build.status_code == 403
    assert status(ready) == ExportStatus.READY


def test_an_agent_sees_the_packages_of_the_requests_they_see_only(
    client: Client, ready: ExportPackage
) -> None:
    login(client, AGENTS)
    someone = StaffUserFactory.create(username="someone", roles=[OFFICERS])

    in_the_pool = client.get(package_url(ready))
    listed = list(client.get(PACKAGES).context["cl"].result_list)
    request_assign(request=ready.request, actor=Actor.staff(someone), assignee=someone)
    hidden = client.get(package_url(ready))

    assert in_the_pool.status_code == 200
    assert listed == [ready]
    assert hidden.status_code == 302  # the admin's "does not exist" redirect
    assert not client.get(PACKAGES).context["cl"].result_list


@pytest.mark.parametrize("role", [AGENTS, OFFICERS, AUDITORS])
def test_every_role_can_open_the_package_pages(
    client: Client, ready: ExportPackage, role: str
) -> None:
    login(client, role)

    assert client.get(PACKAGES).status_code == 200
    assert client.get(package_url(ready)).status_code == 200

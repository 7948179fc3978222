"""Export packages from the staff's action to the subject's download, and their expiry."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core import mail
from django.core.files.base import ContentFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from exports import admin as export_admin
from exports.build import MAX_ATTEMPTS, export_storage, stall_after
from exports.delivery import (
    ExportRefused,
    download_start,
    export_create,
    export_deliver,
    export_discard,
    export_rerun,
    exports_housekeeping,
    exports_recover_stalled,
)
from exports.models import (
    DownloadRoute,
    ExportDownload,
    ExportPackage,
    ExportStatus,
)
from exports.tasks import delete_expired_exports
from policies.models import Organization
from requests_app.audit import Actor
from requests_app.models import RequestEvent, SubjectRequest, TokenPurpose
from requests_app.verification import token_issue
from subject_data.registry import registry
from tests.factories import (
    ConfirmedRequestFactory,
    OrganizationFactory,
    account_with_every_record,
    forwarded_by_controller,
)

pytestmark = pytest.mark.django_db

EXPORT_LINK = re.compile(r"https?://[^\s\"<>]+(/privacy/exports/[A-Za-z0-9_-]+/)")
OnCommit = Callable[..., Any]


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
def staff(db: None) -> User:
    user: User = User.objects.create_superuser("officer", "officer@example.com", "x" * 20)
    return user


@pytest.fixture
def organization(db: None) -> Organization:
    created: Organization = OrganizationFactory.create(slug="zpos", name="ZPos System")
    account_with_every_record(organization=created, owner_email="owner@shop.example")
    return created


@pytest.fixture
def subject_request(organization: Organization) -> SubjectRequest:
    created: SubjectRequest = ConfirmedRequestFactory.create(
        organization=organization, email="owner@shop.example"
    )
    return created


@pytest.fixture
def ready(
    subject_request: SubjectRequest, staff: User, django_capture_on_commit_callbacks: OnCommit
) -> ExportPackage:
    """A package staff asked for and the (eager) task built."""
    with django_capture_on_commit_callbacks(execute=True):
        package = export_create(request=subject_request, actor=Actor.staff(staff))
    package.refresh_from_db()
    return package


@pytest.fixture
def delivered(
    ready: ExportPackage, staff: User, django_capture_on_commit_callbacks: OnCommit
) -> ExportPackage:
    with django_capture_on_commit_callbacks(execute=True):
        return export_deliver(package=ready, actor=Actor.staff(staff))


def _emailed_link() -> str:
    (message,) = [m for m in mail.outbox if "ready to download" in m.subject]
    (path,) = EXPORT_LINK.findall(str(message.body))
    return path


def _download(response: Any) -> bytes:
    # The test client closes the response (which records the download) once it is read.
    return b"".join(response.streaming_content)


def _stored(package: ExportPackage) -> bytes:
    with export_storage().open(package.file_path, "rb") as stored:
        return stored.read()


# --- Staff ----------------------------------------------------------------------------------------


def test_a_package_staff_ask_for_is_built_by_the_task_and_waits_for_review(
    ready: ExportPackage,
) -> None:
    assert ready.status == ExportStatus.READY
    assert ready.total_rows == len(registry)
    assert export_storage().exists(ready.file_path)
    assert hashlib.sha256(_stored(ready)).hexdigest() == ready.sha256
    events = [e.data["export"]["event"] for e in ready.request.events.exclude(data={})
              if "export" in e.data]  # fmt: skip
    assert events == ["created", "built"]


def test_only_confirmed_access_and_portability_requests_get_a_package(
    organization: Organization, staff: User
) -> None:
    deletion = ConfirmedRequestFactory.create(organization=organization, request_type="deletion")
    unconfirmed = ConfirmedRequestFactory.build(organization=organization)
    unconfirmed.status = "awaiting_verification"

    with pytest.raises(ExportRefused, match="Only access and portability"):
        export_create(request=deletion, actor=Actor.staff(staff))
    with pytest.raises(ExportRefused, match="only a confirmed, open request"):
        export_create(request=unconfirmed, actor=Actor.staff(staff))
    assert not ExportPackage.objects.exists()


def test_a_request_has_one_package_in_preparation_at_a_time(
    subject_request: SubjectRequest, staff: User
) -> None:
    export_create(request=subject_request, actor=Actor.staff(staff))

    with pytest.raises(ExportRefused, match="already has an export package"):
        export_create(request=subject_request, actor=Actor.staff(staff))
    assert ExportPackage.objects.count() == 1


def test_delivering_emails_a_link_valid_for_the_configured_days(
    ready: ExportPackage, staff: User, settings: Any, django_capture_on_commit_callbacks: OnCommit
) -> None:
    settings.EXPORT_LINK_DAYS = 3
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        package = export_deliver(package=ready, actor=Actor.staff(staff))

    assert package.status == ExportStatus.DELIVERED
    assert package.delivered_by == staff
    assert package.link_expires_at is not None
    assert (
        before + timedelta(days=3) <= package.link_expires_at <= timezone.now() + timedelta(days=3)
    )
    (message,) = mail.outbox
    assert message.to == ["owner@shop.example"]
    assert package.request.reference in message.subject
    assert _emailed_link() in message.alternatives[0][0]  # type: ignore[attr-defined]
    assert package.links.count() == 1
    shown = RequestEvent.objects.filter(request=package.request, subject_visible=True).last()
    assert shown is not None
    assert "download it from this page" in shown.public_note


def test_a_request_a_controller_forwarded_is_delivered_without_emailing_the_subject(
    ready: ExportPackage, staff: User, django_capture_on_commit_callbacks: OnCommit
) -> None:
    forwarded_by_controller(ready.request)

    with django_capture_on_commit_callbacks(execute=True):
        package = export_deliver(package=ready, actor=Actor.staff(staff))

    assert package.status == ExportStatus.DELIVERED
    assert mail.outbox == []


def test_delivering_twice_is_refused_and_changes_nothing(
    delivered: ExportPackage, staff: User
) -> None:
    stale = ExportPackage.objects.get(pk=delivered.pk)
    stale.status = ExportStatus.READY  # what a second browser tab still shows

    with pytest.raises(ExportRefused, match="Delivered to the subject"):
        export_deliver(package=stale, actor=Actor.staff(staff))

    assert ExportPackage.objects.get(pk=delivered.pk).delivered_at == delivered.delivered_at
    assert len(mail.outbox) == 1


def test_a_package_still_building_cannot_be_delivered(
    subject_request: SubjectRequest, staff: User
) -> None:
    package = export_create(request=subject_request, actor=Actor.staff(staff))

    with pytest.raises(ExportRefused, match="Queued"):
        export_deliver(package=package, actor=Actor.staff(staff))


# --- The subject's downloads ------------------------------------------------------------------


def test_the_emailed_link_opens_a_page_then_streams_the_file_and_records_the_download(
    delivered: ExportPackage, client: Client
) -> None:
    link = _emailed_link()

    page = client.get(link)
    response = client.get(f"{link}download/")

    assert page.status_code == 200
    assert "Download my data" in page.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert delivered.request.reference in response["Content-Disposition"]
    assert int(response["Content-Length"]) == delivered.size
    assert _download(response) == _stored(delivered)
    download = ExportDownload.objects.get()
    assert (download.route, download.bytes_sent, download.completed) == (
        DownloadRoute.EMAIL_LINK,
        delivered.size,
        True,
    )
    assert download.finished_at is not None
    last = delivered.request.events.last()
    assert last is not None
    assert last.data["export"]["event"] == "downloaded"


def test_the_status_page_offers_the_download(delivered: ExportPackage, client: Client) -> None:
    token = token_issue(request=delivered.request, purpose=TokenPurpose.STATUS)
    href = reverse("exports:export_status_download", args=[token, delivered.pk])

    page = client.get(reverse("requests_app:request_status", args=[token]))
    response = client.get(href)

    assert page.status_code == 200
    assert href in page.content.decode()
    assert _download(response) == _stored(delivered)
    assert ExportDownload.objects.get().route == DownloadRoute.STATUS_PAGE


def test_a_download_cut_short_is_recorded_as_incomplete(delivered: ExportPackage) -> None:
    stream = download_start(package=delivered, route=DownloadRoute.EMAIL_LINK)

    first = stream.read(100)
    stream.close()  # what the server does when the subject hangs up
    stream.close()

    download = ExportDownload.objects.get()
    assert download.bytes_sent == len(first) == 100
    assert download.completed is False
    assert download.finished_at is not None
    assert delivered.request.events.filter(data__export__event="downloaded").count() == 1


def test_another_requests_status_link_does_not_reach_this_package(
    delivered: ExportPackage, organization: Organization, client: Client
) -> None:
    other = ConfirmedRequestFactory.create(organization=organization, email="other@shop.example")
    token = token_issue(request=other, purpose=TokenPurpose.STATUS)

    response = client.get(reverse("exports:export_status_download", args=[token, delivered.pk]))

    assert response.status_code == 404
    assert not ExportDownload.objects.exists()


def test_a_wrong_link_gets_the_usual_invalid_link_page(
    delivered: ExportPackage, client: Client
) -> None:
    response = client.get(reverse("exports:export_link", args=["not-a-real-token"]))

    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()


def test_a_ready_package_cannot_be_downloaded_before_delivery(
    ready: ExportPackage, client: Client
) -> None:
    token = token_issue(request=ready.request, purpose=TokenPurpose.STATUS)

    response = client.get(reverse("exports:export_status_download", args=[token, ready.pk]))

    assert response.status_code == 404


def test_after_expiry_the_link_says_so_even_before_the_file_is_deleted(
    delivered: ExportPackage, client: Client
) -> None:
    link = _emailed_link()

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        page = client.get(link)
        download = client.get(f"{link}download/")

    assert page.status_code == download.status_code == 410
    assert "This download has expired" in page.content.decode()
    assert "the file has been deleted" in page.content.decode()
    assert not ExportDownload.objects.exists()


def test_the_hourly_job_deletes_expired_files_and_the_status_page_says_so(
    delivered: ExportPackage, client: Client
) -> None:
    token = token_issue(request=delivered.request, purpose=TokenPurpose.STATUS)
    stored = delivered.file_path

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        report = delete_expired_exports()
        page = client.get(reverse("requests_app:request_status", args=[token]))

    package = ExportPackage.objects.get(pk=delivered.pk)
    assert report == {"expired": 1, "files_deleted": 1, "recovered": 0}
    assert package.status == ExportStatus.EXPIRED
    assert package.file_path == ""
    assert package.file_deleted_at is not None
    assert not export_storage().exists(stored)
    assert "this download expired on" in page.content.decode()
    assert delete_expired_exports() == {"expired": 0, "files_deleted": 0, "recovered": 0}


def test_the_hourly_job_is_scheduled(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["every-hour-delete-expired-exports"]

    assert entry["task"] == delete_expired_exports.name
    assert entry["task"] in celery_app.tasks


# --- Discard, re-run, recovery ----------------------------------------------------------------


def test_discarding_a_package_deletes_its_file(
    ready: ExportPackage, staff: User, django_capture_on_commit_callbacks: OnCommit
) -> None:
    stored = ready.file_path

    with django_capture_on_commit_callbacks(execute=True):
        package = export_discard(package=ready, actor=Actor.staff(staff), reason="wrong account")

    package.refresh_from_db()
    assert package.status == ExportStatus.DISCARDED
    assert not export_storage().exists(stored)
    with pytest.raises(ExportRefused):
        export_discard(package=package, actor=Actor.staff(staff), reason="again")


def test_a_failed_build_can_be_rerun(
    subject_request: SubjectRequest, staff: User, django_capture_on_commit_callbacks: OnCommit
) -> None:
    package = ExportPackage.objects.create(
        request=subject_request,
        kind="access",
        status=ExportStatus.FAILED,
        attempts=MAX_ATTEMPTS,
        failure="OperationalError: the database went away",
    )

    with django_capture_on_commit_callbacks(execute=True):
        export_rerun(package=package, actor=Actor.staff(staff))

    package.refresh_from_db()
    assert (package.status, package.attempts, package.failure) == (ExportStatus.READY, 1, "")


def test_housekeeping_queues_again_a_build_whose_worker_died_and_deletes_its_partial_file(
    subject_request: SubjectRequest, django_capture_on_commit_callbacks: OnCommit
) -> None:
    started = timezone.now() - stall_after()
    partial = export_storage().save("partial/dead.zip.part", ContentFile(b"PK\x03\x04 half"))
    package = ExportPackage.objects.create(
        request=subject_request,
        kind="access",
        status=ExportStatus.BUILDING,
        attempts=1,
        started_at=started,
        partial_path=partial,
    )

    with django_capture_on_commit_callbacks(execute=True):
        report = exports_housekeeping()

    package.refresh_from_db()
    assert report.recovered == 1
    assert not export_storage().exists(partial)
    assert (package.status, package.attempts) == (ExportStatus.READY, 2)
    assert "stopped before it finished" in " ".join(e.note for e in subject_request.events.all())


def test_a_build_that_keeps_dying_is_left_failed_for_staff(
    subject_request: SubjectRequest,
) -> None:
    package = ExportPackage.objects.create(
        request=subject_request,
        kind="access",
        status=ExportStatus.BUILDING,
        attempts=MAX_ATTEMPTS,
        started_at=timezone.now() - stall_after(),
    )

    exports_housekeeping()

    package.refresh_from_db()
    assert package.status == ExportStatus.FAILED
    assert f"attempt {MAX_ATTEMPTS} stopped" in package.failure


def test_a_building_package_is_left_alone_while_its_worker_may_be_alive(
    subject_request: SubjectRequest,
) -> None:
    package = ExportPackage.objects.create(
        request=subject_request,
        kind="access",
        status=ExportStatus.BUILDING,
        attempts=1,
        started_at=timezone.now() - stall_after() + timedelta(minutes=1),
    )

    assert exports_housekeeping().recovered == 0
    assert ExportPackage.objects.get(pk=package.pk).status == ExportStatus.BUILDING


def test_a_long_build_whose_heartbeat_goes_on_is_left_alone_and_one_whose_heartbeat_stopped_is_not(
    subject_request: SubjectRequest, settings: Any
) -> None:
    settings.WORK_STALL_MINUTES = 3
    long_ago = timezone.now() - timedelta(hours=2)
    alive = ExportPackage.objects.create(
        request=subject_request,
        kind="access",
        status=ExportStatus.BUILDING,
        attempts=1,
        started_at=long_ago,
        heartbeat_at=timezone.now() - timedelta(minutes=2),
    )

    assert exports_recover_stalled() == 0
    assert ExportPackage.objects.get(pk=alive.pk).status == ExportStatus.BUILDING

    ExportPackage.objects.filter(pk=alive.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=3, seconds=1)
    )

    assert exports_recover_stalled() == 1
    assert ExportPackage.objects.get(pk=alive.pk).status == ExportStatus.QUEUED


# --- The published schema and the admin ---------------------------------------------------------


def test_the_data_schema_is_published(client: Client) -> None:
    response = client.get(reverse("exports:export_data_schema"))

    schema = json.loads(response.content)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/schema+json"
    assert set(schema["$defs"]) == {r.label for r in registry}


def test_the_admin_lists_shows_and_delivers_packages(
    ready: ExportPackage, admin_client: Client, django_capture_on_commit_callbacks: OnCommit
) -> None:
    changelist = reverse("admin:exports_exportpackage_changelist")
    change = reverse("admin:exports_exportpackage_change", args=[ready.pk])

    assert admin_client.get(changelist).status_code == 200
    page = admin_client.get(change)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "deliver", "_selected_action": [ready.pk]})

    assert page.status_code == 200
    assert "pos.saleline" in page.content.decode()
    assert ExportPackage.objects.get(pk=ready.pk).status == ExportStatus.DELIVERED
    assert len(mail.outbox) == 1


def test_the_request_action_queues_a_package(
    subject_request: SubjectRequest, staff: User, rf: RequestFactory
) -> None:
    request = rf.post("/admin/")
    request.user = staff
    request.session = {}  # type: ignore[assignment]
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]

    export_admin.create_export_package(
        None,  # type: ignore[arg-type]
        request,
        SubjectRequest.objects.filter(pk=subject_request.pk),
    )

    assert ExportPackage.objects.get().request == subject_request

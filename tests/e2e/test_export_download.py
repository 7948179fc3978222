"""A privacy officer builds and delivers an access export from the request's admin page; the
subject downloads the ZIP from their status page."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from exports.build import export_storage
from exports.models import ExportDownload, ExportPackage, ExportStatus
from policies.models import Organization, RequestType
from requests_app import roles
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ENGLISH_DETAILS,
    ContextFactory,
    Subject,
    admin_log_in,
    expected_text,
    file_and_confirm,
    wait_for_message,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BUILD_SECONDS = 20


@pytest.fixture
def package_files() -> Iterator[None]:
    """Delete the files the worker wrote on the shared exports storage once the test is over."""
    yield
    storage = export_storage()
    for file_path in ExportPackage.objects.exclude(file_path="").values_list(
        "file_path", flat=True
    ):
        storage.delete(file_path)


def _reload_until(page: Page, where: Locator, text: str, *, seconds: float) -> None:
    """Reload ``page`` until ``where`` shows ``text``: the worker builds in the background."""
    deadline = time.monotonic() + seconds
    while text not in where.inner_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} did not appear within {seconds:.0f}s")
        time.sleep(0.3)
        page.reload()


def test_an_officer_delivers_an_access_export_and_the_subject_downloads_it(
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
    package_files: None,
    tmp_path: Path,
) -> None:
    subject_page = new_context().new_page()
    subject = Subject.new("Aziza Yusupova")
    filed = file_and_confirm(
        subject_page,
        artifacts,
        mail_dir=celery_worker_mail_dir,
        organization=Organization.objects.get(slug="clopos"),
        request_type=RequestType.ACCESS,
        subject=subject,
        details=ENGLISH_DETAILS[RequestType.ACCESS],
    )
    status_page_url = subject_page.url

    # The roles come from data migrations, which the flush between browser tests empties.
    roles.roles_sync()
    password = secrets.token_urlsafe(16)
    officer = User.objects.create_user(
        "officer", email="officer@clopos.example", password=password, is_staff=True
    )
    officer.groups.add(Group.objects.get(name=roles.OFFICERS))

    page = new_context().new_page()
    admin_log_in(page, "officer", password)
    page.goto(reverse("admin:requests_app_subjectrequest_change", args=[filed.pk]))
    actions = page.locator("section.dsr-actions")
    actions.get_by_role("button", name=expected_text("en", "Build the export package")).click()
    expect(page.locator(".messagelist")).to_contain_text(filed.reference)
    artifacts.shot(page, "export queued")

    # The real worker builds the package; its status and row counts appear on the request page.
    packages = page.locator("#export_packages-group")
    _reload_until(page, packages, str(ExportStatus.READY.label), seconds=BUILD_SECONDS)
    package = ExportPackage.objects.get(request=filed)
    expect(packages).to_contain_text(f"{package.total_rows} (")
    artifacts.shot(page, "export ready")

    actions.get_by_role("link", name=expected_text("en", "Review and deliver the export…")).click()
    expect(page.locator("#content")).to_contain_text(str(package))
    artifacts.shot(page, "package review")
    page.locator("section.dsr-actions").get_by_role(
        "button", name=expected_text("en", "Deliver to the subject")
    ).click()
    expect(page.locator(".messagelist")).to_contain_text(f"#{package.pk} is delivered")
    expect(packages).to_contain_text(str(ExportStatus.DELIVERED.label))
    artifacts.shot(page, "delivered")

    # The subject is emailed a link, and finds the same download on their status page.
    emailed = expected_text("en", "Download it here:")
    wait_for_message(celery_worker_mail_dir, subject.email, emailed)
    subject_page.goto(status_page_url)
    download_link = subject_page.locator("#exports").get_by_role("link")
    expect(download_link).to_have_count(1)
    artifacts.shot(subject_page, "status page with the download")
    with subject_page.expect_download() as started:
        download_link.click()
    download = started.value
    assert download.suggested_filename == f"{filed.reference}-access.zip"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    with zipfile.ZipFile(saved) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        data = json.loads(archive.read("data.json"))
    assert {"manifest.json", "data.json"} <= names
    assert data["request"] == manifest["request"]["reference"] == filed.reference
    package.refresh_from_db()
    assert package.status == ExportStatus.DELIVERED
    assert saved.stat().st_size == package.size
    # The server records the download as the response closes, just after the browser has it.
    deadline = time.monotonic() + 5
    while not ExportDownload.objects.filter(package=package, completed=True).exists():
        assert time.monotonic() < deadline, "the download was not recorded as complete"
        time.sleep(0.1)

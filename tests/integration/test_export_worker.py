"""Export packages through real worker processes on PostgreSQL: built, delivered, downloaded;
and a build killed half-way, which leaves nothing visible and is finished by the next attempt."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from exports.build import export_storage, final_name, stall_after
from exports.delivery import (
    export_create,
    export_deliver,
    exports_recover_stalled,
)
from exports.models import ExportDownload, ExportPackage, ExportStatus
from exports.tasks import build_export
from policies.models import Organization
from pos.demo_data import demo_data_generate, large_subject_email
from requests_app.audit import Actor
from requests_app.models import SubjectRequest
from tests.conftest import ROOT, _test_database_url
from tests.factories import ConfirmedRequestFactory, OrganizationFactory, account_with_every_record

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

EXPORT_LINK = re.compile(r"https?://[^\s\"<>]+(/privacy/exports/[A-Za-z0-9_-]+/)")
KILL_QUEUE = "export-kill-test"


def _wait_for(condition: Callable[[], Any], *, seconds: float = 90, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"gave up after {seconds}s waiting for {what}")


def _status(package: ExportPackage) -> str:
    return str(ExportPackage.objects.values_list("status", flat=True).get(pk=package.pk))


def _stored(package: ExportPackage) -> bytes:
    with export_storage().open(package.file_path, "rb") as stored:
        return stored.read()


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()


@pytest.fixture
def staff(db: None) -> User:
    user: User = User.objects.create_superuser("officer", "officer@example.com", "x" * 20)
    return user


@pytest.fixture
def cleanup_files() -> Iterator[list[ExportPackage]]:
    """Packages whose files the test leaves on the shared storage, deleted afterwards."""
    packages: list[ExportPackage] = []
    yield packages
    for package in packages:
        package.refresh_from_db()
        for name in (package.file_path, package.partial_path):
            if name:
                export_storage().delete(name)


def test_a_package_is_built_delivered_and_downloaded_through_the_real_worker(
    celery_worker: subprocess.Popen,
    celery_worker_mail_dir: Path,
    staff: User,
    cleanup_files: list[ExportPackage],
) -> None:
    organization: Organization = OrganizationFactory.create(slug="zpos", name="ZPos System")
    account_with_every_record(organization=organization, owner_email="owner@shop.example")
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=organization, email="owner@shop.example"
    )

    package = export_create(request=request, actor=Actor.staff(staff))
    cleanup_files.append(package)
    _wait_for(lambda: _status(package) == ExportStatus.READY, what="the worker to build it")
    package.refresh_from_db()
    export_deliver(package=package, actor=Actor.staff(staff))

    def emailed_link() -> str | None:
        for mail_file in celery_worker_mail_dir.glob("*.log"):
            text = mail_file.read_text(encoding="utf-8")
            if request.reference in text and (found := EXPORT_LINK.search(text)):
                return found.group(1)
        return None

    link = _wait_for(emailed_link, what="the worker to email the link")
    response = Client().get(f"{link}download/")
    content = b"".join(response.streaming_content)  # type: ignore[attr-defined]

    assert content == _stored(package)
    assert hashlib.sha256(content).hexdigest() == package.sha256
    assert ExportDownload.objects.get().completed is True
    call_command("verify_audit_chain", request.reference)


@pytest.fixture
def kill_queue_worker() -> Iterator[subprocess.Popen]:
    """A worker of its own, on its own queue, streaming in tiny chunks so a build takes seconds."""
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "EXPORT_CHUNK_SIZE": "5"}
    log = open(ROOT / "var" / "test-export-kill-worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            KILL_QUEUE,
            "-n",
            f"export-kill-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=30)
        log.close()


def test_a_build_killed_half_way_leaves_no_visible_file_and_the_next_attempt_finishes_it(
    kill_queue_worker: subprocess.Popen,
    celery_worker: subprocess.Popen,
    cleanup_files: list[ExportPackage],
) -> None:
    organization: Organization = OrganizationFactory.create(slug="clopos", name="Clopos")
    demo_data_generate(organizations=[organization], accounts=0, large_subject_sales=10_000)
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=organization, email=large_subject_email(organization)
    )
    package = ExportPackage.objects.create(request=request, kind="access")
    cleanup_files.append(package)
    storage = export_storage()

    build_export.apply_async(args=(package.pk,), queue=KILL_QUEUE)

    def writing() -> str | None:
        partial = ExportPackage.objects.values_list("partial_path", flat=True).get(pk=package.pk)
        if partial and storage.exists(partial) and storage.size(partial) > 0:
            return str(partial)
        return None

    partial = _wait_for(writing, what="the build to start writing")
    kill_queue_worker.send_signal(signal.SIGKILL)
    kill_queue_worker.wait(timeout=30)

    package.refresh_from_db()
    assert package.status == ExportStatus.BUILDING
    assert package.file_path == ""
    assert partial.startswith("partial/")
    assert not storage.exists(final_name(partial))
    assert package.is_downloadable() is False

    recovered = exports_recover_stalled(at=timezone.now() + stall_after())

    assert recovered == 1
    assert not storage.exists(partial)
    _wait_for(lambda: _status(package) == ExportStatus.READY, what="the next attempt")
    package.refresh_from_db()
    assert package.attempts == 2
    assert hashlib.sha256(_stored(package)).hexdigest() == package.sha256
    assert package.row_counts["models"]["pos.sale"] == 10_000

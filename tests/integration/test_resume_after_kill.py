"""A worker killed with SIGKILL mid-way through an export build and through an erasure: with
a new worker and beat running, each finishes within minutes, not after the broker's visibility
timeout, and ends as an uninterrupted run would (README, "Interrupted work").

The workers and beat of these tests use a Redis database of their own, so the session's worker
never takes their tasks; ``WORK_STALL_MINUTES`` is 1, the shortest a deployment may set.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from erasure.models import ErasureCertificate, ErasureSchedule, ErasureStatus
from erasure.services import erasure_approve, erasures_start_due
from exports.build import export_build, export_storage
from exports.models import ExportPackage, ExportStatus
from outbox.api import enqueue
from policies.models import Organization
from pos.demo_data import demo_data_generate, large_subject_email
from pos.models import AccountUser, Login, StaffActivity
from requests_app.audit import Actor
from requests_app.models import RequestStatus, SubjectRequest
from retention.models import PurgeRun, PurgeStep
from retention.purge import run_execute
from tests.conftest import ROOT, _test_database_url
from tests.factories import (
    ConfirmedRequestFactory,
    OrganizationFactory,
    StaffUserFactory,
    account_with_every_record,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RESUME_WITHIN = 5 * 60
OWNER = "owner@shop.example"


def _broker() -> str:
    return urlsplit(django_settings.CELERY_BROKER_URL)._replace(path="/5").geturl()


def _wait_for(condition: Callable[[], Any], *, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up after {seconds:.0f}s waiting for {what}")


class Processes:
    """Celery workers and beat of one test, on its own broker database; all stopped at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": _broker(),
            "EMAIL_URL": f"filemail://{tmp_path / 'mail'}",
            "WORK_STALL_MINUTES": "1",
            # Small steps, so the work lasts long enough to be killed half-way.
            "EXPORT_CHUNK_SIZE": "5",
            "PURGE_BATCH_SIZE": "20",
        }
        self.started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def _start(self, name: str, *arguments: str) -> subprocess.Popen[bytes]:
        log = open(ROOT / "var" / f"test-resume-{name}.log", "w")  # noqa: SIM115 - closed in stop
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *arguments],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append((process, log))
        return process

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self._start(
            name,
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"resume-{name}-{os.getpid()}@%h",
        )

    def beat(self) -> subprocess.Popen[bytes]:
        schedule = str(self.tmp_path / "celerybeat-schedule")
        return self._start("beat", "beat", "--loglevel=INFO", "--schedule", schedule)

    def stop(self) -> None:
        for process, log in self.started:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


@pytest.fixture
def processes(tmp_path: Path, settings: Any) -> Iterator[Processes]:
    import redis

    settings.CELERY_BROKER_URL = _broker()  # what this process queues goes to their broker
    redis.Redis.from_url(_broker()).flushdb()
    started = Processes(tmp_path)
    yield started
    started.stop()
    redis.Redis.from_url(_broker()).flushdb()


def _manifest_verified(package: ExportPackage) -> dict[str, str]:
    """Check the package's file against its SHA-256 and every file in it against the manifest;
    return the SHA-256 of each file by name."""
    with export_storage().open(package.file_path, "rb") as stored:
        content = stored.read()
    assert hashlib.sha256(content).hexdigest() == package.sha256
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        listed = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
        for name, digest in listed.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
    return listed


def test_an_export_build_killed_half_way_is_finished_by_another_worker_within_minutes(
    processes: Processes,
) -> None:
    organization: Organization = OrganizationFactory.create(slug="resume", name="Resume Ltd")
    demo_data_generate(organizations=[organization], accounts=0, large_subject_sales=10_000)
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=organization, email=large_subject_email(organization)
    )
    storage = export_storage()
    # The package built without interruption, here, first (one package per request is in the
    # works at a time): its rows and CSV files are what the interrupted build must produce.
    uninterrupted = export_build(
        package_id=ExportPackage.objects.create(request=request, kind="access").pk
    )
    assert uninterrupted is not None
    uninterrupted_files = _manifest_verified(uninterrupted)
    storage.delete(uninterrupted.file_path)
    uninterrupted.delete()
    package = ExportPackage.objects.create(request=request, kind="access")
    first = processes.worker("first")
    with transaction.atomic():
        enqueue("exports.build_export", package.pk)

    def writing() -> bool:
        partial = ExportPackage.objects.values_list("partial_path", flat=True).get(pk=package.pk)
        return bool(partial) and storage.exists(partial) and storage.size(partial) > 0

    _wait_for(writing, seconds=120, what="the build to start writing")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed = time.monotonic()
    assert ExportPackage.objects.get(pk=package.pk).status == ExportStatus.BUILDING

    processes.worker("second")
    processes.beat()
    _wait_for(
        lambda: ExportPackage.objects.get(pk=package.pk).status == ExportStatus.READY,
        seconds=RESUME_WITHIN,
        what="another worker to finish the build",
    )
    resumed_in = time.monotonic() - killed

    package.refresh_from_db()
    assert package.attempts == 2
    resumed_files = _manifest_verified(package)
    assert package.row_counts == uninterrupted.row_counts
    assert package.row_counts["models"]["pos.sale"] == 10_000
    csv = {name for name in resumed_files if name.endswith(".csv")}
    assert csv
    assert {name: resumed_files[name] for name in csv} == {
        name: uninterrupted_files[name] for name in csv
    }
    storage.delete(package.file_path)
    print(f"\nexport: finished {resumed_in:.0f}s after the worker was killed")


def _add_own_rows(user_id: int, count: int) -> None:
    """Give the owner ``count`` log-ins and shift records: rows of their own, which an erasure
    deletes (the account's sales are shared with its cashier and stay)."""
    now = timezone.now()
    Login.objects.bulk_create(
        Login(user_id=user_id, at=now, ip_address="192.0.2.10", user_agent="test")
        for _ in range(count)
    )
    StaffActivity.objects.bulk_create(
        StaffActivity(user_id=user_id, action="shift_opened", at=now) for _ in range(count)
    )


def _shop(slug: str) -> tuple[Organization, int]:
    """An organisation whose subject OWNER has rows in every POS model and many of their own;
    return it and the owner's user id."""
    organization: Organization = OrganizationFactory.create(
        slug=slug, name=f"{slug} shop", time_zone="Asia/Tashkent", country="UZ"
    )
    account_with_every_record(organization=organization, owner_email=OWNER)
    owner = AccountUser.objects.get(account__organization=organization, email=OWNER)
    _add_own_rows(owner.pk, 2_000)
    return organization, owner.pk


def _certified(request: SubjectRequest) -> list[tuple[str, int, int, int, int]]:
    """What the request's erasure certificate counts, model by model."""
    certificate = ErasureCertificate.objects.get(request=request)
    assert certificate.is_intact()
    return [
        (m["model"], m["deleted"], m["anonymised"], m["kept_referenced"], m["retained"])
        for m in certificate.content["models"]
    ]


def test_an_erasure_killed_half_way_is_finished_by_another_worker_within_minutes(
    processes: Processes, settings: Any
) -> None:
    # Due at once: the run starts now, as the beat job would start it after the grace period.
    settings.ERASURE_GRACE_DAYS = 0
    officer = StaffUserFactory.create(is_superuser=True)
    # A twin subject, with the same rows, erased here without interruption.
    twin_organization, twin_owner = _shop("zpos-twin")
    twin: SubjectRequest = ConfirmedRequestFactory.create(
        organization=twin_organization, request_type="deletion", email=OWNER
    )
    erasure_approve(request=twin, actor=Actor.staff(officer))
    (twin_run,) = erasures_start_due(dispatch=False)
    run_execute(twin_run)
    assert not Login.objects.filter(user_id=twin_owner).exists()

    organization, owner = _shop("zpos")
    request: SubjectRequest = ConfirmedRequestFactory.create(
        organization=organization, request_type="deletion", email=OWNER
    )
    first = processes.worker("first")
    schedule = erasure_approve(request=request, actor=Actor.staff(officer))
    (run,) = erasures_start_due()

    def half_way() -> bool:
        return PurgeStep.objects.filter(run=run, batches__gt=0).exists()

    _wait_for(half_way, seconds=120, what="the erasure to run its first batches")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed = time.monotonic()
    assert PurgeRun.objects.get(pk=run.pk).finished_at is None

    processes.worker("second")
    processes.beat()
    _wait_for(
        lambda: ErasureSchedule.objects.get(pk=schedule.pk).status == ErasureStatus.DONE,
        seconds=RESUME_WITHIN,
        what="another worker to finish the erasure",
    )
    resumed_in = time.monotonic() - killed

    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert _certified(request) == _certified(twin)
    assert not Login.objects.filter(user_id=owner).exists()
    assert not StaffActivity.objects.filter(user_id=owner).exists()
    print(f"\nerasure: finished {resumed_in:.0f}s after the worker was killed")

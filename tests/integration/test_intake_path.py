"""The whole intake path on PostgreSQL with the real worker sending the mail."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from policies.models import ClockStart, Organization, PolicyVersion, RequestType
from policies.services import policy_version_publish
from requests_app.models import RequestStatus, SubjectRequest
from tests.factories import OrganizationFactory, PolicyVersionFactory, RequestTypeRuleFactory

LINK = re.compile(r"https?://[^\s\"<>]+(/privacy/requests/(?:confirm|status)/[A-Za-z0-9_-]+/)")


def _wait_for_link(mail_dir: Path, kind: str, *, seen: set[str], seconds: float = 60) -> str:
    """Return the path of the first ``kind`` link in a mail file the worker wrote."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for mail_file in sorted(mail_dir.glob("*.log")):
            for path in LINK.findall(mail_file.read_text(encoding="utf-8")):
                if f"/requests/{kind}/" in path and path not in seen:
                    seen.add(path)
                    return path
        time.sleep(0.2)
    raise AssertionError(f"the worker wrote no {kind} link to {mail_dir} in {seconds}s")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_subject_files_confirms_and_follows_a_request_through_the_real_worker(
    celery_worker: subprocess.Popen,
    celery_worker_mail_dir: Path,
    settings: Any,
) -> None:
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    organization: Organization = OrganizationFactory.create(
        slug="zpos", name="ZPos System", time_zone="Asia/Tashkent"
    )
    version: PolicyVersion = PolicyVersionFactory.create(
        policy__organization=organization, version_label="2025-01"
    )
    RequestTypeRuleFactory(
        version=version,
        request_type=RequestType.ACCESS,
        response_period=30,
        clock_starts=ClockStart.VERIFICATION,
    )
    policy_version_publish(version=version, at=timezone.now() - timedelta(days=30))
    client = Client()
    # The worker's mail folder is shared by the session: links other tests received are not ours.
    seen: set[str] = {
        path
        for mail_file in celery_worker_mail_dir.glob("*.log")
        for path in LINK.findall(mail_file.read_text(encoding="utf-8"))
    }

    response = client.post(
        reverse("requests_app:request_new", args=["zpos"]),
        {
            "request_type": "access",
            "email": "owner@shop.example",
            "name": "Bobur Aliyev",
            "account_identifier": "shop-7",
        },
    )
    assert response.status_code == 302
    request = SubjectRequest.objects.get()
    assert request.status == RequestStatus.AWAITING_VERIFICATION

    confirm_path = _wait_for_link(celery_worker_mail_dir, "confirm", seen=seen)
    assert client.get(confirm_path).status_code == 200
    confirmed = client.post(confirm_path, follow=True)

    request.refresh_from_db()
    assert request.status == RequestStatus.VERIFIED
    assert request.due_at is not None
    due_text = date_format(request.due_at.astimezone(organization.tz), "DATE_FORMAT")
    page = confirmed.content.decode()
    assert "Confirmed" in page
    assert due_text in page
    assert "2025-01" in page

    # The acknowledgement the worker sends carries a status link of its own that works too.
    status_path = _wait_for_link(celery_worker_mail_dir, "status", seen=seen)
    status_page = client.get(status_path)
    assert status_page.status_code == 200
    assert request.reference in status_page.content.decode()
    assert client.post(confirm_path).status_code == 404

    call_command("verify_audit_chain", request.reference)

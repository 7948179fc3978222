"""An outside owner answers a manual system's task through the link they were emailed: on a
phone, without JavaScript, in a right-to-left language; the task is settled and the request's
export may then be built."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from policies.models import Organization, RequestType
from systems.models import System, SystemTask, TaskStatus
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ENGLISH_DETAILS,
    ContextFactory,
    Subject,
    file_and_confirm,
    plain_body,
    wait_for_message,
)
from tests.e2e.test_small_screen import _overflow

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OWNER = "support-owner@clopos.example"
OWNER_PATH = re.compile(r"https?://[^/\s]+(/systems/tasks/\d+/[A-Za-z0-9_-]+/)")


def test_an_outside_owner_answers_a_manual_task_through_their_link(
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
    tmp_path: Path,
) -> None:
    organization = Organization.objects.get(slug="clopos")
    System.objects.create(
        organization=organization,
        name="Support mailbox",
        slug="clopos-support-e2e",
        kind="manual",
        owner_email=OWNER,
        owner_language="ur",
    )
    subject_page = new_context().new_page()
    filed = file_and_confirm(
        subject_page,
        artifacts,
        mail_dir=celery_worker_mail_dir,
        organization=organization,
        request_type=RequestType.ACCESS,
        subject=Subject.new("Aziza Yusupova"),
        details=ENGLISH_DETAILS[RequestType.ACCESS],
    )
    task = SystemTask.objects.get(request=filed)

    # The worker emails the owner a link; they open it on a phone with JavaScript off.
    message = wait_for_message(celery_worker_mail_dir, OWNER, filed.reference)
    found = OWNER_PATH.search(plain_body(message))
    assert found is not None
    # Looking does not spend the link: first check the layout fits the phone's width.
    measured = new_context(viewport={"width": 360, "height": 740}, locale="ur").new_page()
    measured.goto(found.group(1))
    assert _overflow(measured) is None
    phone = new_context(
        viewport={"width": 360, "height": 740}, java_script_enabled=False, locale="ur"
    ).new_page()
    phone.goto(found.group(1))
    expect(phone.locator("html")).to_have_attribute("dir", "rtl")
    expect(phone.locator("#task-subject")).to_contain_text(filed.email)
    artifacts.shot(phone, "owner page")

    upload = tmp_path / "tickets.csv"
    upload.write_text("ticket,subject\n41,<script>alert(1)</script>\n", encoding="utf-8")
    phone.locator("input[type=file]").set_input_files(str(upload))
    phone.locator("#answer-upload").click()
    expect(phone.locator("h1")).to_be_visible()
    assert "/systems/tasks/answered/" in phone.url
    artifacts.shot(phone, "answer recorded")

    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.data_rows == 1
    assert task.answered_by == OWNER

    # The link is spent: opening it again shows no form, and the answer stays as given.
    answered = phone.goto(found.group(1))
    assert answered is not None
    assert answered.status == 404
    expect(phone.locator("input[type=file]")).to_have_count(0)
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.data_rows == 1

"""A support agent works a subject's request to completion in the admin; the subject sees it."""

from __future__ import annotations

import io
import secrets
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils.html import strip_tags
from playwright.sync_api import Page, expect

from policies.models import Organization, RequestType
from requests_app import roles
from requests_app.admin import deadline_badge
from requests_app.admin_actions import ACTIONS
from requests_app.models import EventKind, RequestStatus
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ContextFactory,
    Subject,
    admin_log_in,
    expected_text,
    file_and_confirm,
    label_pattern,
    wait_for_message,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OUTCOME = "We corrected your shop's address to 12 Navoi Street, Tashkent."


def _act(page: Page, name: str, reference: str, answers: dict[str, str] | None = None) -> None:
    """Take the staff action ``name`` from the request's admin page, answering its form if it
    asks, and wait for the page to say it is done. Labels come from the admin's own table."""
    action = ACTIONS[name]
    actions = page.locator("section.dsr-actions")
    if action.form is None:
        actions.get_by_role("button", name=str(action.label), exact=True).click()
    else:
        actions.get_by_role("link", name=str(action.label), exact=True).click()
        for field, value in (answers or {}).items():
            label = str(action.form.base_fields[field].label)
            page.get_by_label(label_pattern(label)).fill(value)
        page.get_by_role("button", name=str(action.submit), exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text(
        str(action.done) % {"reference": reference}
    )


def test_an_agent_logs_into_the_admin_and_works_a_confirmed_request_to_completion(
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
) -> None:
    subject_page = new_context().new_page()
    subject = Subject.new("Leyla Mammadova")
    filed = file_and_confirm(
        subject_page,
        artifacts,
        mail_dir=celery_worker_mail_dir,
        organization=Organization.objects.get(slug="clopos"),
        request_type=RequestType.CORRECTION,
        subject=subject,
        details={
            "correction_field": "My shop's address",
            "correction_value": "12 Navoi Street, Tashkent",
        },
    )
    status_page_url = subject_page.url

    # The roles come from a data migration, which the flush between browser tests empties.
    roles.roles_sync()
    password = secrets.token_urlsafe(16)
    agent = User.objects.create_user(
        "agent", email="agent@clopos.example", password=password, is_staff=True
    )
    agent.groups.add(Group.objects.get(name=roles.AGENTS))

    page = new_context().new_page()
    admin_log_in(page, "agent", password)
    artifacts.shot(page, "admin home")

    page.locator("tr.model-subjectrequest").get_by_role("link", name="Subject requests").click()
    row = page.locator("#result_list tbody tr", has_text=filed.reference)
    expect(row).to_contain_text(subject.email)
    # Where it stands against its deadline, in words ("due in 30 days").
    expect(row).to_contain_text(strip_tags(deadline_badge(filed)))
    artifacts.shot(page, "queue")
    row.get_by_role("link", name=filed.reference).click()
    expect(page.locator("#content")).to_contain_text(filed.reference)
    artifacts.shot(page, "request")

    _act(page, "assign_self", filed.reference)
    _act(page, "start", filed.reference)
    artifacts.shot(page, "work started")
    _act(page, "complete", filed.reference, {"outcome": OUTCOME})
    artifacts.shot(page, "completed")
    # A closed request offers no more work.
    expect(page.locator("section.dsr-actions").get_by_role("button")).to_have_count(0)

    filed.refresh_from_db()
    assert (filed.status, filed.assignee, filed.outcome) == (
        RequestStatus.COMPLETED,
        agent,
        OUTCOME,
    )
    staff_kinds = list(
        filed.events.filter(actor_label__contains="agent").values_list("kind", flat=True)
    )
    assert EventKind.STARTED in staff_kinds
    assert EventKind.COMPLETED in staff_kinds
    call_command("verify_audit_chain", filed.reference, stdout=io.StringIO())

    # The subject hears of it by mail and sees it on their status page.
    wait_for_message(celery_worker_mail_dir, subject.email, OUTCOME)
    subject_page.goto(status_page_url)
    expect(subject_page.locator("#request-status")).to_have_text(
        expected_text("en", RequestStatus.COMPLETED.label)
    )
    expect(subject_page.locator("main")).to_contain_text(OUTCOME)
    artifacts.shot(subject_page, "subject sees the outcome")

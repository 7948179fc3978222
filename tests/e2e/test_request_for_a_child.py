"""A parent files a deletion for their 12-year-old in BESHQOZON's demo data, confirms it from the
email, the officer verifies the relationship, confirms the child's request and approves the
erasure: the child's rows, and only the child's, are erased."""

from __future__ import annotations

import secrets
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from erasure.models import ErasureSchedule
from erasure.services import erasures_start_due
from policies.models import Organization, RequestType
from pos.models import AccountUser, Login, Sale, StaffActivity, SupportMessage
from requests_app import roles
from requests_app.models import RelationshipStatus, RequestStatus, SubjectRequest
from retention.purge import run_execute
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ContextFactory,
    Subject,
    admin_log_in,
    confirm_from_mail,
    expected_text,
    form_labels,
    label_pattern,
    open_request_form,
    submit_request_form,
)
from tests.pos_data import surviving

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_parent_files_for_their_child_and_only_the_childs_rows_are_erased(
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
) -> None:
    call_command(
        "generate_demo_data",
        "--organization",
        "beshqozon",
        "--accounts",
        "5",
        "--per-account-sales",
        "4",
        verbosity=0,
    )
    beshqozon = Organization.objects.get(slug="beshqozon")
    child = AccountUser.objects.get(account__organization=beshqozon, first_name="Otabek")
    parent = AccountUser.objects.get(account=child.account, role="owner")
    own = {
        "pos.accountuser": {child.pk},
        "pos.login": set(Login.objects.filter(user=child).values_list("pk", flat=True)),
        "pos.staffactivity": set(
            StaffActivity.objects.filter(user=child).values_list("pk", flat=True)
        ),
        "pos.supportmessage": set(
            SupportMessage.objects.filter(user=child).values_list("pk", flat=True)
        ),
    }
    before = surviving()

    # The parent files from the public form, about their child, with their own address.
    page = new_context().new_page()
    filer = Subject(
        name=f"{parent.first_name} {parent.last_name}", language="en", email=parent.email
    )
    open_request_form(
        page, artifacts, organization=beshqozon, request_type=RequestType.DELETION, language="en"
    )
    labels = form_labels("en", RequestType.DELETION)
    page.get_by_label(label_pattern(labels["email"])).fill(filer.email)
    page.get_by_label(label_pattern(labels["name"])).fill(filer.name)
    page.get_by_label(expected_text("en", "My child (I am their parent or guardian)")).check()
    page.get_by_label(label_pattern(labels["on_behalf_subject_name"])).fill(
        f"{child.first_name} {child.last_name}"
    )
    page.get_by_label(label_pattern(labels["subject_email"])).fill(child.email)
    assert child.date_of_birth is not None
    page.get_by_label(label_pattern(labels["subject_date_of_birth"])).fill(
        child.date_of_birth.isoformat()
    )
    page.get_by_label(label_pattern(labels["confirm_deletion"])).check()
    artifacts.shot(page, "form filled for a child")
    submit_request_form(page, "en")
    filed = SubjectRequest.objects.get(email=parent.email)
    assert filed.on_behalf_relationship == "parent"

    # The confirmation link goes to the parent, who controls that address.
    confirm_from_mail(
        page, artifacts, mail_dir=celery_worker_mail_dir, subject=filer, reference=filed.reference
    )
    filed.refresh_from_db()
    assert filed.status == RequestStatus.VERIFIED

    # The officer sees the warning, verifies the relationship, confirms the child's request.
    roles.roles_sync()
    password = secrets.token_urlsafe(16)
    officer = User.objects.create_user(
        "officer", email="officer@beshqozon.example", password=password, is_staff=True
    )
    officer.groups.add(Group.objects.get(name=roles.OFFICERS))
    admin = new_context().new_page()
    admin_log_in(admin, "officer", password)
    admin.goto(reverse("admin:requests_app_subjectrequest_change", args=[filed.pk]))
    expect(admin.locator(".dsr-notice").first).to_contain_text(child.email)
    artifacts.shot(admin, "warning on the request")
    actions = admin.locator("section.dsr-actions")
    actions.get_by_role("link", name=expected_text("en", "Verify the relationship…")).click()
    admin.get_by_label(expected_text("en", "Verified: the filer may act for this person")).check()
    admin.get_by_label(expected_text("en", "Reason (what you checked)")).fill(
        "Birth certificate seen: the filer is Otabek's parent."
    )
    admin.get_by_role("button", name=expected_text("en", "Record the decision")).click()
    expect(admin.locator(".messagelist")).to_contain_text(filed.reference)
    filed.representation.refresh_from_db()
    assert filed.representation.status == RelationshipStatus.VERIFIED

    actions.get_by_role("link", name=expected_text("en", "Confirm the child's request…")).click()
    admin.get_by_label(
        expected_text("en", "What you checked (and whether a parent or guardian consented)")
    ).fill("Born 2014; the parent asks for deletion, no consent to keep.")
    admin.get_by_role("button", name=expected_text("en", "Confirm")).click()
    expect(admin.locator(".messagelist")).to_contain_text(
        expected_text("en", "The child's request was confirmed.")
    )

    actions.get_by_role("link", name=expected_text("en", "Approve erasure…")).click()
    artifacts.shot(admin, "erasure plan")
    # The plan is of the child's data, and says who filed it.
    expect(admin.locator("#content")).to_contain_text(child.email)
    expect(admin.locator("#content [role=alert]")).to_contain_text(parent.email)
    admin.get_by_role("button", name=expected_text("en", "Approve the erasure")).click()
    expect(admin.locator(".messagelist")).to_contain_text(filed.reference)

    # After the grace period the erasure runs: the child's rows go, nobody else's.
    schedule = ErasureSchedule.objects.get(request=filed)
    (run,) = erasures_start_due(at=schedule.execute_after + timedelta(minutes=1), dispatch=False)
    run_execute(run)

    after = surviving()
    for label, ids in before.items():
        assert ids - after[label] == own.get(label, set()), label
    assert AccountUser.objects.filter(pk=parent.pk).exists()
    assert Sale.objects.filter(account=child.account).count() == 4
    filed.refresh_from_db()
    assert filed.status == RequestStatus.COMPLETED

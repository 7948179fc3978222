"""The request form works in a browser with JavaScript switched off.

Invalid input comes back with each message next to its field and tied to it for screen readers,
and nothing is stored until the input is valid.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from policies.models import Organization, RequestType
from requests_app.forms import SubjectRequestForm
from requests_app.models import RequestEvent, RequestStatus, SubjectRequest
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ContextFactory,
    Subject,
    confirm_from_mail,
    expect_confirmed_status_page,
    expected_text,
    fill_request_form,
    open_request_form,
    submit_request_form,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _expected_errors(data: dict[str, str], request_type: str) -> dict[str, list[str]]:
    """Return the messages the server's own form gives for ``data``, by field."""
    form = SubjectRequestForm({"request_type": request_type, **data}, request_type=request_type)
    assert not form.is_valid()
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


def _submit(page: Page) -> int:
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=expected_text("en", "Send my request")).click()
    response = navigation.value
    assert response is not None
    return response.status


def _expect_errors_next_to_fields(page: Page, errors: dict[str, list[str]]) -> None:
    """Each message sits in its field's group and the field points at it (aria-describedby)."""
    shown = page.locator("[aria-invalid=true]")
    shown_names = {shown.nth(index).get_attribute("name") for index in range(shown.count())}
    assert shown_names == set(errors)
    for name, messages in errors.items():
        field = page.locator(f"[name={name}]")
        group = page.locator(".field", has=field)
        error_list = group.locator(".errorlist")
        expect(error_list).to_have_text("".join(messages))
        error_id = error_list.get_attribute("id")
        assert error_id, f"the errors of {name} have no id a field could point to"
        described_by = (field.get_attribute("aria-describedby") or "").split()
        assert error_id in described_by, f"{name} is not described by its errors"


def test_invalid_input_is_shown_next_to_each_field_without_javascript_and_nothing_is_stored(
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    organization = Organization.objects.get(slug="zpos")
    open_request_form(
        page,
        artifacts,
        organization=organization,
        request_type=RequestType.DELETION,
        language="en",
    )

    assert _submit(page) == 400
    artifacts.shot(page, "empty form sent")
    _expect_errors_next_to_fields(page, _expected_errors({}, RequestType.DELETION))

    invalid = {
        # The first letter is a Cyrillic a (U+0430): the mail would go to someone else.
        "email": "\u0430lice@example.com",
        "name": "<script>alert(1)</script>",
        "phone": "call me after six",
    }
    for name, value in invalid.items():
        page.locator(f"[name={name}]").fill(value)
    child = expected_text("en", "My child (I am their parent or guardian)")
    page.get_by_label(child).check()
    page.locator("[name=subject_date_of_birth]").fill("27/06/2014")
    assert _submit(page) == 400
    artifacts.shot(page, "invalid form sent")
    _expect_errors_next_to_fields(
        page,
        _expected_errors(
            {**invalid, "about": "child", "subject_date_of_birth": "27/06/2014"},
            RequestType.DELETION,
        ),
    )
    # What the subject typed is kept, so they only fix what is wrong.
    expect(page.locator("[name=email]")).to_have_value("\u0430lice@example.com")
    expect(page.locator("[name=phone]")).to_have_value("call me after six")

    assert not SubjectRequest.objects.exists()
    assert not RequestEvent.objects.exists()

    # Once the input is valid the request is filed, and it is confirmed without JavaScript too.
    subject = Subject.new("Bobur Aliyev")
    page.get_by_role("radio", name=expected_text("en", "Me"), exact=True).check()
    page.locator("[name=phone]").fill("")
    fill_request_form(
        page,
        subject=subject,
        request_type=RequestType.DELETION,
        details={"confirm_deletion": True},
    )
    submit_request_form(page, "en")
    filed = SubjectRequest.objects.get()
    assert (filed.email, filed.name) == (subject.email, "Bobur Aliyev")
    confirm_from_mail(
        page,
        artifacts,
        mail_dir=celery_worker_mail_dir,
        subject=subject,
        reference=filed.reference,
    )
    filed.refresh_from_db()
    assert filed.status == RequestStatus.VERIFIED
    expect_confirmed_status_page(page, filed, "en")

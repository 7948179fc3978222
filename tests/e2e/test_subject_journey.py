"""A subject files a request in the browser, confirms it from the mail the worker sent, follows it.

Everything runs for real: the live server, the Celery worker process writing mail to files, the
seed policies loaded as `make run` loads them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from policies.models import Organization, RequestType
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ENGLISH_DETAILS,
    ContextFactory,
    Subject,
    expect_document_language,
    expected_text,
    file_and_confirm,
    html_body,
    page_in_language,
    plain_body,
    seed_offers,
    subject_line,
    wait_for_mail,
)

SEED_OFFERS = seed_offers()


def test_the_seeds_offer_every_request_type_the_browser_tests_file() -> None:
    assert set(SEED_OFFERS) == set(RequestType.values)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("request_type", "org_slug"), list(SEED_OFFERS.items()), ids=list(SEED_OFFERS)
)
def test_a_subject_files_the_request_type_and_follows_it_to_the_confirmed_status_page(
    request_type: str,
    org_slug: str,
    page: Page,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
) -> None:
    subject = Subject.new("Dilnoza Karimova")

    filed = file_and_confirm(
        page,
        artifacts,
        mail_dir=celery_worker_mail_dir,
        organization=Organization.objects.get(slug=org_slug),
        request_type=request_type,
        subject=subject,
        details=ENGLISH_DETAILS[request_type],
    )

    if request_type == RequestType.CORRECTION:
        assert filed.details["corrections"] == [
            {"field": "My shop's address", "value": "12 Navoi Street, Tashkent"}
        ]
    if request_type == RequestType.COMPLAINT:
        assert filed.details["complaint"] == ENGLISH_DETAILS[request_type]["complaint_text"]


# Urdu at PumpPOS, which serves its subjects in Urdu; Russian at ZPos, whose Uzbek customers often
# read Russian though no seed lists it. Each types its answers in its own script.
LANGUAGE_JOURNEYS: dict[str, tuple[str, str, str, dict[str, str | bool]]] = {
    "ur": (
        "pumppos",
        RequestType.CORRECTION,
        "عائشہ خان",
        {"correction_field": "میرا فون نمبر", "correction_value": "+92 300 1234567"},
    ),
    "ru": (
        "zpos",
        RequestType.DELETION,
        "Анна Иванова",
        {"account_identifier": "магазин-17", "confirm_deletion": True},
    ),
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", list(LANGUAGE_JOURNEYS))
def test_a_subject_files_and_follows_a_request_in_their_own_language(
    language: str,
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
) -> None:
    org_slug, request_type, name, details = LANGUAGE_JOURNEYS[language]
    page, how = page_in_language(new_context, language)
    expect_document_language(page, language)
    artifacts.shot(page, f"{language} chosen by {how}")
    subject = Subject.new(name, language)

    filed = file_and_confirm(
        page,
        artifacts,
        mail_dir=celery_worker_mail_dir,
        organization=Organization.objects.get(slug=org_slug),
        request_type=request_type,
        subject=subject,
        details=details,
    )

    expect_document_language(page, language)
    assert filed.name == name
    if request_type == RequestType.CORRECTION:
        assert filed.details["corrections"] == [
            {"field": details["correction_field"], "value": details["correction_value"]}
        ]
    # The acknowledgement is in the subject's language too, and its status link opens the page.
    acknowledgement, status_path = wait_for_mail(celery_worker_mail_dir, subject.email, "status")
    assert subject_line(acknowledgement) == expected_text(
        language, "Your privacy request %(reference)s is confirmed", reference=filed.reference
    )
    assert filed.reference in plain_body(acknowledgement)
    assert status_path in html_body(acknowledgement)
    page.goto(status_path)
    expect(page.locator("h1")).to_contain_text(filed.reference)
    expect_document_language(page, language)

"""On a 360 px phone the public pages fit the screen: nothing scrolls sideways."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from policies.models import Organization, RequestType
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ContextFactory,
    Subject,
    confirm_from_mail,
    expected_text,
    file_request,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
WIDTH = 360

# The innermost elements wider than the screen: the ones that push the page sideways.
_TOO_WIDE = """(width) => [...document.querySelectorAll("body *")]
  .filter((element) => element.getBoundingClientRect().width > width + 0.5)
  .slice(-3)
  .map((element) => element.outerHTML.slice(0, 160))"""


def _overflow(page: Page) -> str | None:
    """Say what makes ``page`` wider than the phone, or return None when it fits."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width <= WIDTH:
        return None
    return f"{page.url} is {scroll_width}px wide: {page.evaluate(_TOO_WIDE, WIDTH)}"


@pytest.mark.parametrize("language", ["en", "ur"])
def test_the_public_pages_and_the_request_form_fit_a_360_px_phone_without_sideways_scroll(
    language: str,
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
    celery_worker_mail_dir: Path,
) -> None:
    page = new_context(locale=language, **PHONE).new_page()
    too_wide: list[str] = []

    def check(name: str) -> None:
        artifacts.shot(page, name)
        problem = _overflow(page)
        if problem:
            too_wide.append(f"{name}: {problem}")

    page.goto(reverse("policies:organization_list"))
    assert page.evaluate("innerWidth") == WIDTH, "the page is not laid out for the phone's width"
    check("organisations")
    for slug in Organization.objects.order_by("slug").values_list("slug", flat=True):
        page.goto(reverse("policies:organization_detail", args=[slug]))
        check(f"organisation {slug}")
    page.goto(reverse("requests_app:request_new", args=["zpos"]))
    check("choose a request")

    # The longest form (deletion) empty, with every error shown, then filed and confirmed.
    page.goto(reverse("requests_app:request_new", args=["zpos"]) + "?type=deletion")
    check("form")
    page.get_by_role("button", name=expected_text(language, "Send my request")).click()
    expect(page.locator(".errorlist").first).to_be_visible()
    check("form with errors")
    subject = Subject.new("Dilnoza Karimova" if language == "en" else "عائشہ خان", language)
    filed = file_request(
        page,
        artifacts,
        organization=Organization.objects.get(slug="zpos"),
        request_type=RequestType.DELETION,
        subject=subject,
        details={"account_identifier": "shop-1742", "confirm_deletion": True},
    )
    check("request sent")
    confirm_from_mail(
        page,
        artifacts,
        mail_dir=celery_worker_mail_dir,
        subject=subject,
        reference=filed.reference,
    )
    check("status")

    assert not too_wide, "pages wider than a 360 px phone:\n" + "\n".join(too_wide)

"""The public pages pass axe-core's checks and the request form can be used with the keyboard."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import Page, expect

from policies.models import Organization, PolicyVersion, RequestType
from requests_app.models import RequestStatus, SubjectRequest
from tests.e2e.artifacts import Artifacts
from tests.e2e.journey import (
    ContextFactory,
    Subject,
    confirm_link_path,
    expected_text,
    request_filed,
    status_link_path_after_confirming,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAILING_IMPACTS = frozenset({"serious", "critical"})


# Forms with different fields: the plain one, correction's two, deletion's confirmation box,
# the complaint's text and the required description of objections (restriction, portability and
# marketing opt-out have the plain or the objection fields).
FORMS: dict[str, str] = {
    RequestType.ACCESS: "zpos",
    RequestType.CORRECTION: "pumppos",
    RequestType.DELETION: "zpos",
    RequestType.COMPLAINT: "smartpos",
    RequestType.OBJECTION: "clopos",
}
# Urdu, right to left, on the pages with the most layout.
URDU_PAGES = frozenset(
    {"organisations", "organisation pumppos", "form correction", "form with errors", "status"}
)


def _public_pages(language: str) -> list[tuple[str, str | Callable[[Page], None]]]:
    """Return (name, path or a way to reach it) for every kind of public page."""
    clopos = Organization.objects.get(slug="clopos")
    version = PolicyVersion.objects.filter(policy__organization=clopos).latest("published_at")
    awaiting = request_filed(
        organization=clopos,
        request_type=RequestType.ACCESS,
        subject=Subject.new("Leyla Mammadova", language),
    )
    confirmed = request_filed(
        organization=clopos,
        request_type=RequestType.OBJECTION,
        subject=Subject.new("Rashad Aliyev", language),
    )

    def form(request_type: str) -> str:
        path = reverse("requests_app:request_new", args=[FORMS[request_type]])
        return f"{path}?type={request_type}"

    def form_sent_empty(page: Page) -> None:
        page.goto(form(RequestType.DELETION))
        page.get_by_role("button", name=expected_text(language, "Send my request")).click()
        expect(page.locator(".errorlist").first).to_be_visible()

    pages: list[tuple[str, str | Callable[[Page], None]]] = [
        ("organisations", reverse("policies:organization_list")),
        *(
            (f"organisation {slug}", reverse("policies:organization_detail", args=[slug]))
            for slug in Organization.objects.order_by("slug").values_list("slug", flat=True)
        ),
        ("policy version", reverse("policies:version_detail", args=["clopos", version.pk])),
        ("choose a request", reverse("requests_app:request_new", args=["clopos"])),
        *((f"form {request_type}", form(request_type)) for request_type in FORMS),
        ("form with errors", form_sent_empty),
        ("request sent", reverse("requests_app:request_sent", args=["clopos"])),
        ("new link", reverse("requests_app:request_new_link", args=["clopos"])),
        ("confirm", confirm_link_path(awaiting)),
        ("status", status_link_path_after_confirming(confirmed)),
        ("link not valid", reverse("requests_app:request_status", args=["not-a-token"])),
    ]
    if language == "ur":
        return [(name, reach) for name, reach in pages if name in URDU_PAGES]
    return pages


def _serious(results: dict[str, Any]) -> list[str]:
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} -> "
        + "; ".join(
            f"{', '.join(map(str, node['target']))}: {node['html'][:160]}"
            for node in violation["nodes"]
        )
        for violation in results["violations"]
        if violation["impact"] in FAILING_IMPACTS
    ]


@pytest.mark.parametrize("language", ["en", "ur"])
def test_axe_finds_no_serious_or_critical_violation_on_the_public_pages(
    language: str,
    new_context: ContextFactory,
    artifacts: Artifacts,
    seeds: None,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    page = new_context(locale=language).new_page()
    axe = Axe()
    found: dict[str, list[str]] = {}

    for name, reach in _public_pages(language):
        if callable(reach):
            reach(page)
        else:
            page.goto(reach)
        expect(page.locator("html")).to_have_attribute("lang", language)
        artifacts.shot(page, name)
        violations = _serious(axe.run(page).response)
        if violations:
            found[f"{name} ({page.url})"] = violations

    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(
        f"{name}:\n  " + "\n  ".join(violations) for name, violations in found.items()
    )


# --- keyboard -----------------------------------------------------------------------------------

_FOCUSED = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  return {
    tag: element.tagName.toLowerCase(),
    type: element.getAttribute("type") || "",
    name: element.getAttribute("name") || "",
    text: (element.innerText || element.value || "").trim().slice(0, 60),
    focusVisible: element.matches(":focus-visible"),
    outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
    outlineShown: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    onScreen: (() => {
      const box = element.getBoundingClientRect();
      return box.width > 0 && box.height > 0 && box.right > 0 && box.left < innerWidth;
    })(),
  };
}"""


def _tab(page: Page) -> dict[str, Any]:
    """Press Tab; return what has the focus now, after checking that the focus shows."""
    page.keyboard.press("Tab")
    focused: dict[str, Any] = page.evaluate(_FOCUSED)
    assert focused["focusVisible"], f"the browser shows no focus ring on {focused}"
    assert focused["outlineShown"], f"the focus outline is missing on {focused}"
    assert focused["onScreen"], f"the focused element is off screen: {focused}"
    return focused


def test_a_subject_fills_and_sends_the_form_with_the_keyboard_alone_and_always_sees_the_focus(
    page: Page, artifacts: Artifacts, seeds: None, celery_worker: subprocess.Popen[bytes]
) -> None:
    subject = Subject.new("Bobur Aliyev")
    answers = {
        "email": subject.email,
        "name": subject.name,
        "account_identifier": "shop-9",
        "description": "All my sales records.",
    }
    right = expected_text("en", RequestType.DELETION.label)
    send = expected_text("en", "Send my request")
    page.goto("/privacy/zpos/")
    # The right's button on the policy page is reached and pressed from the keyboard too.
    for _step in range(30):
        if _tab(page)["text"] == right:
            break
    else:
        pytest.fail(f"Tab never reached the {right!r} button on the policy page")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(right)

    visited: list[dict[str, Any]] = []
    for _step in range(40):
        focused = _tab(page)
        visited.append(focused)
        if focused["name"] in answers:
            page.keyboard.type(answers[focused["name"]])
        elif focused["name"] == "confirm_deletion":
            page.keyboard.press("Space")
        elif focused["tag"] == "button" and focused["text"] == send:
            artifacts.shot(page, "form filled with the keyboard")
            page.keyboard.press("Enter")
            break
    else:
        pytest.fail(f"Tab never reached the send button: {[item['name'] for item in visited]}")

    expect(page.locator("h1")).to_have_text(expected_text("en", "Check your email"))
    # Tab starts at the skip link and never stops on the honeypot hidden from people.
    assert visited[0]["text"] == expected_text("en", "Skip to content")
    assert "website" not in {item["name"] for item in visited}
    assert set(answers) | {"confirm_deletion"} <= {item["name"] for item in visited}
    filed = SubjectRequest.objects.get(email=subject.email)
    assert filed.status == RequestStatus.AWAITING_VERIFICATION
    assert filed.details == {"deletion_confirmed": True}
    assert (filed.account_identifier, filed.description) == ("shop-9", "All my sales records.")


def _luminance(css_colour: str) -> float:
    """Relative luminance (WCAG 2) of an ``rgb(r, g, b)`` colour."""
    channels = [int(value) / 255 for value in re.findall(r"\d+", css_colour)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_focus_outline_contrasts_at_least_3_to_1_with_the_page(page: Page, seeds: None) -> None:
    page.goto(reverse("requests_app:request_new", args=["zpos"]) + "?type=access")
    page.locator("[name=email]").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline, background = page.evaluate(
        """() => [getComputedStyle(document.activeElement).outlineColor,
                  getComputedStyle(document.body).backgroundColor]"""
    )
    assert page.evaluate("document.activeElement.name") == "email"
    assert _contrast(outline, background) >= 3, f"{outline} on {background}"

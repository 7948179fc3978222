"""The subject's path through the public pages, as steps the browser tests share.

The subject's steps never spell expected texts out in English: they take them from the
catalogues and forms the server uses (``expected_text``, ``form_labels``), so the same checks
hold in every language, translated or not yet.
"""

from __future__ import annotations

import io
import re
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.functional import Promise
from playwright.sync_api import BrowserContext, Page, expect

from policies.models import Organization, RequestType
from requests_app.forms import SubjectRequestForm
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import RequestStatus, SubjectRequest, TokenPurpose
from requests_app.selectors import intake_offer
from requests_app.verification import request_verify, token_issue
from tests.e2e.artifacts import Artifacts

# Django's file backend ends every message with a line of 79 dashes.
MESSAGE_END = b"\n" + b"-" * 79 + b"\n"
LINK = re.compile(r"https?://[^\s\"<>]+(/privacy/requests/(?:confirm|status)/[A-Za-z0-9_-]+/)")
MAIL_WAIT_SECONDS = 30

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

# The ``new_context`` fixture: opens a browser context on the live server (Playwright's options).
ContextFactory = Callable[..., BrowserContext]


def expected_text(language: str, message: str | Promise, **values: Any) -> str:
    """Return ``message`` (a msgid or a lazy string) as the server renders it in ``language``."""
    with translation.override(language):
        text = translation.gettext(message) if isinstance(message, str) else str(message)
    return text % values if values else text


def form_labels(language: str, request_type: str) -> dict[str, str]:
    """Return the label of every field of the request form for ``request_type`` in ``language``."""
    with translation.override(language):
        form = SubjectRequestForm(request_type=request_type)
        return {name: str(form_field.label) for name, form_field in form.fields.items()}


def label_pattern(label: str) -> re.Pattern[str]:
    # Django appends the (translated) label suffix, usually ":", to the label text.
    return re.compile("^" + re.escape(label))


def seed_offers() -> dict[str, str]:
    """Return each request type a seed offers, with the first seed (by file name) offering it."""
    offers: dict[str, str] = {}
    for rules_file in sorted(SEEDS.glob("*.toml")):
        rules = tomllib.loads(rules_file.read_text(encoding="utf-8"))
        for request_type in rules["request_types"]:
            offers.setdefault(request_type["type"], rules["organization"]["slug"])
    return {value: offers[value] for value in RequestType.values if value in offers}


@dataclass(frozen=True)
class Subject:
    """A person filing a request, with an address of their own so their mail is found."""

    name: str
    language: str
    email: str

    @classmethod
    def new(cls, name: str, language: str = "en") -> Subject:
        return cls(name=name, language=language, email=f"{uuid.uuid4().hex[:12]}@subject.example")


# What a subject types for each request type, beyond their email address and name.
ENGLISH_DETAILS: dict[str, dict[str, str | bool]] = {
    RequestType.ACCESS: {"account_identifier": "shop-1742", "phone": "+998 90 123 45 67"},
    RequestType.CORRECTION: {
        "correction_field": "My shop's address",
        "correction_value": "12 Navoi Street, Tashkent",
    },
    RequestType.DELETION: {"account_identifier": "shop-1742", "confirm_deletion": True},
    RequestType.PORTABILITY: {"description": "My sales and invoices, as CSV files."},
    RequestType.OBJECTION: {"description": "Stop using my sales history for analytics."},
    RequestType.RESTRICTION: {"description": "Do not process my invoices until I am contacted."},
    RequestType.MARKETING_OPT_OUT: {"description": "No more newsletters, please."},
    RequestType.COMPLAINT: {
        "complaint_text": "I asked twice for my invoices and have had no answer."
    },
}


# --- mail the worker wrote ----------------------------------------------------------------------


def messages_to(mail_dir: Path, address: str) -> list[EmailMessage]:
    """Return every complete message to ``address`` in the file backend's output, oldest first."""
    found: list[EmailMessage] = []
    for mail_file in sorted(mail_dir.glob("*.log"), key=lambda path: path.stat().st_mtime_ns):
        # The part after the last end marker is a message still being written: not read yet.
        *complete, _unfinished = mail_file.read_bytes().split(MESSAGE_END)
        for raw in complete:
            message = BytesParser(policy=policy.default).parsebytes(raw.lstrip(b"\n"))
            assert isinstance(message, EmailMessage)
            if address in str(message.get("To", "")):
                found.append(message)
    return found


def subject_line(message: EmailMessage) -> str:
    """Return the Subject as a mail client shows it (a long encoded one is folded onto the
    next header line, which the parser keeps as leading white space)."""
    return " ".join(str(message["Subject"]).split())


def plain_body(message: EmailMessage) -> str:
    """Return the text part of ``message``, decoded (quoted-printable, base64, charset);
    empty when it has none."""
    part = message.get_body(preferencelist=("plain",))
    content = part.get_content() if part is not None else ""
    assert isinstance(content, str)
    return content


def html_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, f"no HTML part in {message['Subject']!r}"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def wait_for_message(
    mail_dir: Path,
    address: str,
    saying: str,
    *,
    seconds: float = MAIL_WAIT_SECONDS,
) -> EmailMessage:
    """Wait for the worker's mail to ``address`` whose text contains ``saying``; return it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in messages_to(mail_dir, address):
            if saying in plain_body(message):
                return message
        time.sleep(0.1)
    raise AssertionError(
        f"the worker wrote no mail to {address} saying {saying!r} in {mail_dir} within "
        f"{seconds:.0f}s: see var/test-worker.log"
    )


def wait_for_mail(
    mail_dir: Path, address: str, kind: str, *, seconds: float = MAIL_WAIT_SECONDS
) -> tuple[EmailMessage, str]:
    """Wait for the worker's mail to ``address`` with a ``kind`` ("confirm"/"status") link.

    Return the message and the link's path (the worker builds links on SITE_URL, not on the
    live server's address).
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in messages_to(mail_dir, address):
            for path in LINK.findall(plain_body(message)):
                if f"/requests/{kind}/" in path:
                    return message, path
        time.sleep(0.1)
    raise AssertionError(
        f"the worker wrote no mail with a {kind} link to {address} in {mail_dir} within "
        f"{seconds:.0f}s: see var/test-worker.log"
    )


# --- pages --------------------------------------------------------------------------------------


def page_in_language(new_context: ContextFactory, language: str) -> tuple[Page, str]:
    """Open the list of organisations in ``language``: chosen with the page's language switcher
    when it has one, else as a browser whose preferred language it is (Accept-Language).

    Return the page and which of the two was used.
    """
    page = new_context().new_page()
    page.goto("/privacy/")
    switcher = page.locator(f"form[action='{reverse('set_language')}']")
    if not switcher.count():
        page.context.close()
        page = new_context(locale=language).new_page()
        page.goto("/privacy/")
        return page, "Accept-Language"
    form = switcher.first
    select = form.locator("select[name=language]")
    if select.count():
        select.select_option(language)
        form.locator("button, input[type=submit]").first.click()
    else:
        form.locator(f"button[name=language][value='{language}']").click()
    page.wait_for_load_state()
    return page, "switcher"


def expect_document_language(page: Page, language: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("lang", language)
    direction = "rtl" if translation.get_language_info(language)["bidi"] else "ltr"
    expect(html).to_have_attribute("dir", direction)
    # The layout follows: text starts on the right and the page mirrors.
    assert page.evaluate("getComputedStyle(document.body).direction") == direction


def open_request_form(
    page: Page,
    artifacts: Artifacts,
    *,
    organization: Organization,
    request_type: str,
    language: str,
) -> None:
    """Open ``organization`` from the list of organisations and press its ``request_type`` right."""
    page.goto("/privacy/")
    expect(page.locator("h1")).to_have_text(expected_text(language, "Privacy policies"))
    artifacts.shot(page, "organisations")
    page.get_by_role("link", name=organization.name, exact=True).click()
    expect(page).to_have_url(re.compile(f"/privacy/{re.escape(organization.slug)}/$"))
    artifacts.shot(page, f"organisation {organization.slug}")
    right = expected_text(language, RequestType(request_type).label)
    page.get_by_role("link", name=right, exact=True).click()
    expect(page.locator("h1")).to_have_text(right)


def fill_request_form(
    page: Page, *, subject: Subject, request_type: str, details: dict[str, str | bool]
) -> None:
    """Type the subject's answers into the fields, found by their labels."""
    labels = form_labels(subject.language, request_type)
    answers: dict[str, str | bool] = {"email": subject.email, "name": subject.name, **details}
    for name, value in answers.items():
        field = page.get_by_label(label_pattern(labels[name]))
        if value is True:
            field.check()
        else:
            assert isinstance(value, str)
            field.fill(value)


def submit_request_form(page: Page, language: str) -> None:
    page.get_by_role("button", name=expected_text(language, "Send my request")).click()
    expect(page.locator("h1")).to_have_text(expected_text(language, "Check your email"))


def confirm_from_mail(
    page: Page, artifacts: Artifacts, *, mail_dir: Path, subject: Subject, reference: str
) -> EmailMessage:
    """Open the confirmation link the worker mailed, confirm, and land on the status page."""
    message, confirm_path = wait_for_mail(mail_dir, subject.email, "confirm")
    page.goto(confirm_path)
    expect(page.locator("h1")).to_have_text(expected_text(subject.language, "Confirm your request"))
    expect(page.locator("main")).to_contain_text(reference)
    artifacts.shot(page, "confirm page")
    page.get_by_role("button", name=expected_text(subject.language, "Confirm my request")).click()
    expect(page).to_have_url(re.compile(r"/privacy/requests/status/[A-Za-z0-9_-]+/$"))
    return message


def expect_confirmed_status_page(
    page: Page,
    request: SubjectRequest,
    language: str,
    *,
    statuses: list[RequestStatus] | None = None,
) -> None:
    """The status page shows the reference, the confirmed state (or one of ``statuses``) and the
    due date."""
    organization = request.organization
    expect(page.locator("h1")).to_have_text(
        expected_text(language, "Request %(reference)s", reference=request.reference)
    )
    labels = [
        expected_text(language, status.label) for status in statuses or [RequestStatus.VERIFIED]
    ]
    expect(page.locator("#request-status")).to_have_text(
        re.compile("^(" + "|".join(re.escape(label) for label in labels) + ")$")
    )
    due = request.effective_due_at
    assert due is not None, f"{request.reference} has no due date after confirmation"
    with translation.override(language):
        due_text = date_format(due.astimezone(organization.tz), "DATE_FORMAT")
    expect(page.locator("#request-due")).to_contain_text(due_text)
    expect(page.locator("main")).to_contain_text(request.policy_version.version_label)


def file_request(
    page: Page,
    artifacts: Artifacts,
    *,
    organization: Organization,
    request_type: str,
    subject: Subject,
    details: dict[str, str | bool],
) -> SubjectRequest:
    """File a request from the list of organisations on; return it as the database has it."""
    open_request_form(
        page,
        artifacts,
        organization=organization,
        request_type=request_type,
        language=subject.language,
    )
    fill_request_form(page, subject=subject, request_type=request_type, details=details)
    artifacts.shot(page, "form filled")
    submit_request_form(page, subject.language)
    artifacts.shot(page, "check your email")

    filed = SubjectRequest.objects.get(email=subject.email)
    assert (filed.organization, filed.request_type, filed.status, filed.language) == (
        organization,
        request_type,
        RequestStatus.AWAITING_VERIFICATION,
        subject.language,
    )
    return filed


def file_and_confirm(
    page: Page,
    artifacts: Artifacts,
    *,
    mail_dir: Path,
    organization: Organization,
    request_type: str,
    subject: Subject,
    details: dict[str, str | bool],
) -> SubjectRequest:
    """Walk the whole path, form to status page; return the request, confirmed."""
    filed = file_request(
        page,
        artifacts,
        organization=organization,
        request_type=request_type,
        subject=subject,
        details=details,
    )
    message = confirm_from_mail(
        page, artifacts, mail_dir=mail_dir, subject=subject, reference=filed.reference
    )
    assert subject_line(message) == expected_text(
        subject.language,
        "Confirm your privacy request %(reference)s to %(name)s",
        reference=filed.reference,
        name=organization.name,
    )
    artifacts.shot(page, "status page")

    filed.refresh_from_db()
    # An unsubscribe the policy promises "at any time" is applied by the worker right after the
    # confirmation (effects.services), so it may already be in progress or done.
    shown = (
        [RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS, RequestStatus.COMPLETED]
        if filed.rule.applies_on_confirmation
        else [RequestStatus.VERIFIED]
    )
    assert filed.status in shown
    expect_confirmed_status_page(page, filed, subject.language, statuses=shown)
    call_command("verify_audit_chain", filed.reference, stdout=io.StringIO())
    return filed


# --- requests made without the browser, for tests about how their pages look -------------------


def request_filed(
    *, organization: Organization, request_type: str, subject: Subject
) -> SubjectRequest:
    """File a request through the intake service, as the form does; it awaits confirmation."""
    offer = intake_offer(organization=organization)
    assert offer is not None, f"{organization.slug} has no policy in force"
    rule = offer.rule_for(request_type)
    assert rule is not None, f"{organization.slug} does not offer {request_type}"
    return request_submit(
        organization=organization,
        version=offer.version,
        rule=rule,
        subject=SubjectDetails(email=subject.email, name=subject.name),
        language=subject.language,
    ).request


def confirm_link_path(request: SubjectRequest) -> str:
    """Return the path of a fresh, unused confirmation link for ``request``."""
    token = token_issue(request=request, purpose=TokenPurpose.VERIFICATION)
    return reverse("requests_app:request_verify", args=[token])


def status_link_path_after_confirming(request: SubjectRequest) -> str:
    """Confirm ``request`` as its link would and return the path of its status page."""
    token = token_issue(request=request, purpose=TokenPurpose.VERIFICATION)
    _confirmed, status_token = request_verify(token=token)
    return reverse("requests_app:request_status", args=[status_token])


def admin_log_in(page: Page, username: str, password: str) -> None:
    """Log into ``/admin/`` through its login form, as staff do."""
    page.goto("/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_contain_text(username)

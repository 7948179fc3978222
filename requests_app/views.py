"""Public pages: the request form, email confirmation, new links and the status page.

No page tells a visitor whether a request or an email address exists: a filed, duplicate,
honeypot or over-limit submission all lead to the same "check your email" page, and every link
that does not work (wrong, expired, used, someone else's) gets the same "link not valid" page.
The forms count only the submissions they accept against the network's limit; over it, the page
says how long to wait and the answer carries ``Retry-After`` (``requests_app.limits``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.locale import subject_language
from policies.deadlines import response_period
from policies.models import Organization, RequestTypeRule
from policies.selectors import organization_list
from requests_app.forms import HONEYPOT_FIELD, NewLinkForm, SubjectRequestForm
from requests_app.intake import request_submit
from requests_app.limits import (
    Refusal,
    client_key,
    limit_count,
    limit_reached,
    link_open_count,
)
from requests_app.selectors import IntakeOffer, intake_offer, subject_timeline
from requests_app.verification import (
    InvalidLink,
    links_resend_queue,
    request_verify,
    status_request,
    verification_token_check,
)


@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_object_or_404(Organization, slug=org_slug)
    offer = intake_offer(organization=organization)
    if offer is None:
        raise Http404
    chosen = request.POST.get("request_type") if request.method == "POST" else None
    chosen = chosen or request.GET.get("type", "")
    rule = offer.rule_for(chosen) if chosen else None
    if rule is None:
        return render(
            request,
            "requests_app/request_choose.html",
            {"organization": organization, "offer": offer, "unknown_type": bool(chosen)},
            status=400 if request.method == "POST" else 200,
        )

    if request.method == "GET":
        form = SubjectRequestForm(request_type=rule.request_type)
        return _render_form(request, organization, offer, rule, form)

    if request.POST.get(HONEYPOT_FIELD):
        return redirect("requests_app:request_sent", org_slug=organization.slug)
    form = SubjectRequestForm(request.POST, request.FILES, request_type=rule.request_type)
    network_limit = {
        "group": "request-form-ip",
        "rate": settings.RATELIMIT_REQUEST_PER_IP,
        "key": client_key(request),
    }
    if refusal := limit_reached(**network_limit):
        form.add_error(None, refusal.message())
        return _refused(_render_form(request, organization, offer, rule, form, status=429), refusal)
    if not form.is_valid():
        return _render_form(request, organization, offer, rule, form, status=400)
    if refusal := limit_count(**network_limit):
        form.add_error(None, refusal.message())
        return _refused(_render_form(request, organization, offer, rule, form, status=429), refusal)
    subject = form.subject_details()
    # Over the per-address limit the answer is the usual one and nothing is sent, so the limit
    # cannot be used to learn whether someone else filed with an address.
    if not limit_count(
        group="request-form-email", rate=settings.RATELIMIT_REQUEST_PER_EMAIL, key=subject.email
    ):
        request_submit(
            organization=organization,
            version=offer.version,
            rule=rule,
            subject=subject,
            language=subject_language(organization),
        )
    return redirect("requests_app:request_sent", org_slug=organization.slug)


def _render_form(
    request: HttpRequest,
    organization: Organization,
    offer: IntakeOffer,
    rule: RequestTypeRule,
    form: SubjectRequestForm,
    *,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "requests_app/request_form.html",
        {
            "organization": organization,
            "offer": offer,
            "rule": rule,
            "period": response_period(rule),
            "form": form,
        },
        status=status,
    )


@require_http_methods(["GET"])
def request_sent(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_object_or_404(Organization, slug=org_slug)
    return render(request, "requests_app/request_sent.html", {"organization": organization})


def _refused(response: HttpResponse, refusal: Refusal) -> HttpResponse:
    """Return the 429 ``response`` with the seconds until the limit lifts in ``Retry-After``."""
    response["Retry-After"] = str(refusal.retry_after)
    return response


def _invalid_link(request: HttpRequest, *, status: int = 404) -> HttpResponse:
    return render(request, "requests_app/link_invalid.html", status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def request_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm the email address. GET only asks: mail scanners that open links must not spend it."""
    if refusal := link_open_count(request):
        return _refused(_invalid_link(request, status=429), refusal)
    try:
        if request.method == "GET":
            subject_request = verification_token_check(token=token)
            return render(
                request, "requests_app/request_confirm.html", {"subject_request": subject_request}
            )
        subject_request, status_token = request_verify(token=token)
    except InvalidLink:
        return _invalid_link(request)
    return redirect("requests_app:request_status", token=status_token)


@never_cache
@require_http_methods(["GET"])
def request_status(request: HttpRequest, token: str) -> HttpResponse:
    if refusal := link_open_count(request):
        return _refused(_invalid_link(request, status=429), refusal)
    try:
        subject_request = status_request(token=token)
    except InvalidLink:
        return _invalid_link(request)
    organization = subject_request.organization
    due = subject_request.effective_due_at
    return render(
        request,
        "requests_app/request_status.html",
        {
            "subject_request": subject_request,
            "organization": organization,
            "version": subject_request.policy_version,
            "timeline": subject_timeline(request=subject_request),
            "due_local": due.astimezone(organization.tz) if due else None,
        },
    )


@require_http_methods(["GET"])
def new_link_choose(request: HttpRequest) -> HttpResponse:
    """Lead a subject whose link stopped working to the new-link form of the organisation.

    The pages that find a link invalid cannot say whose it was without saying it exists, so they
    send the subject here: with one organisation straight to its form, otherwise to a choice.
    """
    organizations = list(organization_list())
    if len(organizations) == 1:
        return redirect("requests_app:request_new_link", org_slug=organizations[0].slug)
    return render(request, "requests_app/new_link_choose.html", {"organizations": organizations})


@require_http_methods(["GET", "POST"])
def request_new_link(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_object_or_404(Organization, slug=org_slug)
    if request.method == "GET":
        return _render_new_link(request, organization, NewLinkForm())
    if request.POST.get(HONEYPOT_FIELD):
        return redirect("requests_app:new_link_sent", org_slug=organization.slug)
    form = NewLinkForm(request.POST)
    network_limit = {
        "group": "new-link-ip",
        "rate": settings.RATELIMIT_NEW_LINK_PER_IP,
        "key": client_key(request),
    }
    if refusal := limit_reached(**network_limit):
        form.add_error(None, refusal.message())
        return _refused(_render_new_link(request, organization, form, status=429), refusal)
    if not form.is_valid():
        return _render_new_link(request, organization, form, status=400)
    if refusal := limit_count(**network_limit):
        form.add_error(None, refusal.message())
        return _refused(_render_new_link(request, organization, form, status=429), refusal)
    # The same work whether or not the address has requests (one job queued; the worker applies
    # the per-address limit and looks them up), so the answer's timing tells nothing either.
    links_resend_queue(organization=organization, email=form.cleaned_data["email"])
    return redirect("requests_app:new_link_sent", org_slug=organization.slug)


def _render_new_link(
    request: HttpRequest, organization: Organization, form: NewLinkForm, *, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "requests_app/new_link.html",
        {
            "organization": organization,
            "form": form,
            "status_link_days": settings.STATUS_LINK_DAYS,
        },
        status=status,
    )


@require_http_methods(["GET"])
def new_link_sent(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_object_or_404(Organization, slug=org_slug)
    return render(
        request,
        "requests_app/new_link_sent.html",
        {"organization": organization, "status_link_days": settings.STATUS_LINK_DAYS},
    )

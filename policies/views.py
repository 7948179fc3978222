"""Public policy pages: the organisations, each one's policies in force, and each published version.

Drafts are never shown: every read goes through the published versions only.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe

from policies import selectors
from policies.models import Organization, PolicyVersion, RequestTypeRule


def request_form_url(*, organization: Organization, rule: RequestTypeRule) -> str:
    """Return the link to the public request form for ``rule``'s request type.

    The form belongs to the requests app; until its URL is registered the same path is built
    under this organisation's page, so the buttons keep pointing at the agreed address.
    """
    try:
        path = reverse("requests_app:request_new", kwargs={"org_slug": organization.slug})
    except NoReverseMatch:
        path = reverse("policies:organization_detail", args=[organization.slug]) + "request/"
    return f"{path}?{urlencode({'type': rule.request_type})}"


def _rights_with_links(
    organization: Organization, rules: list[RequestTypeRule]
) -> list[tuple[RequestTypeRule, str]]:
    return [(rule, request_form_url(organization=organization, rule=rule)) for rule in rules]


@require_safe
def organization_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "policies/organization_list.html",
        {"organizations": selectors.organization_list()},
    )


@require_safe
def organization_detail(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_object_or_404(Organization, slug=org_slug)
    pages = selectors.organization_policy_pages(organization=organization)
    return render(
        request,
        "policies/organization_detail.html",
        {
            "organization": organization,
            "pages": [
                (page, _rights_with_links(organization, page.offered_rights)) for page in pages
            ],
        },
    )


@require_safe
def version_detail(request: HttpRequest, org_slug: str, pk: int) -> HttpResponse:
    organization = get_object_or_404(Organization, slug=org_slug)
    try:
        page = selectors.published_version_page(organization=organization, pk=pk)
    except PolicyVersion.DoesNotExist as exc:
        raise Http404 from exc
    # Requests are pinned to the version in force, so only that one offers the request buttons.
    rights = _rights_with_links(organization, page.offered_rights)
    return render(
        request,
        "policies/version_detail.html",
        {"organization": organization, "page": page, "rights": rights},
    )

"""The one-click unsubscribe page: GET asks (a button, no JavaScript), POST unsubscribes.

A mail client sends ``POST`` with ``List-Unsubscribe=One-Click`` and no cookie (RFC 8058), so the
view is exempt from CSRF: the signed token is what authorises it, and all it can do is withdraw
that one address's marketing consent. The button on the GET page posts the same field. A link
that is not ours, or an organisation whose policy in force does not promise unsubscribing at
any time, gets the same "link does not work" page.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from effects.links import unsubscribe_email
from effects.unsubscribe import one_click_rule, unsubscribe_one_click
from policies.models import Organization
from requests_app.limits import link_open_count

ONE_CLICK = "One-Click"


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, org_slug: str, token: str) -> HttpResponse:
    if refusal := link_open_count(request):
        response = render(request, "effects/unsubscribe_invalid.html", status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
    organization = get_object_or_404(Organization, slug=org_slug)
    email = unsubscribe_email(organization, token)
    if email is None or one_click_rule(organization) is None:
        return render(
            request, "effects/unsubscribe_invalid.html", {"organization": organization}, status=404
        )
    context: dict[str, Any] = {"organization": organization}
    if request.method == "GET":
        return render(request, "effects/unsubscribe.html", context)
    if request.POST.get("List-Unsubscribe") != ONE_CLICK:
        context["error"] = True
        return render(request, "effects/unsubscribe.html", context, status=400)
    unsubscribe_one_click(organization=organization, email=email)
    return render(request, "effects/unsubscribed.html", context)

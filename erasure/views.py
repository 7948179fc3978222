"""The subject's side of an erasure: cancelling it from the status page during the grace period.

The cancel button is a form on the status page (``templates/erasure/
_status_block.html``) that posts to this view with the status link's own token. A link that does
not work gets the same page as every other broken link; an erasure that can no longer be
cancelled says so on the status page.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from erasure.services import ErasureRefused, erasure_cancel
from requests_app.limits import link_open_count
from requests_app.verification import InvalidLink, status_request


@never_cache
@require_POST
def erasure_cancel_view(request: HttpRequest, token: str) -> HttpResponse:
    """Cancel the subject's scheduled erasure, then show the status page again."""
    if refusal := link_open_count(request):
        response = render(request, "requests_app/link_invalid.html", status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
    try:
        subject_request = status_request(token=token)
    except InvalidLink:
        return render(request, "requests_app/link_invalid.html", status=404)
    try:
        erasure_cancel(request=subject_request)
    except ErasureRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("The erasure is cancelled and your request withdrawn. Nothing was erased.")
        )
    return redirect("requests_app:request_status", token=token)

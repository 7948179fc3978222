"""Erasures in the admin: the approval page, the schedules and the certificates.

- **Erasure approval** (``admin:requests_app_erasure_approve``, by request id, mounted under the
  subject request admin): what erasing the subject does per model (rows, delete / anonymise /
  retain with basis and until when), when it will run, and the approve button.
- **Erasures and erasure certificates**: read-only evidence, visible to whoever manages retention
  or views evidence.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from erasure.models import ErasureCertificate, ErasureSchedule
from erasure.selectors import may_approve_erasure
from erasure.services import (
    APPROVABLE,
    ErasureRefused,
    erasure_approvable,
    erasure_approve,
    erasure_plan,
    erasure_runs_at,
)
from requests_app.admin_base import (
    EvidenceAdmin,
    message_user,
    request_change_url,
    request_page_context,
    staff_subject_request,
)
from requests_app.audit import Actor
from requests_app.models import SubjectRequest
from subject_data.registry import SubjectIdentity


@admin.register(ErasureCertificate)
class ErasureCertificateAdmin(EvidenceAdmin):
    list_display = ["request", "issued_at", "sent_at", "intact"]
    list_select_related = ["request"]
    search_fields = ["request__reference"]
    fields = ["request", "issued_at", "sent_at", "sha256", "intact", "certificate"]
    readonly_fields = ["intact", "certificate"]

    @admin.display(description=_("content matches its SHA-256"), boolean=True)
    def intact(self, certificate: ErasureCertificate) -> bool:
        return certificate.is_intact()

    @admin.display(description=_("certificate"))
    def certificate(self, certificate: ErasureCertificate) -> SafeString:
        return format_html(
            "<pre>{}</pre>", ErasureCertificate.canonical(certificate.content).replace(",", ", ")
        )


@admin.register(ErasureSchedule)
class ErasureScheduleAdmin(EvidenceAdmin):
    list_display = [
        "request",
        "status",
        "approved_at",
        "execute_after",
        "finished_at",
        "waiting_reason",
    ]
    list_filter = ["status"]
    list_select_related = ["request"]
    search_fields = ["request__reference"]


def staff_links(user: Any, subject_request: SubjectRequest) -> list[dict[str, Any]]:
    """The approval page's button, when it applies to ``subject_request`` for ``user`` now."""
    if not (erasure_approvable(subject_request) and may_approve_erasure(user, subject_request)):
        return []
    return [
        {
            "name": "erasure",
            "label": gettext("Approve erasure…"),
            "url": reverse("admin:requests_app_erasure_approve", args=[subject_request.pk]),
            "asks": True,
        }
    ]


def request_urls(site: AdminSite) -> list[URLPattern]:
    """The approval page, mounted under the subject request admin."""

    def view(request: HttpRequest, request_id: int) -> HttpResponse:
        return erasure_approve_view(site, request, request_id)

    return [
        path(
            "review/<int:request_id>/erasure/",
            site.admin_view(view),
            name="requests_app_erasure_approve",
        )
    ]


def erasure_approve_view(site: AdminSite, request: HttpRequest, request_id: int) -> HttpResponse:
    subject_request = staff_subject_request(request, request_id)
    if not may_approve_erasure(request.user, subject_request):
        raise PermissionDenied
    if not erasure_approvable(subject_request):
        message_user(
            request,
            gettext(
                "An erasure cannot be approved for %(reference)s now (“%(status)s”, or "
                "approved already)."
            )
            % {
                "reference": subject_request.reference,
                "status": subject_request.get_status_display(),
            },
            messages.ERROR,
        )
        return HttpResponseRedirect(request_change_url(subject_request))
    error = ""
    if request.method == "POST":
        try:
            schedule = erasure_approve(
                request=subject_request, actor=Actor.staff(cast(User, request.user))
            )
        except ErasureRefused as refused:
            error = str(refused)
        else:
            message_user(
                request,
                gettext("The erasure of %(reference)s is scheduled after %(when)s.")
                % {
                    "reference": subject_request.reference,
                    "when": timezone.localtime(
                        schedule.execute_after, subject_request.organization.tz
                    ).strftime("%Y-%m-%d %H:%M"),
                },
                messages.SUCCESS,
            )
            return HttpResponseRedirect(request_change_url(subject_request))
    now = timezone.now()
    runs_at = erasure_runs_at(subject_request, at=now)
    try:
        plan = erasure_plan(
            subject_request,
            on=timezone.localdate(runs_at, timezone=subject_request.organization.tz),
        )
    except DatabaseError as unavailable:
        # A system holding the subject's data cannot be read now: say so, approve nothing.
        plan = []
        error = error or gettext("The subject's data cannot be counted now: %(reason)s") % {
            "reason": (str(unavailable).splitlines() or [""])[0][:300]
        }
    context = {
        **request_page_context(
            site,
            request,
            subject_request,
            gettext("Approve the erasure of %(reference)s")
            % {"reference": subject_request.reference},
        ),
        "plan": plan,
        # Whose data: for a request filed for someone else, that person's, never the filer's.
        "subject_email": SubjectIdentity.of_request(subject_request).email,
        "runs_at": runs_at,
        "grace_shortened": runs_at - now
        < timedelta(days=int(settings.ERASURE_GRACE_DAYS)) - timedelta(minutes=1),
        "error": error,
        "approvable_statuses": APPROVABLE,
    }
    return TemplateResponse(request, "admin/erasure/erasure_approve.html", context)

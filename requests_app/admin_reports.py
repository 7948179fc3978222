"""Admin pages that report rather than act: the metrics page (and its CSV) and the evidence record.

Metrics need ``view_metrics``; the printable evidence page needs ``view_evidence`` and the JSON
download ``export_evidence`` (each download is recorded in the request's audit trail).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from policies.models import Organization, RequestType
from requests_app import evidence, metrics, roles
from requests_app.models import SubjectRequest

if TYPE_CHECKING:
    from django.contrib import admin

    _Base = admin.ModelAdmin[SubjectRequest]
else:
    _Base = object

MAX_PERIODS = 120


def _default_start(today: date) -> date:
    """The first day of the month eleven months ago: a year of whole months up to today."""
    month_index = today.year * 12 + today.month - 1 - 11
    return date(month_index // 12, month_index % 12 + 1, 1)


class MetricsForm(forms.Form):
    organization = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organization.objects.all(),
        required=False,
        empty_label=_("All organisations"),
    )
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    grouping = forms.ChoiceField(
        label=_("Per"),
        choices=[(metrics.MONTH, _("month")), (metrics.WEEK, _("week"))],
        initial=metrics.MONTH,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end, grouping = data.get("start"), data.get("end"), data.get("grouping")
        if start and end and grouping:
            if end < start:
                raise forms.ValidationError(_("The end date is before the start date."))
            if len(metrics.periods_between(start, end, grouping)) > MAX_PERIODS:
                raise forms.ValidationError(
                    _("Choose a shorter range: at most %(count)d periods.") % {"count": MAX_PERIODS}
                )
        return data


def metrics_form(request: HttpRequest) -> MetricsForm:
    """The form bound to the query string, or to the defaults (the last twelve months)."""
    if {"start", "end"} & set(request.GET):
        return MetricsForm(request.GET)
    today = timezone.localdate()
    return MetricsForm({"start": _default_start(today), "end": today, "grouping": metrics.MONTH})


def _report(form: MetricsForm) -> metrics.MetricsReport:
    data = form.cleaned_data
    organization = data.get("organization")
    return metrics.metrics_report(
        start=data["start"],
        end=data["end"],
        grouping=data["grouping"],
        organizations=[organization] if organization else None,
    )


class RequestReportsMixin(_Base):
    """Adds the metrics page and the evidence record to the subject request admin."""

    def report_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("metrics/", view(self.metrics_view), name="requests_app_subjectrequest_metrics"),
            path(
                "metrics/csv/",
                view(self.metrics_csv_view),
                name="requests_app_subjectrequest_metrics_csv",
            ),
            path(
                "<path:object_id>/evidence/",
                view(self.evidence_view),
                name="requests_app_subjectrequest_evidence",
            ),
            path(
                "<path:object_id>/evidence/json/",
                view(self.evidence_download),
                name="requests_app_subjectrequest_evidence_json",
            ),
        ]

    # Metrics --------------------------------------------------------------------------------

    def metrics_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(roles.VIEW_METRICS):
            raise PermissionDenied
        form = metrics_form(request)
        report = _report(form) if form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Request metrics"),
            "form": form,
            "report": report,
            "chart": metrics.metrics_chart(report) if report else None,
            "request_types": RequestType.choices,
            "csv_query": request.GET.urlencode() if report else "",
        }
        return TemplateResponse(request, "admin/requests_app/subjectrequest/metrics.html", context)

    def metrics_csv_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(roles.VIEW_METRICS):
            raise PermissionDenied
        form = metrics_form(request)
        if not form.is_valid():
            errors = "; ".join(str(e) for errors in form.errors.values() for e in errors)
            return HttpResponseBadRequest(errors, content_type="text/plain; charset=utf-8")
        report = _report(form)
        response = HttpResponse(metrics.metrics_csv(report), content_type="text/csv; charset=utf-8")
        name = f"request-metrics-{report.start.isoformat()}-{report.end.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    # Evidence -------------------------------------------------------------------------------

    def _evidence_request(
        self, request: HttpRequest, object_id: str, permission: str
    ) -> SubjectRequest:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return obj

    def evidence_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The evidence record as a printable page (reading it is not recorded; downloading is)."""
        obj = self._evidence_request(request, object_id, roles.VIEW_EVIDENCE)
        record = evidence.evidence_record(request=obj, generated_by=request.user.get_username())
        context = {
            "record": record,
            "request_obj": obj,
            "extra_sections": evidence.evidence_sections(record),
            "change_url": reverse("admin:requests_app_subjectrequest_change", args=[obj.pk]),
            "json_url": (
                reverse("admin:requests_app_subjectrequest_evidence_json", args=[obj.pk])
                if request.user.has_perm(roles.EXPORT_EVIDENCE)
                else ""
            ),
        }
        return TemplateResponse(request, "requests_app/evidence.html", context)

    def evidence_download(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The evidence record as a JSON file; the download is recorded in the audit trail."""
        obj = self._evidence_request(request, object_id, roles.EXPORT_EVIDENCE)
        record = evidence.evidence_export(request=obj, user=cast(User, request.user))
        response = HttpResponse(
            evidence.evidence_json(record), content_type="application/json; charset=utf-8"
        )
        name = f"evidence-{obj.reference}.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

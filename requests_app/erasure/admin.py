"""Staff pages of corrections, erasures and purges.

- **Purge runs, erasure certificates, erasures and retention notices**: read-only evidence,
  visible to whoever manages retention or views evidence.
- **Correction review** (``admin:requests_app_correction_review``, by request id): each requested
  correction beside the subject's current correctable values; the officer ticks the values it
  applies to (or gives the reason it is not made), may adjust the value, and applies.
- **Erasure approval** (``admin:requests_app_erasure_approve``, by request id): what erasing the
  subject does per model (rows, delete / anonymise / retain with basis and until when), when it
  will run, and the approve button.

Both pages hang off the erasure admin's URLs; ``staff_links(user, request)`` lists the ones that
apply to a request for the subject request page to show as buttons.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from policies.models import RequestType
from requests_app import roles
from requests_app.audit import Actor
from requests_app.erasure.correction import (
    CORRECTABLE_STATUSES,
    CorrectionDecision,
    CorrectionRefused,
    correctable_values,
    correction_apply,
    requested_corrections,
    suggested_keys,
)
from requests_app.erasure.erasure import (
    APPROVABLE,
    ErasureRefused,
    erasure_approvable,
    erasure_approve,
    erasure_plan,
    erasure_runs_at,
)
from requests_app.erasure.models import (
    ErasureCertificate,
    ErasureSchedule,
    PurgeRun,
    PurgeStep,
    RetentionNotice,
)
from requests_app.models import SubjectRequest

TEXT = forms.Textarea(attrs={"rows": 3, "cols": 70})


def _sees_evidence(request: HttpRequest) -> bool:
    user = request.user
    return (
        user.is_active
        and user.is_staff
        and (user.has_perm(roles.MANAGE_RETENTION) or user.has_perm(roles.VIEW_EVIDENCE))
    )


class EvidenceAdmin(admin.ModelAdmin):
    """Read-only evidence: nobody adds, edits or deletes it here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _sees_evidence(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _sees_evidence(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _table(headers: list[str], rows: list[list[Any]]) -> SafeString:
    if not rows:
        return format_html("<p>{}</p>", gettext("none"))
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


class PurgeStepInline(admin.TabularInline):
    model = PurgeStep
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "position",
        "model_label",
        "action",
        "cutoff",
        "pk_from",
        "pk_to",
        "cursor",
        "rows",
        "batches",
        "longest_batch_ms",
        "finished_at",
        "last_error",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PurgeRun)
class PurgeRunAdmin(EvidenceAdmin):
    list_display = [
        "pk",
        "kind",
        "organization",
        "rule",
        "as_of",
        "started_at",
        "finished_at",
        "deleted",
        "anonymised",
        "kept",
    ]
    list_filter = ["kind", "organization", ("finished_at", admin.EmptyFieldListFilter)]
    list_select_related = ["organization", "rule"]
    fields = [
        ("kind", "organization", "rule"),
        ("as_of", "triggered_by", "batch_size"),
        ("started_at", "finished_at"),
        "rows_per_model",
        "retained_per_model",
    ]
    readonly_fields = ["rows_per_model", "retained_per_model"]
    inlines = [PurgeStepInline]

    @admin.display(description=_("deleted"))
    def deleted(self, run: PurgeRun) -> int:
        return run.total("deleted")

    @admin.display(description=_("anonymised"))
    def anonymised(self, run: PurgeRun) -> int:
        return run.total("anonymised")

    @admin.display(description=_("kept (referenced)"))
    def kept(self, run: PurgeRun) -> int:
        return run.total("kept")

    @admin.display(description=_("rows per model"))
    def rows_per_model(self, run: PurgeRun) -> SafeString:
        return _table(
            [gettext("model"), gettext("deleted"), gettext("anonymised"), gettext("kept")],
            [
                [label, c.get("deleted", 0), c.get("anonymised", 0), c.get("kept", 0)]
                for label, c in sorted(run.totals.items())
            ],
        )

    @admin.display(description=_("retained under a legal basis"))
    def retained_per_model(self, run: PurgeRun) -> SafeString:
        return _table(
            [gettext("model"), gettext("rows"), gettext("legal basis"), gettext("until")],
            [[e["model"], e["rows"], e["legal_basis"], e.get("until") or ""] for e in run.retained],
        )


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


@admin.register(RetentionNotice)
class RetentionNoticeAdmin(EvidenceAdmin):
    list_display = ["rule", "anchor_label", "anchor_pk", "purge_on", "days_before", "sent_at"]
    list_filter = ["rule__version__policy__organization", "days_before"]
    list_select_related = ["rule"]


# --- Correction review and erasure approval -------------------------------------------------------


class CorrectionReviewForm(forms.Form):
    """One block of fields per requested correction: where it applies, the value, or why not."""

    message = forms.CharField(
        label=_("Message to the subject (optional)"),
        widget=TEXT,
        max_length=2000,
        required=False,
    )

    def __init__(self, *args: Any, subject_request: SubjectRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        values = correctable_values(subject_request)
        self.items = requested_corrections(subject_request)
        self.blocks: list[dict[str, Any]] = []
        for item in self.items:
            suggested = suggested_keys(item, values)
            ranked = sorted(
                values,
                key=lambda v: suggested.index(v.key) if v.key in suggested else len(suggested),
            )
            choices = [
                (
                    v.key,
                    format_html(
                        "{} — {} “{}”{}",
                        v.description,
                        gettext("now"),
                        v.current,
                        format_html(" <strong>({})</strong>", gettext("suggested"))
                        if v.key in suggested
                        else "",
                    ),
                )
                for v in ranked
            ]
            prefix = f"item-{item.index}"
            self.fields[f"{prefix}-targets"] = forms.MultipleChoiceField(
                label=_("Apply to"),
                choices=choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text=_("Tick every stored value this correction applies to."),
            )
            self.fields[f"{prefix}-value"] = forms.CharField(
                label=_("Correct value"), initial=item.value, required=False, max_length=500
            )
            self.fields[f"{prefix}-reason"] = forms.CharField(
                label=_("Or: why it is not corrected (the subject is told)"),
                widget=TEXT,
                required=False,
                max_length=1000,
            )
            self.blocks.append({"item": item, "prefix": prefix})
        self.fields["message"] = self.fields.pop("message")

    def bound_blocks(self) -> list[dict[str, Any]]:
        return [
            {
                "item": block["item"],
                "targets": self[f"{block['prefix']}-targets"],
                "value": self[f"{block['prefix']}-value"],
                "reason": self[f"{block['prefix']}-reason"],
            }
            for block in self.blocks
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for block in self.blocks:
            prefix = block["prefix"]
            if not data.get(f"{prefix}-targets") and not data.get(f"{prefix}-reason", "").strip():
                self.add_error(
                    f"{prefix}-reason",
                    _("Tick where the correction applies, or say why it is not made."),
                )
        return data

    def decisions(self) -> list[CorrectionDecision]:
        data = self.cleaned_data
        return [
            CorrectionDecision(
                item=block["item"].index,
                targets=tuple(data[f"{block['prefix']}-targets"]),
                value=data[f"{block['prefix']}-value"],
                reason=data[f"{block['prefix']}-reason"],
            )
            for block in self.blocks
        ]


def _subject_request(request: HttpRequest, request_id: int) -> SubjectRequest:
    found = (
        roles.visible_requests(request.user, SubjectRequest.objects.all())
        .select_related("organization", "rule", "policy_version")
        .filter(pk=request_id)
        .first()
    )
    if found is None:
        raise Http404
    return found


def may_correct(user: Any, subject_request: SubjectRequest) -> bool:
    return user.has_perm(roles.PROCESS) and roles.works_on(user, subject_request)


def may_approve_erasure(user: Any, subject_request: SubjectRequest) -> bool:
    return user.has_perm(roles.APPROVE_ERASURE) and roles.works_on(user, subject_request)


def staff_links(user: Any, subject_request: SubjectRequest) -> list[dict[str, Any]]:
    """The correction and erasure pages that apply to ``subject_request`` for ``user`` now."""
    links = []
    if (
        subject_request.request_type == RequestType.CORRECTION
        and subject_request.status in CORRECTABLE_STATUSES
        and may_correct(user, subject_request)
    ):
        links.append(
            {
                "name": "correction",
                "label": gettext("Review corrections…"),
                "url": reverse("admin:requests_app_correction_review", args=[subject_request.pk]),
            }
        )
    if erasure_approvable(subject_request) and may_approve_erasure(user, subject_request):
        links.append(
            {
                "name": "erasure",
                "label": gettext("Approve erasure…"),
                "url": reverse("admin:requests_app_erasure_approve", args=[subject_request.pk]),
            }
        )
    return links


def _change_url(subject_request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_change", args=[subject_request.pk])


@admin.register(ErasureSchedule)
class ErasureScheduleAdmin(EvidenceAdmin):
    list_display = ["request", "status", "approved_at", "execute_after", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["request"]
    search_fields = ["request__reference"]

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "review/<int:request_id>/correction/",
                self.admin_site.admin_view(self.correction_review_view),
                name="requests_app_correction_review",
            ),
            path(
                "review/<int:request_id>/erasure/",
                self.admin_site.admin_view(self.erasure_approve_view),
                name="requests_app_erasure_approve",
            ),
            *super().get_urls(),
        ]

    def _context(
        self, request: HttpRequest, subject_request: SubjectRequest, title: str
    ) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": SubjectRequest._meta,
            "original": subject_request,
            "title": title,
            "change_url": _change_url(subject_request),
        }

    def correction_review_view(self, request: HttpRequest, request_id: int) -> HttpResponse:
        subject_request = _subject_request(request, request_id)
        if not may_correct(request.user, subject_request):
            raise PermissionDenied
        if (
            subject_request.request_type != RequestType.CORRECTION
            or subject_request.status not in CORRECTABLE_STATUSES
        ):
            self.message_user(
                request,
                gettext("Corrections do not apply to %(reference)s while it is “%(status)s”.")
                % {
                    "reference": subject_request.reference,
                    "status": subject_request.get_status_display(),
                },
                messages.ERROR,
            )
            return HttpResponseRedirect(_change_url(subject_request))
        form = CorrectionReviewForm(
            request.POST if request.method == "POST" else None, subject_request=subject_request
        )
        if request.method == "POST" and form.is_valid():
            try:
                outcome = correction_apply(
                    request=subject_request,
                    actor=Actor.staff(cast(User, request.user)),
                    decisions=form.decisions(),
                    message=form.cleaned_data["message"],
                )
            except CorrectionRefused as error:
                form.add_error(None, str(error))
            else:
                self.message_user(
                    request,
                    gettext(
                        "%(reference)s: %(changed)d value(s) corrected, %(declined)d correction(s) "
                        "declined; the subject is told."
                    )
                    % {
                        "reference": subject_request.reference,
                        "changed": len(outcome.changed),
                        "declined": len(outcome.declined),
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(_change_url(subject_request))
        context = {
            **self._context(
                request,
                subject_request,
                gettext("Review corrections of %(reference)s")
                % {"reference": subject_request.reference},
            ),
            "form": form,
            "blocks": form.bound_blocks(),
        }
        return TemplateResponse(
            request, "admin/requests_app/erasure/correction_review.html", context
        )

    def erasure_approve_view(self, request: HttpRequest, request_id: int) -> HttpResponse:
        subject_request = _subject_request(request, request_id)
        if not may_approve_erasure(request.user, subject_request):
            raise PermissionDenied
        if not erasure_approvable(subject_request):
            self.message_user(
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
            return HttpResponseRedirect(_change_url(subject_request))
        error = ""
        if request.method == "POST":
            try:
                schedule = erasure_approve(
                    request=subject_request, actor=Actor.staff(cast(User, request.user))
                )
            except ErasureRefused as refused:
                error = str(refused)
            else:
                self.message_user(
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
                return HttpResponseRedirect(_change_url(subject_request))
        now = timezone.now()
        runs_at = erasure_runs_at(subject_request, at=now)
        context = {
            **self._context(
                request,
                subject_request,
                gettext("Approve the erasure of %(reference)s")
                % {"reference": subject_request.reference},
            ),
            "plan": erasure_plan(
                subject_request,
                on=timezone.localdate(runs_at, timezone=subject_request.organization.tz),
            ),
            "runs_at": runs_at,
            "grace_shortened": runs_at - now
            < timedelta(days=int(settings.ERASURE_GRACE_DAYS)) - timedelta(minutes=1),
            "error": error,
            "approvable_statuses": APPROVABLE,
        }
        return TemplateResponse(request, "admin/requests_app/erasure/erasure_approve.html", context)

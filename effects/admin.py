"""The effects in the admin: apply an opt-out, objection or restriction request (a page under the
request admin), lift a restriction (officers, with a reason), the record of every change, and
the consent report per organisation."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from effects.models import ConsentChange
from effects.selectors import consent_report, may_apply, may_lift
from effects.services import (
    APPLICABLE_STATUSES,
    EFFECT_TYPES,
    EffectRefused,
    request_effect_apply,
    restriction_is_set,
    restriction_lift,
)
from policies.models import Organization, RequestType
from requests_app.admin_base import (
    ReadOnlyAdmin,
    message_user,
    request_change_url,
    request_page_context,
    staff_subject_request,
)
from requests_app.audit import Actor
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.text import PlainTextField
from requests_app.workflow import MissingReason
from subject_data.registry import registry

TEXT = forms.Textarea(attrs={"rows": 3, "cols": 70})


class EffectApplyForm(forms.Form):
    purposes = forms.MultipleChoiceField(
        label=_("Purposes the objection covers"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Consent to each ticked purpose is withdrawn in every system."),
    )
    message = PlainTextField(
        label=_("Message to the subject (optional)"), widget=TEXT, max_length=2000, required=False
    )

    def __init__(self, *args: Any, subject_request: SubjectRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if subject_request.request_type == RequestType.OBJECTION:
            purposes = cast(forms.MultipleChoiceField, self.fields["purposes"])
            purposes.choices = [
                (p, p) for p in registry.consent_purposes(subject_request.organization_id)
            ]
        else:
            del self.fields["purposes"]


class RestrictionLiftForm(forms.Form):
    reason = PlainTextField(
        label=_("Why the restriction is lifted (the subject is told)"),
        widget=TEXT,
        max_length=2000,
    )


def staff_links(user: Any, subject_request: SubjectRequest) -> list[dict[str, Any]]:
    links = []
    if (
        subject_request.request_type in EFFECT_TYPES
        and subject_request.status in APPLICABLE_STATUSES
        and may_apply(user, subject_request)
    ):
        links.append(
            {
                "name": "effect",
                "label": gettext("Apply to the data…"),
                "url": reverse("admin:requests_app_effect_apply", args=[subject_request.pk]),
                "asks": True,
            }
        )
    if (
        subject_request.request_type == RequestType.RESTRICTION
        and subject_request.status == RequestStatus.COMPLETED
        and may_lift(user, subject_request)
        and restriction_is_set(subject_request)
    ):
        links.append(
            {
                "name": "restriction_lift",
                "label": gettext("Lift the restriction…"),
                "url": reverse("admin:requests_app_restriction_lift", args=[subject_request.pk]),
                "asks": True,
            }
        )
    return links


def request_urls(site: AdminSite) -> list[URLPattern]:
    def apply(request: HttpRequest, request_id: int) -> HttpResponse:
        return effect_apply_view(site, request, request_id)

    def lift(request: HttpRequest, request_id: int) -> HttpResponse:
        return restriction_lift_view(site, request, request_id)

    return [
        path(
            "review/<int:request_id>/effect/",
            site.admin_view(apply),
            name="requests_app_effect_apply",
        ),
        path(
            "review/<int:request_id>/restriction/lift/",
            site.admin_view(lift),
            name="requests_app_restriction_lift",
        ),
    ]


def effect_apply_view(site: AdminSite, request: HttpRequest, request_id: int) -> HttpResponse:
    subject_request = staff_subject_request(request, request_id)
    if not may_apply(request.user, subject_request):
        raise PermissionDenied
    if (
        subject_request.request_type not in EFFECT_TYPES
        or subject_request.status not in APPLICABLE_STATUSES
    ):
        message_user(
            request,
            gettext("Nothing can be applied to %(reference)s while it is “%(status)s”.")
            % {
                "reference": subject_request.reference,
                "status": subject_request.get_status_display(),
            },
            messages.ERROR,
        )
        return HttpResponseRedirect(request_change_url(subject_request))
    form = EffectApplyForm(
        request.POST if request.method == "POST" else None, subject_request=subject_request
    )
    if request.method == "POST" and form.is_valid():
        try:
            changes = request_effect_apply(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                purposes=form.cleaned_data.get("purposes"),
                message=form.cleaned_data["message"],
            )
        except EffectRefused as error:
            form.add_error(None, str(error))
        else:
            message_user(
                request,
                gettext("%(reference)s: %(rows)d row(s) changed; the subject is told.")
                % {
                    "reference": subject_request.reference,
                    "rows": sum(c.rows for c in changes),
                },
                messages.SUCCESS,
            )
            return HttpResponseRedirect(request_change_url(subject_request))
    context = {
        **request_page_context(
            site,
            request,
            subject_request,
            gettext("Apply %(reference)s to the data") % {"reference": subject_request.reference},
        ),
        "form": form,
    }
    return TemplateResponse(request, "admin/effects/effect_apply.html", context)


def restriction_lift_view(site: AdminSite, request: HttpRequest, request_id: int) -> HttpResponse:
    subject_request = staff_subject_request(request, request_id)
    if not may_lift(request.user, subject_request):
        raise PermissionDenied
    form = RestrictionLiftForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            changes = restriction_lift(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                reason=form.cleaned_data["reason"],
            )
        except (EffectRefused, MissingReason) as error:
            form.add_error(None, str(error))
        else:
            message_user(
                request,
                gettext("%(reference)s: restriction lifted, %(rows)d row(s) changed.")
                % {
                    "reference": subject_request.reference,
                    "rows": sum(c.rows for c in changes),
                },
                messages.SUCCESS,
            )
            return HttpResponseRedirect(request_change_url(subject_request))
    context = {
        **request_page_context(
            site,
            request,
            subject_request,
            gettext("Lift the restriction of %(reference)s")
            % {"reference": subject_request.reference},
        ),
        "form": form,
    }
    return TemplateResponse(request, "admin/effects/restriction_lift.html", context)


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "organization", "email", "kind", "channel", "rows", "actor_label")
    list_filter = ("organization", "kind", "channel")
    list_select_related = ("organization", "request")
    search_fields = ("email", "request__reference")
    fields = (
        "at",
        "organization",
        "request",
        "email",
        "kind",
        "channel",
        "purposes",
        "changes",
        "actor_label",
        "reason",
    )
    change_list_template = "admin/effects/consentchange/change_list.html"

    @admin.display(description=_("rows changed"))
    def rows(self, change: ConsentChange) -> int:
        return change.rows_changed

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "report/",
                self.admin_site.admin_view(self.report_view),
                name="effects_consentchange_report",
            ),
            *super().get_urls(),
        ]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """Consent per purpose and organisation: rows given, not given, restricted, usable."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        organizations = list(Organization.objects.order_by("name"))
        sections = [
            {"organization": organization, "counts": consent_report(organization.pk)}
            for organization in organizations
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Consent report"),
            "sections": sections,
        }
        return TemplateResponse(request, "admin/effects/consent_report.html", context)

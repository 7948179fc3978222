"""The correction review page in the admin (``admin:requests_app_correction_review``).

Mounted under the subject request admin, by request id: each requested correction beside the
subject's current correctable values; the officer ticks the values it applies to (or gives the
reason it is not made), may adjust the value, and applies.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from corrections.selectors import may_correct
from corrections.services import (
    CORRECTABLE_STATUSES,
    CorrectionDecision,
    correctable_values,
    correction_apply,
    requested_corrections,
    suggested_keys,
)
from policies.models import RequestType
from requests_app.admin_base import (
    message_user,
    request_change_url,
    request_page_context,
    staff_subject_request,
)
from requests_app.audit import Actor
from requests_app.models import SubjectRequest
from requests_app.text import PlainCharField, PlainTextField
from requests_app.workflow import IllegalAction

TEXT = forms.Textarea(attrs={"rows": 3, "cols": 70})


class CorrectionReviewForm(forms.Form):
    """One block of fields per requested correction: where it applies, the value, or why not."""

    message = PlainTextField(
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
            self.fields[f"{prefix}-value"] = PlainCharField(
                label=_("Correct value"), initial=item.value, required=False, max_length=500
            )
            self.fields[f"{prefix}-reason"] = PlainTextField(
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


def staff_links(user: Any, subject_request: SubjectRequest) -> list[dict[str, Any]]:
    """The review page's button, when it applies to ``subject_request`` for ``user`` now."""
    if not (
        subject_request.request_type == RequestType.CORRECTION
        and subject_request.status in CORRECTABLE_STATUSES
        and may_correct(user, subject_request)
    ):
        return []
    return [
        {
            "name": "correction",
            "label": gettext("Review corrections…"),
            "url": reverse("admin:requests_app_correction_review", args=[subject_request.pk]),
            "asks": True,
        }
    ]


def request_urls(site: AdminSite) -> list[URLPattern]:
    """The review page, mounted under the subject request admin."""

    def view(request: HttpRequest, request_id: int) -> HttpResponse:
        return correction_review_view(site, request, request_id)

    return [
        path(
            "review/<int:request_id>/correction/",
            site.admin_view(view),
            name="requests_app_correction_review",
        )
    ]


def correction_review_view(site: AdminSite, request: HttpRequest, request_id: int) -> HttpResponse:
    subject_request = staff_subject_request(request, request_id)
    if not may_correct(request.user, subject_request):
        raise PermissionDenied
    if (
        subject_request.request_type != RequestType.CORRECTION
        or subject_request.status not in CORRECTABLE_STATUSES
    ):
        message_user(
            request,
            gettext("Corrections do not apply to %(reference)s while it is “%(status)s”.")
            % {
                "reference": subject_request.reference,
                "status": subject_request.get_status_display(),
            },
            messages.ERROR,
        )
        return HttpResponseRedirect(request_change_url(subject_request))
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
        except IllegalAction as error:  # refused corrections, or systems still working
            form.add_error(None, str(error))
        else:
            message_user(
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
            return HttpResponseRedirect(request_change_url(subject_request))
    context = {
        **request_page_context(
            site,
            request,
            subject_request,
            gettext("Review corrections of %(reference)s")
            % {"reference": subject_request.reference},
        ),
        "form": form,
        "blocks": form.bound_blocks(),
    }
    return TemplateResponse(request, "admin/corrections/correction_review.html", context)

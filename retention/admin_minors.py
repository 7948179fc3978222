"""On a request that appears to concern a child: the warning and the officer's confirmation page
(``admin:requests_app_minor_confirm``). Registered in ``RetentionConfig.ready()``."""

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
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from requests_app.admin_base import (
    message_user,
    request_change_url,
    request_page_context,
    staff_subject_request,
)
from requests_app.audit import Actor
from requests_app.text import PlainTextField
from requests_app.workflow import IllegalAction
from retention.minors import CONFIRM_MINOR, minor_blocker, minor_confirm


class ConfirmForm(forms.Form):
    note = PlainTextField(
        label=_("What you checked (and whether a parent or guardian consented)"),
        max_length=2000,
    )


def notices(user: Any, subject_request: Any) -> list[str]:
    blocker = minor_blocker(subject_request)
    return [blocker] if blocker else []


def staff_links(user: Any, subject_request: Any) -> list[dict[str, Any]]:
    if not user.has_perm(CONFIRM_MINOR) or not minor_blocker(subject_request):
        return []
    return [
        {
            "name": "minor_confirm",
            "label": gettext("Confirm the child's request…"),
            "url": reverse("admin:requests_app_minor_confirm", args=[subject_request.pk]),
            "asks": True,
        }
    ]


def confirm_view(site: AdminSite, request: HttpRequest, request_id: int) -> HttpResponse:
    subject_request = staff_subject_request(request, request_id)
    if not request.user.has_perm(CONFIRM_MINOR):
        raise PermissionDenied
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            minor_confirm(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                note=form.cleaned_data["note"],
            )
        except IllegalAction as refused:
            form.add_error(None, str(refused))
        else:
            message_user(request, gettext("The child's request was confirmed."), messages.SUCCESS)
            return HttpResponseRedirect(request_change_url(subject_request))
    context = {
        **request_page_context(
            site,
            request,
            subject_request,
            gettext("Confirm the child's request %(reference)s")
            % {"reference": subject_request.reference},
        ),
        "form": form,
        "action_label": gettext("Confirm"),
    }
    return TemplateResponse(request, "admin/requests_app/subjectrequest/action.html", context)


def request_urls(site: AdminSite) -> list[URLPattern]:
    def view(request: HttpRequest, request_id: int) -> HttpResponse:
        return confirm_view(site, request, request_id)

    return [
        path(
            "review/<int:request_id>/child/",
            site.admin_view(view),
            name="requests_app_minor_confirm",
        )
    ]

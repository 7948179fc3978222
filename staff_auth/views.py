"""The set-up page of the staff second factor (staff_auth.two_factor)."""

from __future__ import annotations

import base64
import io
from typing import cast

import segno
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff_auth.forms import DeviceConfirmForm
from staff_auth.two_factor import (
    device_confirm,
    device_confirmed,
    device_key,
    device_pending,
    two_factor_required,
)


def _qr_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an SVG QR code in a data: URI (no script, no request)."""
    buffer = io.BytesIO()
    segno.make(device.config_url, error="m").save(buffer, kind="svg", scale=4, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Show whether two-step log-in is on; set up a device (or a new one in place of the old)."""
    user = cast(User, request.user)  # staff_member_required: a logged-in staff member
    confirmed = device_confirmed(user)
    setting_up = confirmed is None or request.GET.get("new") == "1" or request.method == "POST"
    form = DeviceConfirmForm(request.POST or None)
    pending = device_pending(user) if setting_up else None
    if request.method == "POST" and pending is not None and form.is_valid():
        if not pending.verify_is_allowed()[0]:
            # django-otp waits longer after each wrong code for this device.
            form.add_error("token", _("Too many wrong codes; wait a minute and try again."))
        elif device_confirm(request, pending, form.cleaned_data["token"]):
            LogEntry.objects.log_actions(
                user_id=user.pk,
                queryset=[pending],
                action_flag=ADDITION,
                change_message=_("Two-step log-in set up"),
                single_object=True,
            )
            messages.success(request, _("Two-step log-in is on: each log-in now asks for a code."))
            return HttpResponseRedirect(reverse("staff_two_factor"))
        else:
            form.add_error("token", _("That code is not right; enter the one your app shows now."))
    context = {
        **admin.site.each_context(request),
        "title": _("Two-step log-in"),
        "confirmed": confirmed,
        "pending": pending,
        "form": form,
        "required": two_factor_required(user),
        "key": device_key(pending) if pending else "",
        "qr": _qr_data_uri(pending) if pending else "",
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "staff_auth/two_factor.html", context, status=status)

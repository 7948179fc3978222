"""The admin's log-in form with the second factor, and the code form of the set-up page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_otp.forms import OTPAuthenticationFormMixin

from staff_auth.two_factor import device_confirmed

_CODE_WIDGET = forms.TextInput(
    attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": "8"}
)


class StaffAuthenticationForm(OTPAuthenticationFormMixin, AdminAuthenticationForm):
    """The password, then the authenticator's code for anyone who has set one up.

    The code field is always on the page (it says nothing about whether the account has a
    device); it is required only of an account that has one. A wrong or reused code refuses the
    log-in like a wrong password; django-otp slows down repeated wrong codes per device.
    """

    otp_token = forms.CharField(
        label=_("Code from your authenticator app"),
        required=False,
        max_length=12,
        widget=_CODE_WIDGET,
        help_text=_("Only if you have set up two-step log-in."),
    )
    otp_error_messages = dict(
        OTPAuthenticationFormMixin.otp_error_messages,
        token_required=_("Enter the code from your authenticator app."),
        invalid_token=_("That code is not right or was already used; enter the current one."),
        n_failed_attempts=_("Too many wrong codes; wait a minute and try again."),
        verification_not_allowed=_("Too many wrong codes; wait a minute and try again."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and device_confirmed(user) is not None:
            self.clean_otp(user)
        return cleaned

    def _chosen_device(self, user: Any) -> Any:
        """The account's one confirmed device; never one named by the client."""
        return device_confirmed(user)

    def _update_form(self, user: Any) -> None:
        """django-otp fills a device list here; the form takes one device, so nothing to do."""


class DeviceConfirmForm(forms.Form):
    """The first code of a device being set up, proving the app holds the key."""

    token = forms.CharField(
        label=_("Code from your authenticator app"), max_length=12, widget=_CODE_WIDGET
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].replace(" ", "")
        if not token.isdigit():
            raise forms.ValidationError(_("The code is the digits your app shows."))
        return token

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffAuthConfig(AppConfig):
    """How staff prove who they are: hashed API tokens, the log-in lockout (django-axes) and
    two-step log-in (django-otp)."""

    name = "staff_auth"
    verbose_name = _("Staff sign-in")

    def ready(self) -> None:
        from django.contrib import admin

        from staff_auth.forms import StaffAuthenticationForm

        # The admin's log-in page asks for the second factor of those who have one.
        admin.site.login_form = StaffAuthenticationForm

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffAuthConfig(AppConfig):
    """How staff prove who they are: hashed API tokens and the log-in lockout (django-axes)."""

    name = "staff_auth"
    verbose_name = _("Staff sign-in")

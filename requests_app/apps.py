from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = _("Subject requests")

    def ready(self) -> None:
        from requests_app.subject_data.checks import check_personal_data_registered

        # Every project model that looks personal is registered or excluded: `manage.py check`,
        # and so every start of the web server, the worker and the tests, holds them to it.
        checks.register(check_personal_data_registered, checks.Tags.models)

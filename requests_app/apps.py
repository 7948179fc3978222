from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RequestsAppConfig(AppConfig):
    """The request lifecycle: intake, verification, workflow, audit trail, reminders, roles."""

    name = "requests_app"
    verbose_name = _("Subject requests")

    def ready(self) -> None:
        from requests_app import tasks  # noqa: F401  (registered with Celery)

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RequestsAppConfig(AppConfig):
    """The request lifecycle: intake, verification, workflow, audit trail, reminders, roles."""

    name = "requests_app"
    verbose_name = _("Subject requests")

    def ready(self) -> None:
        from requests_app import tasks  # noqa: F401  (registered with Celery)
        from requests_app.representation import completion_guard
        from requests_app.workflow import completion_guard_register

        completion_guard_register(completion_guard)
        _someone_else_admin()


def _someone_else_admin() -> None:
    """The request page's parts for requests filed for someone else and for legal holds."""
    from requests_app import admin_someone_else as pages
    from requests_app.admin_extensions import RequestAdminExtension, request_admin_extend

    request_admin_extend(
        RequestAdminExtension(
            name="someone_else",
            links=pages.staff_links,
            urls=pages.request_urls,
            notices=pages.notices,
            queue_annotate=pages.queue_annotate,
            queue_columns=(pages.legal_hold_column,),
            queue_filters=(pages.LegalHoldFilter,),
        )
    )

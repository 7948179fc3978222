from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    """Retention: the policy's rules applied daily, advance notices, and the purge engine."""

    name = "retention"
    verbose_name = _("Retention and purges")

    def ready(self) -> None:
        from requests_app.admin_extensions import RequestAdminExtension, request_admin_extend
        from requests_app.workflow import completion_guard_register, verified_listener_register
        from retention import admin_minors, minors, tasks  # noqa: F401  (tasks: Celery)

        verified_listener_register(minors.minors_apply)
        completion_guard_register(minors.completion_guard)
        request_admin_extend(
            RequestAdminExtension(
                name="minors",
                links=admin_minors.staff_links,
                urls=admin_minors.request_urls,
                notices=admin_minors.notices,
            )
        )

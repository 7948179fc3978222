from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnnouncementsConfig(AppConfig):
    """Emails announcing a significant policy version to subjects and account contacts."""

    name = "announcements"
    verbose_name = _("Policy announcements")

    def ready(self) -> None:
        from announcements import admin, tasks  # noqa: F401  (tasks: Celery)
        from announcements.models import Announcement
        from subject_data.registry import registry

        registry.exclude(
            Announcement,
            reason="The record that a policy change was announced to an address: evidence of a "
            "promise kept, not the subject's data in the business's systems.",
        )

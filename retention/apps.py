from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    """Retention: the policy's rules applied daily, advance notices, and the purge engine."""

    name = "retention"
    verbose_name = _("Retention and purges")

    def ready(self) -> None:
        from retention import tasks  # noqa: F401  (registered with Celery)

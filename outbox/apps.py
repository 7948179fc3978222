from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    """Work for the broker, kept in the database until the broker has it (the lowest layer)."""

    name = "outbox"
    verbose_name = _("Outbox")

    def ready(self) -> None:
        from outbox import tasks  # noqa: F401 - registers the relay tasks and the worker hook

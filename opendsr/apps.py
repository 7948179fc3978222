from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpenDSRConfig(AppConfig):
    """OpenDSR: controllers forward their customers' requests; status callbacks go back."""

    name = "opendsr"
    label = "opendsr"
    verbose_name = _("OpenDSR")

    def ready(self) -> None:
        # callbacks: its signal receiver; subject_data: the registry's exclusions; tasks: Celery.
        from opendsr import callbacks, subject_data, tasks  # noqa: F401

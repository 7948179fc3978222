from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class SubjectDataConfig(AppConfig):
    """The registry of where the subject's data lives, and the clocks of its retention triggers."""

    name = "subject_data"
    verbose_name = _("Subject data")

    def ready(self) -> None:
        from subject_data import exclusions
        from subject_data.checks import check_personal_data_registered

        exclusions.register()
        # Every project model that looks personal is registered or excluded: `manage.py check`,
        # and so every start of the web server, the worker and the tests, holds them to it.
        checks.register(check_personal_data_registered, checks.Tags.models)

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PosConfig(AppConfig):
    name = "pos"
    verbose_name = _("Point of sale (sample business data)")

    def ready(self) -> None:
        # Register where the POS keeps personal data, and the check that holds every project
        # model to being registered or excluded.
        from pos import subject_data  # noqa: F401
        from requests_app.subject_data import checks  # noqa: F401

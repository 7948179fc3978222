from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PosConfig(AppConfig):
    name = "pos"
    verbose_name = _("Point of sale (sample business data)")

    def ready(self) -> None:
        # Register where the POS keeps personal data (requests_app's check holds it to that).
        from pos import subject_data  # noqa: F401

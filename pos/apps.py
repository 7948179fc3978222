from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PosConfig(AppConfig):
    name = "pos"
    verbose_name = _("Point of sale (sample business data)")

    def ready(self) -> None:
        # The host declares where it keeps personal data and when its retention clocks start,
        # through the subject-data registry's public API; the tracker never imports the host.
        from pos import clocks, subject_data  # noqa: F401  (subject_data registers on import)

        clocks.register()

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CorrectionsConfig(AppConfig):
    """Correction: review requested corrections against the registry and apply them."""

    name = "corrections"
    verbose_name = _("Corrections")

    def ready(self) -> None:
        from corrections import admin, services
        from requests_app.admin_extensions import RequestAdminExtension, request_admin_extend
        from requests_app.evidence import evidence_section_register

        evidence_section_register("correction", services.correction_evidence)
        request_admin_extend(
            RequestAdminExtension(
                name="corrections", links=admin.staff_links, urls=admin.request_urls
            )
        )

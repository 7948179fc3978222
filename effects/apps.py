from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EffectsConfig(AppConfig):
    """Effects of rights: consent withdrawn and processing restricted in every system."""

    name = "effects"
    verbose_name = _("Consent and restriction")

    def ready(self) -> None:
        from effects import admin, services, tasks  # noqa: F401  (tasks: Celery)
        from effects.models import ConsentChange
        from requests_app.admin_extensions import RequestAdminExtension, request_admin_extend
        from requests_app.evidence import evidence_section_register
        from requests_app.workflow import verified_listener_register
        from subject_data.registry import registry

        registry.exclude(
            ConsentChange,
            reason="The record of consent withdrawn and restrictions set or lifted: evidence of "
            "a right exercised, not the subject's data in the business's systems.",
        )
        verified_listener_register(services.on_request_verified)
        evidence_section_register("effects", services.effects_evidence)
        request_admin_extend(
            RequestAdminExtension(name="effects", links=admin.staff_links, urls=admin.request_urls)
        )

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SystemsConfig(AppConfig):
    """External systems: their records, data maps, connections and registrations."""

    name = "systems"
    verbose_name = _("Systems")

    def ready(self) -> None:
        from requests_app.evidence import evidence_section_register
        from subject_data.registry import registry
        from systems import loading, signals, subject_data  # noqa: F401 - registers exclusions
        from systems.services import systems_evidence

        signals.connect()
        registry.loader_add(loading.refresh)
        evidence_section_register("systems", systems_evidence)

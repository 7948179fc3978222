from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SystemsConfig(AppConfig):
    """External systems: their records, data maps, connections and registrations; a task per
    system on every request."""

    name = "systems"
    verbose_name = _("Systems")

    def ready(self) -> None:
        from erasure import certificates
        from exports import sources
        from requests_app import workflow
        from requests_app.evidence import evidence_section_register
        from subject_data.registry import registry
        from systems import admin, handlers, loading, manual, signals, subject_data, tasks, work  # noqa: F401
        from systems.models import SystemKind
        from systems.services import systems_evidence

        signals.connect()
        registry.loader_add(loading.refresh)
        evidence_section_register("systems", systems_evidence)
        evidence_section_register("system_tasks", work.tasks_evidence)
        # A task per system on every request (systems/work.py).
        workflow.verified_listener_register(work.request_verified)
        workflow.completion_guard_register(work.completion_blockers)
        workflow.closed_listener_register(work.request_closed)
        sources.outside_source_register(work.outside_exports)
        sources.export_blocker_register(work.export_blockers)
        sources.package_ready_register(work.package_ready)
        certificates.finish_listener_register(work.erasure_finished)
        certificates.certificate_wait_register(work.erasure_waiting)
        certificates.outside_source_register(work.outside_erasures)
        handlers.settled_listener_register(work.request_settled)
        handlers.handler_register(SystemKind.MANUAL, manual.ManualHandler())
        # HTTP systems and OpenDSR processors (docs/webhooks.md, systems/processors.py).
        from systems import processors, webhooks

        handlers.handler_register(SystemKind.HTTP, webhooks.WebhookHandler())
        handlers.handler_register(SystemKind.OPENDSR, processors.ProcessorHandler())
        admin.extend_request_admin()

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ErasureConfig(AppConfig):
    """Erasure: approve, let the subject cancel in the grace period, execute, certify."""

    name = "erasure"
    verbose_name = _("Erasures")

    def ready(self) -> None:
        from erasure import admin, certificates, holds, tasks  # noqa: F401  (tasks: Celery)
        from requests_app.admin_extensions import RequestAdminExtension, request_admin_extend
        from requests_app.evidence import evidence_section_register
        from requests_app.holds import hold_release_listener_register
        from retention.daily import purge_source_register
        from retention.models import PurgeKind
        from retention.purge import finisher_register

        finisher_register(PurgeKind.ERASURE, certificates.erasure_finish)
        finisher_register(PurgeKind.HOLD_RELEASE, holds.hold_release_finish)
        purge_source_register(
            PurgeKind.HOLD_RELEASE, holds.holds_release_start, title=holds.release_title
        )
        evidence_section_register("erasure", certificates.erasure_evidence)
        hold_release_listener_register(holds.subject_hold_released)
        request_admin_extend(
            RequestAdminExtension(name="erasure", links=admin.staff_links, urls=admin.request_urls)
        )

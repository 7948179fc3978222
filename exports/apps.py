from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExportsConfig(AppConfig):
    """Access and portability: export packages, their links and downloads."""

    name = "exports"
    verbose_name = _("Export packages")

    def ready(self) -> None:
        from exports import admin, tasks  # noqa: F401  (tasks: registered with Celery)
        from requests_app.admin_extensions import RequestAdminExtension, request_admin_extend

        request_admin_extend(
            RequestAdminExtension(
                name="exports",
                links=admin.staff_links,
                inlines=(admin.ExportPackageInline,),
                actions=(admin.create_export_package,),
            )
        )

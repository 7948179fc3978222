"""Export packages in the admin: review the counts, deliver, re-run a failed build, discard.

Nothing is edited through a form; every action calls a ``delivery`` service, which records it in
the request's audit trail. ``create_export_package`` is the action the subject request admin
offers to start a package; ``ExportPackageInline`` shows a request's packages on its page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from requests_app.audit import Actor
from requests_app.models import SubjectRequest
from requests_app.subject_data.delivery import (
    ExportRefused,
    export_create,
    export_deliver,
    export_discard,
    export_rerun,
)
from requests_app.subject_data.models import ExportDownload, ExportPackage


def _actor(request: HttpRequest) -> Actor:
    assert isinstance(request.user, User)  # noqa: S101 - the admin only serves logged-in staff
    return Actor.staff(request.user)


@admin.action(description=_("Build the export package (access or portability)"))
def create_export_package(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[SubjectRequest],
) -> None:
    """For the subject request admin: queue a package for each selected request."""
    if not request.user.has_perm("requests_app.add_exportpackage"):
        messages.error(request, gettext("You may not build export packages."))
        return
    created = 0
    for subject_request in queryset.select_related("organization"):
        try:
            export_create(request=subject_request, actor=_actor(request))
        except ExportRefused as refused:
            messages.warning(request, str(refused))
        else:
            created += 1
    if created:
        messages.success(
            request,
            ngettext(
                "%(count)d export package queued; it appears under Export packages when built.",
                "%(count)d export packages queued; they appear under Export packages when built.",
                created,
            )
            % {"count": created},
        )


class ExportDownloadInline(admin.TabularInline):
    model = ExportDownload
    extra = 0
    can_delete = False
    fields = readonly_fields = ("started_at", "finished_at", "route", "bytes_sent", "completed")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ExportPackageInline(admin.TabularInline):
    """A request's packages, on the request's page."""

    model = ExportPackage
    extra = 0
    can_delete = False
    show_change_link = True
    fields = readonly_fields = (
        "kind",
        "status",
        "total_rows",
        "size",
        "built_at",
        "link_expires_at",
        "failure",
    )

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ExportPackage)
class ExportPackageAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "status",
        "total_rows",
        "size",
        "built_at",
        "delivered_at",
        "link_expires_at",
        "download_count",
    )
    list_filter = ("status", "kind")
    search_fields = ("request__reference",)
    list_select_related = ("request",)
    ordering = ("-created_at",)
    actions = ("deliver", "rerun", "discard")
    inlines = (ExportDownloadInline,)
    fields = readonly_fields = (
        "request_link",
        "kind",
        "status",
        "failure",
        "attempts",
        "created_at",
        "created_by",
        "started_at",
        "built_at",
        "counts",
        "size",
        "sha256",
        "delivered_at",
        "delivered_by",
        "link_expires_at",
        "file_deleted_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExportPackage]:
        return super().get_queryset(request).annotate(downloads_total=Count("downloads"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_deliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("requests_app.deliver_exportpackage")

    def has_rebuild_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("requests_app.add_exportpackage")

    @admin.display(description=_("downloads"), ordering="downloads_total")
    def download_count(self, package: ExportPackage) -> int:
        return int(getattr(package, "downloads_total", 0))

    @admin.display(description=_("subject request"))
    def request_link(self, package: ExportPackage) -> SafeString:
        url = reverse("admin:requests_app_subjectrequest_change", args=[package.request_id])
        return format_html('<a href="{}">{}</a>', url, package.request.reference)

    @admin.display(description=_("rows per category and model"))
    def counts(self, package: ExportPackage) -> SafeString:
        models_counts: dict[str, int] = package.row_counts.get("models", {})
        categories: dict[str, int] = package.row_counts.get("categories", {})
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", sorted(models_counts.items())
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>"
            "<p>{}</p>",
            gettext("model"),
            gettext("rows"),
            rows,
            ", ".join(f"{name}: {count}" for name, count in categories.items()),
        )

    @admin.action(
        description=_("Deliver to the subject (email a download link)"), permissions=["deliver"]
    )
    def deliver(self, request: HttpRequest, queryset: QuerySet[ExportPackage]) -> None:
        self._each(request, queryset, export_deliver, _("%(count)d package(s) delivered."))

    @admin.action(description=_("Re-run the failed build"), permissions=["rebuild"])
    def rerun(self, request: HttpRequest, queryset: QuerySet[ExportPackage]) -> None:
        self._each(request, queryset, export_rerun, _("%(count)d build(s) queued again."))

    @admin.action(
        description=_("Discard (the file is deleted; it is not delivered)"),
        permissions=["rebuild"],
    )
    def discard(self, request: HttpRequest, queryset: QuerySet[ExportPackage]) -> None:
        reason = gettext("Discarded in the admin by %(user)s.") % {"user": request.user}
        self._each(
            request, queryset, export_discard, _("%(count)d package(s) discarded."), reason=reason
        )

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[ExportPackage],
        step: Any,
        done: Any,
        **options: Any,
    ) -> None:
        succeeded = 0
        for package in queryset.select_related("request__organization"):
            try:
                step(package=package, actor=_actor(request), **options)
            except ExportRefused as refused:
                messages.warning(request, str(refused))
            else:
                succeeded += 1
        if succeeded:
            messages.success(request, str(done) % {"count": succeeded})

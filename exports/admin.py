"""Export packages in the admin: build one from the request, review the counts, deliver.

Nothing is edited through a form; every step calls a ``delivery`` service, which records it in
the request's audit trail. From the subject request's page staff build a package
(``admin:exports_exportpackage_build``, by request id; ``staff_links`` puts the button among
the request's actions), see its packages and their counts (``ExportPackageInline``), and follow
"Review and deliver" to the package's page, whose buttons deliver it, re-run a failed build or
discard it (``admin:exports_exportpackage_step``). ``create_export_package`` builds from the
request queue as a bulk action. Each step is offered only to a role that may take it and in a
status that allows it, and asked again when forced: 403 for the role, a message for the status.

One cohesive thing, and so one module: the staff's pages of export packages and their steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from exports.delivery import (
    ExportRefused,
    export_create,
    export_deliver,
    export_discard,
    export_rerun,
)
from exports.models import (
    ExportDownload,
    ExportPackage,
    ExportStatus,
)
from exports.selectors import export_buildable, may_build_export
from policies.models import DataCategory
from requests_app import roles
from requests_app.audit import Actor
from requests_app.models import SubjectRequest


def _actor(request: HttpRequest) -> Actor:
    assert isinstance(request.user, User)  # noqa: S101 - the admin only serves logged-in staff  # nosec B101
    return Actor.staff(request.user)


def _change_url(subject_request_id: int) -> str:
    return reverse("admin:requests_app_subjectrequest_change", args=[subject_request_id])


def staff_links(user: Any, subject_request: SubjectRequest) -> list[dict[str, Any]]:
    """The export steps that apply to ``subject_request`` for ``user`` now, for its page: the
    build button, and a link to each package ready to be reviewed and delivered."""
    links: list[dict[str, Any]] = []
    if may_build_export(user, subject_request) and export_buildable(subject_request):
        links.append(
            {
                "name": "export",
                "label": gettext("Build the export package"),
                "url": reverse("admin:exports_exportpackage_build", args=[subject_request.pk]),
                "asks": False,
            }
        )
    if user.has_perm(roles.DELIVER_EXPORT):
        ready = subject_request.export_packages.filter(status=ExportStatus.READY).order_by("pk")
        links.extend(
            {
                "name": "export_deliver",
                "label": gettext("Review and deliver the export…"),
                "url": reverse("admin:exports_exportpackage_change", args=[package.pk]),
                "asks": True,
            }
            for package in ready
        )
    return links


@admin.action(
    description=_("Build the export package (access or portability)"),
    permissions=["build_export"],
)
def create_export_package(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[SubjectRequest],
) -> None:
    """For the subject request admin: queue a package for each selected request."""
    if not request.user.has_perm(roles.BUILD_EXPORT):
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


def _category_counts(package: ExportPackage) -> str:
    categories: dict[str, int] = package.row_counts.get("categories", {})
    return ", ".join(
        f"{DataCategory(name).label if name in DataCategory.values else name}: {count}"
        for name, count in categories.items()
    )


class ExportPackageInline(admin.TabularInline):
    """A request's packages, on the request's page; "View" opens the package's own page."""

    model = ExportPackage
    extra = 0
    can_delete = False
    show_change_link = True
    fields = readonly_fields = (
        "kind",
        "status",
        "rows",
        "file_size",
        "built_at",
        "link_expires_at",
        "failure",
    )

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("rows"))
    def rows(self, package: ExportPackage) -> str | None:
        if package.built_at is None:
            return None  # the admin's empty value: not counted yet
        counts = _category_counts(package)
        return f"{package.total_rows} ({counts})" if counts else str(package.total_rows)

    @admin.display(description=_("size"))
    def file_size(self, package: ExportPackage) -> str | None:
        return filesizeformat(package.size) if package.size is not None else None


@dataclass(frozen=True)
class PackageStep:
    """A step on a package's page: who may take it, from which statuses, and what it does."""

    label: Any
    permission: str
    from_statuses: tuple[str, ...]
    run: Callable[[ExportPackage, HttpRequest], ExportPackage]
    done: Any
    # A step that cannot be undone asks first: its button opens a page with this question.
    asks: Any = None


def _discard(package: ExportPackage, request: HttpRequest) -> ExportPackage:
    reason = gettext("Discarded in the admin by %(user)s.") % {"user": request.user}
    return export_discard(package=package, actor=_actor(request), reason=reason)


# The statuses only decide what is offered; the services check them again when the step runs.
PACKAGE_STEPS: dict[str, PackageStep] = {
    "deliver": PackageStep(
        _("Deliver to the subject"),
        roles.DELIVER_EXPORT,
        (ExportStatus.READY,),
        lambda package, request: export_deliver(package=package, actor=_actor(request)),
        _("Export package #%(id)s is delivered: the subject is emailed a download link."),
    ),
    "rerun": PackageStep(
        _("Re-run the failed build"),
        roles.BUILD_EXPORT,
        (ExportStatus.FAILED,),
        lambda package, request: export_rerun(package=package, actor=_actor(request)),
        _("Export package #%(id)s is queued to be built again."),
    ),
    "discard": PackageStep(
        _("Discard (the file is deleted; it is not delivered)"),
        roles.BUILD_EXPORT,
        (ExportStatus.QUEUED, ExportStatus.READY, ExportStatus.FAILED),
        _discard,
        _("Export package #%(id)s is discarded."),
        _(
            "Discard export package #%(id)s? Its file is deleted and the subject cannot download "
            "it; a new package can be built afterwards."
        ),
    ),
}


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
    # Discarding deletes a file, so it is taken one package at a time, after a question.
    actions = ("deliver", "rerun")
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
        packages = super().get_queryset(request).annotate(downloads_total=Count("downloads"))
        if roles.sees_all_requests(request.user):
            return packages
        visible = roles.visible_requests(request.user, SubjectRequest.objects.all())
        return packages.filter(request__in=visible.values("pk"))

    def get_urls(self) -> list[URLPattern]:
        # Ours first: "<path:object_id>/" of the change page would swallow them.
        return [
            path(
                "build/<int:request_id>/",
                self.admin_site.admin_view(self.build_view),
                name="exports_exportpackage_build",
            ),
            path(
                "<path:object_id>/step/<slug:step>/",
                self.admin_site.admin_view(self.step_view),
                name="exports_exportpackage_step",
            ),
            *super().get_urls(),
        ]

    def offered_steps(self, request: HttpRequest, package: ExportPackage) -> list[dict[str, Any]]:
        """The steps to show on ``package``'s page: allowed to the user and legal now."""
        return [
            {
                "name": name,
                "label": step.label,
                "url": reverse("admin:exports_exportpackage_step", args=[package.pk, name]),
                "asks": step.asks is not None,
            }
            for name, step in PACKAGE_STEPS.items()
            if request.user.has_perm(step.permission) and package.status in step.from_statuses
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        package = self.get_object(request, unquote(object_id))
        if package is not None:
            extra["package_steps"] = self.offered_steps(request, package)
            extra["request_url"] = _change_url(package.request_id)
        return super().change_view(request, object_id, form_url, extra)

    def build_view(self, request: HttpRequest, request_id: int) -> HttpResponse:
        """Queue the package of a subject request (POST) and go back to the request's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        subject_request = (
            roles.visible_requests(request.user, SubjectRequest.objects.all())
            .select_related("organization")
            .filter(pk=request_id)
            .first()
        )
        if subject_request is None:
            raise Http404
        if not may_build_export(request.user, subject_request):
            raise PermissionDenied
        try:
            export_create(request=subject_request, actor=_actor(request))
        except ExportRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
        else:
            self.message_user(
                request,
                gettext(
                    "The export package of %(reference)s is being built; reload this page to see "
                    "its row counts, then review and deliver it."
                )
                % {"reference": subject_request.reference},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(_change_url(subject_request.pk))

    def step_view(self, request: HttpRequest, object_id: str, step: str) -> HttpResponse:
        """Take a step on a package (POST) and go back to its request's page; a step that asks
        first shows its question on GET."""
        package_step = PACKAGE_STEPS.get(step)
        allowed = ["GET", "POST"] if package_step is not None and package_step.asks else ["POST"]
        if request.method not in allowed:
            return HttpResponseNotAllowed(allowed)
        package = self.get_object(request, unquote(object_id))
        if package_step is None or package is None:
            raise Http404
        if not request.user.has_perm(package_step.permission):
            raise PermissionDenied
        if request.method == "GET":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": package,
                "title": package_step.label,
                "question": package_step.asks % {"id": package.pk},
                "step_label": package_step.label,
                "package_url": reverse("admin:exports_exportpackage_change", args=[package.pk]),
            }
            return TemplateResponse(
                request, "admin/exports/exportpackage/confirm_step.html", context
            )
        try:
            package_step.run(package, request)
        except ExportRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:exports_exportpackage_change", args=[package.pk])
            )
        self.message_user(request, package_step.done % {"id": package.pk}, messages.SUCCESS)
        return HttpResponseRedirect(_change_url(package.request_id))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_deliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.DELIVER_EXPORT)

    def has_rebuild_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.BUILD_EXPORT)

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

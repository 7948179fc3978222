"""Systems in the admin: who answers for each, its connection variable, its data map versions,
a check against the live database, and a preview of one subject's rows.

The connection URL is never shown: the page says only which variable holds it and whether this
process can read it. A map that does not parse is refused inline, one line per problem, and
nothing is stored.
"""

from __future__ import annotations

import os
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from requests_app.admin_base import ReadOnlyMixin
from systems.datamap import DataMapError, parse
from systems.models import DataMapVersion, System, SystemKind
from systems.services import SystemProblem, map_add, map_check, preview

MAX_MAP_BYTES = 512 * 1024


class SystemForm(forms.ModelForm):
    endpoint_url = forms.URLField(
        label=_("endpoint URL"),
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text=_("HTTP: the webhook URL. OpenDSR: the processor's base URL."),
    )
    data_map = forms.FileField(
        label=_("New data map (TOML)"),
        required=False,
        help_text=_(
            "Stored as the next version and checked against the database at once; the "
            "tracker acts through the latest version that passed the check."
        ),
    )

    class Meta:
        model = System
        fields = [
            "organization",
            "name",
            "slug",
            "kind",
            "owner_user",
            "owner_email",
            "owner_language",
            "connection_env",
            "endpoint_url",
            "actions",
            "read_only",
            "active",
        ]

    def clean_data_map(self) -> str:
        upload = self.cleaned_data.get("data_map")
        if not upload:
            return ""
        if upload.size > MAX_MAP_BYTES:
            raise ValidationError(_("A data map is at most 512 KB."))
        try:
            source = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(_("The data map must be UTF-8 text.")) from None
        try:
            parse(source)
        except DataMapError as error:
            raise ValidationError(error.problems) from None
        return source

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("data_map") and cleaned.get("kind") != SystemKind.SQL:
            self.add_error("data_map", _("Only an external database has a data map."))
        return cleaned


class DataMapVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = DataMapVersion
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "sha256",
        "created_at",
        "created_by",
        "checked_at",
        "check_report",
    )
    ordering = ("-number",)


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    form = SystemForm
    list_display = ["name", "organization", "kind", "owner", "map_state", "read_only", "active"]
    list_filter = ["organization", "kind", "active"]
    list_select_related = ["organization", "owner_user"]
    search_fields = ["name", "slug"]
    readonly_fields = ["connection_state", "preview_link"]
    inlines = [DataMapVersionInline]
    actions = ["check_maps"]

    def get_fields(self, request: HttpRequest, obj: System | None = None) -> list[Any]:
        return [*SystemForm.Meta.fields, "connection_state", "data_map", "preview_link"]

    def has_delete_permission(self, request: HttpRequest, obj: System | None = None) -> bool:
        return False  # a system named in runs and certificates is deactivated, never deleted

    @admin.display(description=_("owner"))
    def owner(self, system: System) -> str:
        return system.owner

    @admin.display(description=_("data map"))
    def map_state(self, system: System) -> str:
        current = system.current_map()
        if system.kind != SystemKind.SQL:
            return gettext("registered in code")
        if current is None:
            return gettext("no checked map: nothing is done there")
        return gettext("version %(number)s, checked %(date)s") % {
            "number": current.number,
            "date": current.checked_at.date().isoformat() if current.checked_at else "",
        }

    @admin.display(description=_("preview"))
    def preview_link(self, system: System) -> str:
        if system.pk is None or system.kind != SystemKind.SQL:
            return ""
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:systems_system_preview", args=[system.pk]),
            gettext("Preview a subject's rows and what erasure would do"),
        )

    @admin.display(description=_("connection"))
    def connection_state(self, system: System) -> str:
        if system.kind != SystemKind.SQL:
            return gettext("the tracker's own database")
        if not system.connection_env:
            return gettext("no variable named")
        if os.environ.get(system.connection_env):
            return gettext("%(variable)s is set in this process (the URL is never shown)") % {
                "variable": system.connection_env
            }
        return gettext("%(variable)s is not set in this process") % {
            "variable": system.connection_env
        }

    def save_model(self, request: HttpRequest, obj: System, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        source = form.cleaned_data.get("data_map")
        if source:
            version = map_add(obj, source, user=request.user)
            self._report(request, obj, map_check(obj, version))

    def _report(self, request: HttpRequest, system: System, result: Any) -> None:
        if result.ok:
            messages.success(
                request,
                gettext("%(system)s: the data map matches the database.") % {"system": system},
            )
            return
        messages.error(
            request,
            gettext("%(system)s: the data map does not match the database: %(problems)s")
            % {"system": system, "problems": "; ".join(result.problems[:10])},
        )

    @admin.action(description=_("Check the data map against the database"), permissions=["change"])
    def check_maps(self, request: HttpRequest, queryset: Any) -> None:
        for system in queryset.filter(kind=SystemKind.SQL):
            try:
                self._report(request, system, map_check(system))
            except SystemProblem as error:
                messages.error(request, str(error))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:system_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="systems_system_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, system_id: int) -> HttpResponse:
        """One subject's rows per table and what erasure would do, changing nothing."""
        system = get_object_or_404(System, pk=system_id)
        if not self.has_view_permission(request, system):
            raise PermissionDenied
        form = PreviewForm(request.GET or None)
        lines: list[Any] = []
        problem = ""
        if form.is_valid():
            try:
                lines = preview(system, form.cleaned_data["email"])
            except SystemProblem as error:
                problem = str(error)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Preview: %(system)s") % {"system": system},
            "opts": self.model._meta,
            "system": system,
            "form": form,
            "lines": lines,
            "problem": problem,
        }
        return TemplateResponse(request, "admin/systems/preview.html", context)


class PreviewForm(forms.Form):
    email = forms.EmailField(label=_("The subject's email address"))


def extend_request_admin() -> None:
    """The tasks on the request page and the queue's "waiting for systems" (admin_tasks)."""
    from systems import admin_tasks

    admin_tasks.extend_request_admin()

"""The staff side of subject requests: the queue, the read-only record and its actions.

Nothing about a request is edited through a form. The queue (changelist) shows where each
request stands against its deadline and filters and sorts by it; the record (change page) is
read-only, with its export packages and the audit trail inline, and offers the actions the
user's role allows in the request's status (``admin_actions``), joined by the correction, erasure
and export steps other apps register (``admin_extensions``); metrics and the evidence record are
``admin_reports``.
Who sees which requests is ``requests_app.roles``' business. Nobody, superusers included, adds,
edits or deletes a request or an audit event here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from requests_app import admin_extensions, roles
from requests_app.admin_actions import RequestActionsMixin
from requests_app.admin_filters import AssigneeFilter, DeadlineFilter, OnHoldFilter
from requests_app.admin_reports import RequestReportsMixin
from requests_app.audit import chain_breaks
from requests_app.models import (
    RequestEvent,
    RequestToken,
    SubjectRequest,
    TokenPurpose,
    effective_due,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing here is edited through forms: changes go through the workflow services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RequestEventInline(admin.TabularInline):
    """The audit trail, oldest first; never editable."""

    model = RequestEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "sequence",
        "created_at",
        "kind",
        "actor_kind",
        "actor_label",
        "from_status",
        "to_status",
        "note",
        "public_note",
        "short_hash",
    )
    ordering = ["sequence"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("hash"))
    def short_hash(self, event: RequestEvent) -> SafeString:
        return format_html('<code title="{}">{}…</code>', event.hash, event.hash[:12])


def deadline_badge(obj: SubjectRequest) -> SafeString:
    """Where a request stands against its deadline, in words and in colour."""
    if not obj.is_open:
        due = obj.effective_due_at
        if obj.closed_at is None or due is None:
            return format_html('<span class="dsr-deadline dsr-closed">{}</span>', gettext("closed"))
        late = obj.closed_at > due
        return format_html(
            '<span class="dsr-deadline dsr-closed">{}</span>',
            gettext("closed late") if late else gettext("closed on time"),
        )
    days = obj.days_to_deadline()
    if days is None:
        return format_html(
            '<span class="dsr-deadline dsr-none">{}</span>', gettext("no deadline yet")
        )
    if obj.clock_paused:
        return format_html(
            '<span class="dsr-deadline dsr-paused">⏸ {}</span>', gettext("clock paused")
        )
    if days < 0:
        text = ngettext("overdue by %(days)d day", "overdue by %(days)d days", -days)
        return format_html(
            '<span class="dsr-deadline dsr-overdue">⚠ {}</span>', text % {"days": -days}
        )
    if days == 0:
        return format_html('<span class="dsr-deadline dsr-soon">{}</span>', gettext("due today"))
    text = ngettext("due in %(days)d day", "due in %(days)d days", days) % {"days": days}
    css = "dsr-soon" if days <= settings.REMINDER_DAYS_BEFORE else "dsr-ok"
    return format_html('<span class="dsr-deadline {}">{}</span>', css, text)


@admin.register(SubjectRequest)
class SubjectRequestAdmin(RequestActionsMixin, RequestReportsMixin, ReadOnlyAdmin):
    list_display = [
        "reference",
        "organization",
        "request_type",
        "status",
        "email",
        "assignee",
        "deadline",
    ]
    list_filter = [
        "status",
        "request_type",
        "organization",
        AssigneeFilter,
        DeadlineFilter,
        OnHoldFilter,
    ]
    search_fields = ["reference", "email", "account_identifier"]
    list_select_related = ["organization", "assignee", "rule"]
    # The soonest deadline first; requests without one (not yet verified) last.
    ordering = [effective_due().asc(nulls_last=True), "pk"]
    list_per_page = 100
    inlines = [RequestEventInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("reference", "status"),
                    ("organization", "request_type"),
                    ("assignee", "deadline"),
                ]
            },
        ),
        (
            _("Subject"),
            {
                "fields": [
                    ("email", "name"),
                    ("account_identifier", "phone"),
                    ("on_behalf_relationship", "on_behalf_subject_name"),
                    "language",
                    "description",
                    "details",
                ]
            },
        ),
        (_("Policy"), {"fields": ["policy_version_link", "rule_summary"]}),
        (_("Verification"), {"fields": ["verification_state"]}),
        (
            _("Dates"),
            {
                "fields": [
                    ("received_at", "clock_started_at"),
                    ("due_at", "extension", "extended_due_at"),
                    ("on_hold_since", "paused_days"),
                    "closed_at",
                ]
            },
        ),
        (_("Outcome"), {"fields": ["outcome", "reason_code"]}),
        (_("Audit trail"), {"fields": ["audit_state"]}),
    ]
    readonly_fields = [
        "deadline",
        "policy_version_link",
        "rule_summary",
        "verification_state",
        "extension",
        "audit_state",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubjectRequest]:
        requests = (
            super()
            .get_queryset(request)
            .select_related("organization", "assignee", "rule", "policy_version__policy")
        )
        return roles.visible_requests(request.user, admin_extensions.queue_annotate(requests))

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # Other apps' queue columns ("waiting for systems") last, so sorting links keep their
        # column numbers.
        extra = [column for ext in admin_extensions.extensions() for column in ext.queue_columns]
        return [*self.list_display, *extra]

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        extra = [found for ext in admin_extensions.extensions() for found in ext.queue_filters]
        return [*self.list_filter, *extra]

    def has_build_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.BUILD_EXPORT)

    def get_urls(self) -> list[URLPattern]:
        # Ours first: "<path:object_id>/" of the change page would swallow "metrics/".
        return [
            *self.report_urls(),
            *self.action_urls(),
            *admin_extensions.extension_urls(self.admin_site),
            *super().get_urls(),
        ]

    @property
    def actions(self) -> list[Any]:  # type: ignore[override]
        # Ours, then the bulk actions other apps register (building export packages).
        extra = [action for ext in admin_extensions.extensions() for action in ext.actions]
        return [*RequestActionsMixin.actions, *extra]

    def get_inlines(self, request: HttpRequest, obj: SubjectRequest | None) -> list[Any]:
        # The other apps' inlines (export packages) above the audit trail.
        extra = [inline for ext in admin_extensions.extensions() for inline in ext.inlines]
        return [*extra, *super().get_inlines(request, obj)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            **(extra_context or {}),
            "can_view_metrics": request.user.has_perm(roles.VIEW_METRICS),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            # The correction, erasure and export steps (admin_extensions) join the actions.
            extra["staff_actions"] = [
                *self.offered_actions(request, obj),
                *admin_extensions.staff_links(request.user, obj),
            ]
            extra["staff_notices"] = admin_extensions.staff_notices(request.user, obj)
            extra["can_view_evidence"] = request.user.has_perm(roles.VIEW_EVIDENCE)
            extra["can_export_evidence"] = request.user.has_perm(roles.EXPORT_EVIDENCE)
        return super().change_view(request, object_id, form_url, extra)

    # Columns and read-only fields -------------------------------------------------------------

    @admin.display(description=_("deadline"), ordering=effective_due().asc(nulls_last=True))
    def deadline(self, obj: SubjectRequest) -> SafeString:
        return deadline_badge(obj)

    @admin.display(description=_("extension"))
    def extension(self, obj: SubjectRequest) -> str:
        if obj.extension_amount is None:
            return gettext("none")
        return f"{obj.extension_amount} {obj.extension_unit}"

    @admin.display(description=_("policy version"))
    def policy_version_link(self, obj: SubjectRequest) -> SafeString:
        version = obj.policy_version
        public = reverse(
            "policies:version_detail", args=[obj.organization.slug, obj.policy_version_id]
        )
        return format_html(
            '<a href="{}">{}</a> · {} <code>{}</code>',
            public,
            version,
            gettext("text SHA-256"),
            version.text_sha256,
        )

    @admin.display(description=_("rule"))
    def rule_summary(self, obj: SubjectRequest) -> str:
        rule = obj.rule
        parts = [
            gettext("respond within %(period)s %(unit)s")
            % {"period": rule.response_period, "unit": rule.get_response_unit_display()},
            str(rule.get_clock_starts_display()),
            gettext("clock pauses on hold")
            if rule.pauses_while_on_hold
            else gettext("clock runs on hold"),
            gettext("extension up to %(amount)s %(unit)s")
            % {"amount": rule.max_extension, "unit": rule.get_extension_unit_display()}
            if rule.max_extension
            else gettext("no extension"),
        ]
        return "; ".join(parts)

    @admin.display(description=_("verification"))
    def verification_state(self, obj: SubjectRequest) -> SafeString:
        links = RequestToken.objects.filter(request=obj, purpose=TokenPurpose.VERIFICATION)
        sent = links.count()
        if obj.verified_at is not None:
            local = timezone.localtime(obj.verified_at, obj.organization.tz)
            return format_html(
                "✔ {} {} ({})",
                gettext("email confirmed on"),
                local.strftime("%Y-%m-%d %H:%M"),
                obj.organization.time_zone,
            )
        return format_html(
            "✘ {} · {}",
            gettext("email not confirmed"),
            ngettext("%(count)d confirmation link sent", "%(count)d confirmation links sent", sent)
            % {"count": sent},
        )

    @admin.display(description=_("audit chain"))
    def audit_state(self, obj: SubjectRequest) -> SafeString:
        broken = next(chain_breaks(SubjectRequest.objects.filter(pk=obj.pk)), None)
        if broken is None:
            return format_html(
                "✔ {} <code>{}</code>",
                ngettext(
                    "%(count)d event, chain verified; head",
                    "%(count)d events, chain verified; head",
                    obj.audit_length,
                )
                % {"count": obj.audit_length},
                obj.audit_head,
            )
        return format_html(
            '<strong class="dsr-deadline dsr-overdue">✘ {}</strong>',
            gettext("the chain is broken: %(where)s") % {"where": broken},
        )


@admin.register(RequestEvent)
class RequestEventAdmin(ReadOnlyAdmin):
    list_display = ["request", "sequence", "kind", "actor_kind", "actor_label", "created_at"]
    list_filter = ["kind", "actor_kind"]
    list_select_related = ["request"]
    search_fields = ["request__reference"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RequestEvent]:
        events = super().get_queryset(request)
        if roles.sees_all_requests(request.user):
            return events
        visible = roles.visible_requests(request.user, SubjectRequest.objects.all())
        return events.filter(request__in=visible.values("pk"))

"""Retention evidence in the admin: purge runs with their steps, and advance notices."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from requests_app.admin_base import EvidenceAdmin, ReadOnlyMixin, html_table
from retention.models import PurgeRun, PurgeStep, RetentionNotice


class PurgeStepInline(ReadOnlyMixin, admin.TabularInline):
    model = PurgeStep
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "position",
        "model_label",
        "action",
        "cutoff",
        "pk_from",
        "pk_to",
        "cursor",
        "rows",
        "batches",
        "longest_batch_ms",
        "finished_at",
        "last_error",
    )


@admin.register(PurgeRun)
class PurgeRunAdmin(EvidenceAdmin):
    list_display = [
        "pk",
        "kind",
        "organization",
        "rule",
        "as_of",
        "started_at",
        "finished_at",
        "deleted",
        "anonymised",
        "kept",
    ]
    list_filter = ["kind", "organization", ("finished_at", admin.EmptyFieldListFilter)]
    list_select_related = ["organization", "rule"]
    fields = [
        ("kind", "organization", "rule"),
        ("as_of", "triggered_by", "batch_size"),
        ("started_at", "finished_at"),
        "rows_per_model",
        "retained_per_model",
    ]
    readonly_fields = ["rows_per_model", "retained_per_model"]
    inlines = [PurgeStepInline]

    @admin.display(description=_("deleted"))
    def deleted(self, run: PurgeRun) -> int:
        return run.total("deleted")

    @admin.display(description=_("anonymised"))
    def anonymised(self, run: PurgeRun) -> int:
        return run.total("anonymised")

    @admin.display(description=_("kept (referenced)"))
    def kept(self, run: PurgeRun) -> int:
        return run.total("kept")

    @admin.display(description=_("rows per model"))
    def rows_per_model(self, run: PurgeRun) -> SafeString:
        return html_table(
            [gettext("model"), gettext("deleted"), gettext("anonymised"), gettext("kept")],
            [
                [label, c.get("deleted", 0), c.get("anonymised", 0), c.get("kept", 0)]
                for label, c in sorted(run.totals.items())
            ],
        )

    @admin.display(description=_("retained under a legal basis"))
    def retained_per_model(self, run: PurgeRun) -> SafeString:
        return html_table(
            [gettext("model"), gettext("rows"), gettext("legal basis"), gettext("until")],
            [[e["model"], e["rows"], e["legal_basis"], e.get("until") or ""] for e in run.retained],
        )


@admin.register(RetentionNotice)
class RetentionNoticeAdmin(EvidenceAdmin):
    list_display = ["rule", "anchor_label", "anchor_pk", "purge_on", "days_before", "sent_at"]
    list_filter = ["rule__version__policy__organization", "days_before"]
    list_select_related = ["rule"]

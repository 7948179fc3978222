"""A read-only view of requests and their audit trail; the staff workflow comes with its issue."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from requests_app.models import RequestEvent, SubjectRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing here is edited through forms: changes go through the workflow services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RequestEventInline(admin.TabularInline):
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
        "hash",
    )
    ordering = ["sequence"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SubjectRequest)
class SubjectRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "organization",
        "request_type",
        "status",
        "email",
        "on_behalf_relationship",
        "received_at",
        "due_at",
    ]
    list_filter = ["status", "request_type", "organization"]
    search_fields = ["reference", "email", "account_identifier"]
    list_select_related = ["organization"]
    inlines = [RequestEventInline]


@admin.register(RequestEvent)
class RequestEventAdmin(ReadOnlyAdmin):
    list_display = ["request", "sequence", "kind", "actor_kind", "actor_label", "created_at"]
    list_filter = ["kind", "actor_kind"]
    list_select_related = ["request"]
    search_fields = ["request__reference"]

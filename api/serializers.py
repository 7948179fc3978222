"""How a request is shown: to its subject (the status link) and to staff (the queue, the record).

The subject sees what the status page shows: no staff notes, no other person's data. Staff see
the record as the admin shows it, the audit trail included.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from policies.models import RequestType
from requests_app import roles
from requests_app.models import (
    ActorKind,
    EventKind,
    ReasonCode,
    RequestEvent,
    RequestStatus,
    SubjectRequest,
)
from requests_app.selectors import subject_timeline


class OrganizationRefSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


# --- The subject's view -------------------------------------------------------------------------


class TimelineEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    what = serializers.CharField(source="get_kind_display")
    status = serializers.ChoiceField(source="to_status", choices=[("", ""), *RequestStatus.choices])
    message = serializers.CharField(
        source="public_note", help_text="A message to the subject, when there is one."
    )
    at = serializers.DateTimeField(source="created_at")


class SubjectStatusSerializer(serializers.Serializer):
    """A request as its subject sees it through the status link."""

    reference = serializers.CharField()
    organization = OrganizationRefSerializer()
    request_type = serializers.ChoiceField(choices=RequestType.choices)
    request_type_display = serializers.CharField(source="get_request_type_display")
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    status_display = serializers.CharField(source="get_status_display")
    received_at = serializers.DateTimeField()
    verified_at = serializers.DateTimeField(allow_null=True)
    deadline = serializers.DateTimeField(
        source="effective_due_at",
        allow_null=True,
        help_text="When the answer is due, extensions included.",
    )
    extended = serializers.SerializerMethodField()
    closed_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(help_text="What was done, or why not, once closed.")
    timeline = serializers.SerializerMethodField()

    def get_extended(self, obj: SubjectRequest) -> bool:
        return obj.extended_due_at is not None

    @extend_schema_field(TimelineEntrySerializer(many=True))
    def get_timeline(self, obj: SubjectRequest) -> list[dict[str, Any]]:
        return list(TimelineEntrySerializer(subject_timeline(request=obj), many=True).data)


# --- The staff view -----------------------------------------------------------------------------


class RequestSummarySerializer(serializers.Serializer):
    """A row of the queue."""

    reference = serializers.CharField()
    organization = serializers.SlugField(source="organization.slug")
    request_type = serializers.ChoiceField(choices=RequestType.choices)
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    email = serializers.EmailField()
    name = serializers.CharField()
    account_identifier = serializers.CharField()
    assignee = UserRefSerializer(allow_null=True)
    received_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField(
        source="effective_due_at",
        allow_null=True,
        help_text="When the answer is due, extensions included; null until the clock starts.",
    )
    is_overdue = serializers.SerializerMethodField()
    closed_at = serializers.DateTimeField(allow_null=True)
    channel = serializers.SerializerMethodField(
        help_text="How the request came: the web form or API (web), or a controller (opendsr)."
    )

    def get_is_overdue(self, obj: SubjectRequest) -> bool:
        return obj.is_overdue()

    @extend_schema_field(serializers.ChoiceField(choices=["web", "opendsr"]))
    def get_channel(self, obj: SubjectRequest) -> str:
        return "opendsr" if hasattr(obj, "opendsr") else "web"


class EventSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EventKind.choices)
    actor_kind = serializers.ChoiceField(choices=ActorKind.choices)
    actor = serializers.CharField(source="actor_label")
    from_status = serializers.ChoiceField(choices=[("", ""), *RequestStatus.choices])
    to_status = serializers.ChoiceField(choices=[("", ""), *RequestStatus.choices])
    note = serializers.CharField(help_text="Internal note, never shown to the subject.")
    public_note = serializers.CharField(help_text="The message to the subject.")
    subject_visible = serializers.BooleanField()
    # A declared field, not Serializer.data: DRF's metaclass moves it into the fields.
    data = serializers.DictField()  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    hash = serializers.CharField(help_text="SHA-256 chaining this event to the one before.")


class ExtensionSerializer(serializers.Serializer):
    amount = serializers.IntegerField(source="extension_amount")
    unit = serializers.CharField(source="extension_unit")
    extended_due_at = serializers.DateTimeField()


class ExportSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    built_at = serializers.DateTimeField(allow_null=True)
    size = serializers.IntegerField(allow_null=True, help_text="Bytes.")
    total_rows = serializers.IntegerField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    link_expires_at = serializers.DateTimeField(allow_null=True)


class ErasureSummarySerializer(serializers.Serializer):
    status = serializers.CharField()
    approved_at = serializers.DateTimeField()
    execute_after = serializers.DateTimeField(
        help_text="The end of the grace period in which the subject can cancel."
    )
    finished_at = serializers.DateTimeField(allow_null=True)


class SystemTaskSerializer(serializers.Serializer):
    """What one system must do for the request, and what it answered."""

    system = serializers.CharField(source="system.name")
    system_slug = serializers.CharField(source="system.slug")
    system_kind = serializers.CharField(source="system.kind")
    action = serializers.CharField()
    status = serializers.CharField(
        help_text="pending, in_progress, failed (all open), done, nothing_found, "
        "not_applicable, closed (by an officer, see reason)."
    )
    owner = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    counts = serializers.DictField()
    kept = serializers.ListField()
    note = serializers.CharField()
    reason = serializers.CharField()
    answer_rows = serializers.IntegerField(source="data_rows", allow_null=True)
    answer_sha256 = serializers.CharField(source="data_sha256")
    answered_by = serializers.CharField()
    finished_at = serializers.DateTimeField(allow_null=True)


class OpenDSRRefSerializer(serializers.Serializer):
    controller = serializers.CharField(source="controller.identifier")
    subject_request_id = serializers.UUIDField()
    regulation = serializers.CharField()
    request_status = serializers.CharField()


class RequestDetailSerializer(RequestSummarySerializer):
    """The record of one request, its audit trail and what the caller may do with it now."""

    phone = serializers.CharField()
    language = serializers.CharField()
    on_behalf_relationship = serializers.CharField()
    on_behalf_subject_name = serializers.CharField()
    description = serializers.CharField()
    details = serializers.DictField()
    policy_version = serializers.CharField(source="policy_version.version_label")
    verified_at = serializers.DateTimeField(allow_null=True)
    clock_started_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(
        allow_null=True, help_text="The deadline before any extension."
    )
    extension = serializers.SerializerMethodField()
    on_hold_since = serializers.DateTimeField(allow_null=True)
    paused_days = serializers.IntegerField()
    outcome = serializers.CharField()
    reason_code = serializers.ChoiceField(choices=[("", ""), *ReasonCode.choices])
    opendsr = serializers.SerializerMethodField()
    exports = serializers.SerializerMethodField()
    erasure = serializers.SerializerMethodField()
    available_actions = serializers.SerializerMethodField(
        help_text="The actions your role allows on this request in its current status."
    )
    system_tasks = serializers.SerializerMethodField(
        help_text="One task per system of the organisation the request concerns."
    )
    events = serializers.SerializerMethodField()

    @extend_schema_field(ExtensionSerializer(allow_null=True))
    def get_extension(self, obj: SubjectRequest) -> dict[str, Any] | None:
        if obj.extension_amount is None:
            return None
        return dict(ExtensionSerializer(obj).data)

    @extend_schema_field(ExportSummarySerializer(many=True))
    def get_exports(self, obj: SubjectRequest) -> list[dict[str, Any]]:
        packages = obj.export_packages.order_by("-created_at", "-pk")
        rows: list[dict[str, Any]] = ExportSummarySerializer(packages, many=True).data  # type: ignore[assignment]
        return rows

    @extend_schema_field(ErasureSummarySerializer(allow_null=True))
    def get_erasure(self, obj: SubjectRequest) -> dict[str, Any] | None:
        schedule = getattr(obj, "erasure", None)
        return dict(ErasureSummarySerializer(schedule).data) if schedule is not None else None

    @extend_schema_field(OpenDSRRefSerializer(allow_null=True))
    def get_opendsr(self, obj: SubjectRequest) -> dict[str, Any] | None:
        link = getattr(obj, "opendsr", None)
        return dict(OpenDSRRefSerializer(link).data) if link is not None else None

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=list(roles.ACTION_PERMISSIONS)))
    )
    def get_available_actions(self, obj: SubjectRequest) -> list[str]:
        return roles.available_actions(self.context["request"].user, obj)

    @extend_schema_field(SystemTaskSerializer(many=True))
    def get_system_tasks(self, obj: SubjectRequest) -> list[dict[str, Any]]:
        tasks = obj.system_tasks.select_related("system", "owner_user").order_by("system__name")
        rows: list[dict[str, Any]] = SystemTaskSerializer(tasks, many=True).data  # type: ignore[assignment]
        return rows

    @extend_schema_field(EventSerializer(many=True))
    def get_events(self, obj: SubjectRequest) -> list[dict[str, Any]]:
        events = RequestEvent.objects.filter(request=obj).order_by("sequence")
        rows: list[dict[str, Any]] = EventSerializer(events, many=True).data  # type: ignore[assignment]
        return rows

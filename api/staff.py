"""The staff endpoints: the queue, one request's record, and each workflow action.

Each action is one endpoint calling the same ``requests_app.workflow`` service as the admin's
action page, allowed by the same ``requests_app.roles`` rules: 403 when the role does not allow
it, 409 when the request's status does not (``IllegalTransition`` / ``IllegalAction``), 400 when
the input does not (a missing reason, an extension past the policy's maximum). Systems sign in
with a staff API token (``Authorization: Token ...``, ``api.authentication``), browsers with
their admin session (and its CSRF token).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import Conflict, error_responses
from api.fields import PlainTextField
from api.permissions import (
    IsStaffWithRequestAccess,
    check_action,
    check_permission,
)
from api.serializers import RequestDetailSerializer, RequestSummarySerializer
from api.throttles import UserThrottle
from erasure.selectors import may_approve_erasure
from erasure.services import erasure_approve
from exports.delivery import export_create, export_deliver
from exports.models import ExportPackage, ExportStatus
from policies.models import RequestType
from requests_app import roles
from requests_app.audit import Actor
from requests_app.models import ReasonCode, RequestStatus, SubjectRequest, effective_due
from requests_app.workflow import (
    request_assign,
    request_complete,
    request_extend,
    request_hold,
    request_reject,
    request_resume,
    request_start,
)

TAG = "Staff: subject requests"

REFERENCE_EXAMPLE = "DSR-2026-000123"
# What a reference can look like; the URLs answer 404 for anything else before any query.
REFERENCE_PATTERN = r"[A-Za-z0-9-]{1,20}"
_REFERENCE = OpenApiParameter(
    "reference",
    str,
    OpenApiParameter.PATH,
    description="The request's reference.",
    pattern=f"^{REFERENCE_PATTERN}$",
    examples=[OpenApiExample("A reference", value=REFERENCE_EXAMPLE)],
)


def _requests(user: Any) -> QuerySet[SubjectRequest]:
    """The requests ``user`` may see, with what the serializers read."""
    return roles.visible_requests(
        user,
        SubjectRequest.objects.select_related(
            "organization",
            "assignee",
            "policy_version",
            "rule",
            "opendsr__controller",
            "erasure",
        ),
    )


class StaffView(APIView):
    permission_classes = [IsStaffWithRequestAccess]
    throttle_classes = [UserThrottle]

    def subject_request(self, reference: str) -> SubjectRequest:
        return get_object_or_404(_requests(self.request.user), reference=reference)

    def detail(self, subject_request: SubjectRequest) -> Response:
        subject_request = self.subject_request(subject_request.reference)
        return Response(
            RequestDetailSerializer(subject_request, context={"request": self.request}).data
        )


class RequestListView(ListAPIView[SubjectRequest]):
    permission_classes = [IsStaffWithRequestAccess]
    throttle_classes = [UserThrottle]
    serializer_class = RequestSummarySerializer

    class FilterSerializer(serializers.Serializer):
        status = serializers.MultipleChoiceField(
            choices=RequestStatus.choices,
            required=False,
            help_text="One or more statuses (repeat the parameter).",
        )
        request_type = serializers.ChoiceField(choices=RequestType.choices, required=False)
        organization = serializers.SlugField(required=False, help_text="Organisation slug.")
        assignee = serializers.RegexField(
            r"^(me|none|[0-9]{1,18})$",
            required=False,
            help_text="A user id, “me” or “none” (unassigned).",
        )
        due_before = serializers.DateTimeField(
            required=False, help_text="Deadline (extensions included) at or before this time."
        )
        overdue = serializers.BooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text="true: only overdue open requests; false: none of them.",
        )

    @extend_schema(
        tags=[TAG],
        operation_id="staff_request_list",
        summary="The queue, newest first, with filters",
        parameters=[FilterSerializer],
        responses={200: RequestSummarySerializer(many=True), **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[SubjectRequest]:
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        requests = _requests(self.request.user)
        if wanted.get("status"):
            requests = requests.filter(status__in=sorted(wanted["status"]))
        if wanted.get("request_type"):
            requests = requests.filter(request_type=wanted["request_type"])
        if wanted.get("organization"):
            requests = requests.filter(organization__slug=wanted["organization"])
        assignee = wanted.get("assignee")
        if assignee == "me":
            requests = requests.filter(assignee_id=self.request.user.pk)
        elif assignee == "none":
            requests = requests.filter(assignee__isnull=True)
        elif assignee:
            requests = requests.filter(assignee_id=int(assignee))
        if wanted.get("due_before"):
            requests = requests.alias(deadline=effective_due()).filter(
                deadline__lte=wanted["due_before"]
            )
        overdue = SubjectRequest.objects.overdue(timezone.now()).values("pk")
        if wanted.get("overdue") is True:
            requests = requests.filter(pk__in=overdue)
        elif wanted.get("overdue") is False:
            requests = requests.exclude(pk__in=overdue)
        return requests


class RequestDetailView(StaffView):
    @extend_schema(
        tags=[TAG],
        operation_id="staff_request_detail",
        summary="One request: its record, its audit trail and the actions you may take",
        parameters=[_REFERENCE],
        responses={200: RequestDetailSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, reference: str) -> Response:
        return self.detail(self.subject_request(reference))


def _action_schema(action: str, summary: str, request: Any = None) -> Any:
    return extend_schema(
        tags=[TAG],
        operation_id=f"staff_request_{action}",
        summary=summary,
        parameters=[_REFERENCE],
        request=request,
        responses={
            200: RequestDetailSerializer,
            **error_responses(400, 401, 403, 404, 409, 413, 429),
        },
    )


class AssignToMeView(StaffView):
    @_action_schema("assign_to_me", "Take the request: assign it to yourself")
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "assign_self", subject_request)
        user = cast(User, request.user)
        return self.detail(
            request_assign(request=subject_request, actor=Actor.staff(user), assignee=user)
        )


@extend_schema_field(OpenApiTypes.INT)
class AssignableUserField(serializers.PrimaryKeyRelatedField[User]):
    """A user the request may be assigned to: the same people the admin offers."""

    def get_queryset(self) -> QuerySet[User]:
        return roles.assignable_users()


class AssignView(StaffView):
    class InputSerializer(serializers.Serializer):
        assignee = AssignableUserField(
            allow_null=True,
            help_text="The id of an active staff user who can work on requests; null: nobody.",
        )

    @_action_schema("assign", "Assign the request to someone (or to nobody)", InputSerializer)
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "assign", subject_request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.detail(
            request_assign(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                assignee=serializer.validated_data["assignee"],
            )
        )


class StartView(StaffView):
    @_action_schema("start", "Start work on a verified request")
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "start", subject_request)
        return self.detail(
            request_start(request=subject_request, actor=Actor.staff(cast(User, request.user)))
        )


class HoldView(StaffView):
    class InputSerializer(serializers.Serializer):
        question = PlainTextField(
            multiline=True,
            max_length=2000,
            help_text="Emailed to the subject; the clock pauses if the policy says so.",
        )

    @_action_schema("hold", "Put on hold with a question for the subject", InputSerializer)
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "hold", subject_request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.detail(
            request_hold(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                question=serializer.validated_data["question"],
            )
        )


class ResumeView(StaffView):
    @_action_schema("resume", "Resume work on a request on hold")
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "resume", subject_request)
        return self.detail(
            request_resume(request=subject_request, actor=Actor.staff(cast(User, request.user)))
        )


class ExtendView(StaffView):
    class InputSerializer(serializers.Serializer):
        amount = serializers.IntegerField(
            min_value=1,
            max_value=366,
            help_text="In the policy's extension unit (days or months), up to its maximum.",
        )
        reason = PlainTextField(multiline=True, max_length=2000, help_text="The subject is told.")

    @_action_schema("extend", "Extend the deadline once, with a reason", InputSerializer)
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "extend", subject_request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.detail(
            request_extend(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                amount=serializer.validated_data["amount"],
                reason=serializer.validated_data["reason"],
            )
        )


class RejectView(StaffView):
    class InputSerializer(serializers.Serializer):
        reason_code = serializers.ChoiceField(choices=ReasonCode.choices)
        reason = PlainTextField(
            multiline=True,
            max_length=5000,
            help_text="Emailed to the subject with their right to complain.",
        )

    @_action_schema("reject", "Reject with a reason code and an explanation", InputSerializer)
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "reject", subject_request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.detail(
            request_reject(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                reason_code=serializer.validated_data["reason_code"],
                reason=serializer.validated_data["reason"],
            )
        )


class CompleteView(StaffView):
    class InputSerializer(serializers.Serializer):
        outcome = PlainTextField(
            multiline=True, max_length=5000, help_text="What was done; emailed to the subject."
        )

    @_action_schema("complete", "Complete with the outcome for the subject", InputSerializer)
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_action(request, "complete", subject_request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.detail(
            request_complete(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                outcome=serializer.validated_data["outcome"],
            )
        )


class BuildExportView(StaffView):
    @_action_schema("build_export", "Build the export package of an access or portability request")
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_permission(request, roles.BUILD_EXPORT, subject_request)
        export_create(request=subject_request, actor=Actor.staff(cast(User, request.user)))
        return self.detail(subject_request)


class DeliverExportView(StaffView):
    @_action_schema(
        "deliver_export",
        "Deliver the ready export package: the subject gets a download link",
    )
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        check_permission(request, roles.DELIVER_EXPORT, subject_request)
        package = (
            ExportPackage.objects.select_related("request__organization")
            .filter(request=subject_request, status=ExportStatus.READY)
            .order_by("-created_at")
            .first()
        )
        if package is None:
            raise Conflict(
                _("Request %(reference)s has no export package ready for delivery.")
                % {"reference": subject_request.reference},
                code="no_export_ready",
            )
        export_deliver(package=package, actor=Actor.staff(cast(User, request.user)))
        return self.detail(subject_request)


class ApproveErasureView(StaffView):
    @_action_schema(
        "approve_erasure",
        "Approve the erasure a deletion request asks for; it runs after the grace period",
    )
    def post(self, request: Request, reference: str) -> Response:
        subject_request = self.subject_request(reference)
        if not may_approve_erasure(request.user, subject_request):
            check_permission(request, roles.APPROVE_ERASURE, subject_request)
        erasure_approve(request=subject_request, actor=Actor.staff(cast(User, request.user)))
        return self.detail(subject_request)

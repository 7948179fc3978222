"""The subject's endpoints: see what a policy offers, file a request, confirm, follow, withdraw.

They are the web pages' twins and call the same services with the same validation (the public
form itself validates the input), the same rate limits (counted together with the pages') and
the same duplicate rule. Like the pages, they never tell whether an address has a request: a new
filing, a duplicate and one over the per-address limit get the same 202, and every link that does
not work gets the same 404.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import NON_FIELD, error_responses
from api.serializers import SubjectStatusSerializer
from api.throttles import LimitReached, PublicThrottle
from config.locale import subject_language
from policies.deadlines import response_period
from policies.models import Organization, RequestType
from requests_app.audit import Actor
from requests_app.forms import SubjectRequestForm
from requests_app.intake import request_submit
from requests_app.limits import client_key, limit_count, limit_reached, link_open_count
from requests_app.selectors import intake_offer
from requests_app.verification import MAX_TOKEN_LENGTH, request_verify, status_request
from requests_app.workflow import request_withdraw

TAG = "Subject requests (public)"

_TOKEN = OpenApiParameter(
    "token",
    str,
    OpenApiParameter.PATH,
    description="The secret token from the link in the subject's email.",
    pattern=rf"^[A-Za-z0-9_-]{{1,{MAX_TOKEN_LENGTH}}}$",
)
_ORG = OpenApiParameter(
    "org_slug",
    str,
    OpenApiParameter.PATH,
    description="The organisation, e.g. zpos.",
    pattern=r"^[-a-zA-Z0-9_]+$",
)


class PublicView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicThrottle]


def _offer_or_404(org_slug: str) -> tuple[Organization, Any]:
    organization = get_object_or_404(Organization, slug=org_slug)
    offer = intake_offer(organization=organization)
    if offer is None:
        raise Http404
    return organization, offer


class OfferView(PublicView):
    class OutputSerializer(serializers.Serializer):
        class RequestTypeSerializer(serializers.Serializer):
            request_type = serializers.ChoiceField(choices=RequestType.choices)
            label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
            response_period = serializers.CharField(help_text="e.g. “30 calendar days”.")
            identity_verification_required = serializers.BooleanField()

        organization = serializers.SlugField()
        name = serializers.CharField()
        policy_version = serializers.CharField()
        languages = serializers.ListField(child=serializers.CharField())
        request_types = RequestTypeSerializer(many=True)

    @extend_schema(
        tags=[TAG],
        operation_id="public_offer",
        summary="The request types an organisation's policy in force offers",
        parameters=[_ORG],
        responses={200: OutputSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, org_slug: str) -> Response:
        organization, offer = _offer_or_404(org_slug)
        data = {
            "organization": organization.slug,
            "name": organization.name,
            "policy_version": offer.version.version_label,
            "languages": list(organization.languages),
            "request_types": [
                {
                    "request_type": rule.request_type,
                    "label": rule.get_request_type_display(),
                    "response_period": str(response_period(rule)),
                    "identity_verification_required": rule.identity_verification_required,
                }
                for rule in offer.rules
            ],
        }
        return Response(self.OutputSerializer(data).data)


NOT_FORM_FIELDS = frozenset({"language", "authorisation_base64", "authorisation_filename"})


def _authorisation_files(data: dict[str, Any]) -> dict[str, SimpleUploadedFile]:
    """The base64 authorisation as the form's uploaded file (none when not given)."""
    encoded = data.get("authorisation_base64") or ""
    if not encoded:
        return {}
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise exceptions.ValidationError(
            {"authorisation_base64": [_("This is not valid base64.")]}
        ) from None
    name = data.get("authorisation_filename") or "authorisation"
    return {"authorisation": SimpleUploadedFile(name, content)}


class FileRequestView(PublicView):
    class InputSerializer(serializers.Serializer):
        """The web form's fields; the form itself validates them (``SubjectRequestForm``)."""

        request_type = serializers.ChoiceField(choices=RequestType.choices)
        email = serializers.CharField(max_length=254)
        name = serializers.CharField(max_length=200)
        account_identifier = serializers.CharField(max_length=100, required=False, allow_blank=True)
        phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
        description = serializers.CharField(
            max_length=2000,
            required=False,
            allow_blank=True,
            help_text="Required for objection and restriction: what and why.",
        )
        about = serializers.ChoiceField(
            choices=["self", "child", "represented"],
            required=False,
            default="self",
            help_text=(
                "Who the request is about: the filer (self), the filer's child (the filer is "
                "their parent or guardian) or someone the filer represents (authorised agent)."
            ),
        )
        on_behalf_subject_name = serializers.CharField(
            max_length=200, required=False, allow_blank=True, help_text="Their full name."
        )
        subject_email = serializers.CharField(
            max_length=254,
            required=False,
            allow_blank=True,
            help_text="Their email address as the business knows it (finds their data).",
        )
        subject_phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
        subject_account_identifier = serializers.CharField(
            max_length=100, required=False, allow_blank=True
        )
        subject_date_of_birth = serializers.CharField(
            max_length=10, required=False, allow_blank=True, help_text="YYYY-MM-DD; for a child."
        )
        authorisation_base64 = serializers.CharField(
            max_length=7_000_000,
            required=False,
            allow_blank=True,
            help_text="The filer's authorisation (PDF, PNG or JPEG, up to 5 MB), base64.",
        )
        authorisation_filename = serializers.CharField(
            max_length=200, required=False, allow_blank=True
        )
        correction_field = serializers.CharField(
            max_length=200, required=False, help_text="Correction: which information is wrong."
        )
        correction_value = serializers.CharField(
            max_length=500, required=False, help_text="Correction: the correct information."
        )
        confirm_deletion = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Deletion: must be true (the subject understands it cannot be undone).",
        )
        complaint_text = serializers.CharField(
            max_length=5000, required=False, help_text="Complaint: its text."
        )
        language = serializers.ChoiceField(
            choices=[code for code, _name in settings.LANGUAGES],
            required=False,
            help_text="The language of the emails; by default the request's (Accept-Language).",
        )

    class OutputSerializer(serializers.Serializer):
        detail = serializers.CharField()

    @extend_schema(
        tags=[TAG],
        operation_id="public_request_file",
        summary="File a request",
        description=(
            "Validated as the web form is. A confirmation link is emailed to the address; the "
            "request counts from then as the policy says. If the address already has an open "
            "request of this type, it gets a link to that one instead. The answer is the same "
            "in every case, so it reveals nothing about who has filed what."
        ),
        parameters=[_ORG],
        request=InputSerializer,
        examples=[
            OpenApiExample(
                "Access request",
                value={
                    "request_type": "access",
                    "email": "owner@shop.example",
                    "name": "Bobur Aliyev",
                    "account_identifier": "shop-7",
                },
                request_only=True,
            )
        ],
        responses={202: OutputSerializer, **error_responses(400, 404, 413, 429)},
    )
    def post(self, request: Request, org_slug: str) -> Response:
        organization, offer = _offer_or_404(org_slug)
        # As on the web form, only accepted filings count against the network's limit.
        network_limit = {
            "group": "request-form-ip",
            "rate": settings.RATELIMIT_REQUEST_PER_IP,
            "key": client_key(request._request),
        }
        if refusal := limit_reached(**network_limit):
            raise LimitReached(refusal)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rule = offer.rule_for(data["request_type"])
        if rule is None:
            raise exceptions.ValidationError(
                {"request_type": [_("This organisation's policy does not offer this request.")]}
            )
        form = SubjectRequestForm(
            {key: value for key, value in data.items() if key not in NOT_FORM_FIELDS},
            _authorisation_files(data),
            request_type=rule.request_type,
        )
        if not form.is_valid():
            raise exceptions.ValidationError(
                {
                    NON_FIELD if field == "__all__" else field: [e["message"] for e in errors]
                    for field, errors in form.errors.get_json_data().items()
                }
            )
        if refusal := limit_count(**network_limit):
            raise LimitReached(refusal)
        subject = form.subject_details()
        # Over the per-address limit nothing is sent and the answer is the usual one, as on the
        # web page, so the limit cannot tell anyone that an address was used.
        if not limit_count(
            group="request-form-email", rate=settings.RATELIMIT_REQUEST_PER_EMAIL, key=subject.email
        ):
            request_submit(
                organization=organization,
                version=offer.version,
                rule=rule,
                subject=subject,
                language=data.get("language") or subject_language(organization),
            )
        return Response(
            {"detail": str(_("Thank you. Please check your email to confirm the request."))},
            status=status.HTTP_202_ACCEPTED,
        )


class ConfirmView(PublicView):
    class OutputSerializer(serializers.Serializer):
        status_token = serializers.CharField(
            help_text="The secret for the status endpoints; keep it private."
        )
        request = SubjectStatusSerializer()

    @extend_schema(
        tags=[TAG],
        operation_id="public_request_confirm",
        summary="Confirm the email address with the token of the confirmation link",
        description=(
            "Does what opening the confirmation link and pressing the button does: the token is "
            "spent, the request is verified, and a status token comes back."
        ),
        parameters=[_TOKEN],
        request=None,
        responses={200: OutputSerializer, **error_responses(404, 429)},
    )
    def post(self, request: Request, token: str) -> Response:
        if refusal := link_open_count(request._request):
            raise LimitReached(refusal)
        subject_request, status_token = request_verify(token=token)
        return Response(
            self.OutputSerializer({"status_token": status_token, "request": subject_request}).data
        )


class StatusView(PublicView):
    @extend_schema(
        tags=[TAG],
        operation_id="public_request_status",
        summary="A request's status, as the status page shows it",
        parameters=[_TOKEN],
        responses={200: SubjectStatusSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, token: str) -> Response:
        if refusal := link_open_count(request._request):
            raise LimitReached(refusal)
        return Response(SubjectStatusSerializer(status_request(token=token)).data)


class WithdrawView(PublicView):
    @extend_schema(
        tags=[TAG],
        operation_id="public_request_withdraw",
        summary="Withdraw a request the subject no longer wants answered",
        parameters=[_TOKEN],
        request=None,
        responses={200: SubjectStatusSerializer, **error_responses(404, 409, 429)},
    )
    def post(self, request: Request, token: str) -> Response:
        if refusal := link_open_count(request._request):
            raise LimitReached(refusal)
        subject_request = status_request(token=token)
        withdrawn = request_withdraw(request=subject_request, actor=Actor.subject())
        return Response(SubjectStatusSerializer(withdrawn).data)

"""The OpenDSR v2 processor endpoints under ``/v1/``.

Every answer, errors included, carries ``X-OpenDSR-Processor-Domain`` and ``X-OpenDSR-Signature``
(and their OpenGDPR names): the signature covers the raw body exactly as sent. Errors use the
spec's error object, ``{"error": {"code", "message", "errors": [{"domain", "reason",
"message"}]}}``, with the status codes of ``api.errors`` (400 invalid, 401 unknown
controller, 404 unknown request, 409 a state that does not allow it, 413, 415, 429).

Where the spec is silent or contradicts itself, we decided:

- ``/v1/requests`` is the collection (v2's README); ``/v1/opengdpr_requests`` answers the same
  for controllers written against OpenGDPR, and the certificate is at ``/v1/certificate.pem``.
  The ``/status`` endpoint section 3.1 names but never defines is ``GET /v1/requests/{id}``.
- ``processor_signature`` in a body signs that body without the member (it cannot sign itself);
  the header signs the whole body.
- Cancelling a request that is no longer pending is 409; cancelling one already cancelled is 202
  again. A repeat of a ``subject_request_id`` returns the first receipt (201), unless it comes
  with a different type or identities (409).
- A new request whose subject already has an open request of the type (through the web form, or
  another controller) is refused with 409: one piece of work per subject and type at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from uuid import UUID

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import PayloadTooLarge
from api.errors import exception_handler as api_exception_handler
from api.parsers import JSONParser
from api.throttles import ControllerThrottle
from opendsr.authentication import ControllerKeyAuthentication, IsController
from opendsr.models import Controller, OpenDSRRequest, OpenDSRType
from opendsr.serializers import (
    API_VERSION,
    SUPPORTED_IDENTITIES,
    CancellationOutputSerializer,
    DiscoveryOutputSerializer,
    ReceiptOutputSerializer,
    RequestInputSerializer,
    StatusOutputSerializer,
    certificate_url,
    compact_json,
)
from opendsr.services import opendsr_request_cancel, opendsr_request_receive
from opendsr.signing import processor_keys, signature_headers

# OpenDSR requests are a few hundred bytes; anything near this is not one.
MAX_BODY_BYTES = 64 * 1024
TAG = "OpenDSR processor (v2)"

_DOMAINS = {
    400: "Validation",
    401: "Authentication",
    403: "Authorization",
    413: "Validation",
    415: "Validation",
    429: "RateLimit",
}


class OpenDSRJSONRenderer(BaseRenderer):
    """Compact JSON, always the same bytes for the same body (``processor_signature`` needs it)."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return b"" if data is None else compact_json(data)


class PEMRenderer(BaseRenderer):
    media_type = "application/x-pem-file"
    format = "pem"
    charset = None

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return data if isinstance(data, bytes) else compact_json(data)


def opendsr_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The API's error mapping, reshaped into the spec's error object (section 7.6)."""
    response = api_exception_handler(exc, context)
    data = response.data
    domain = _DOMAINS.get(response.status_code, "Request")
    errors = [
        {"domain": domain, "reason": data["code"], "message": f"{field}: {message}"}
        for field, messages in data.get("errors", {}).items()
        for message in messages
    ] or [{"domain": domain, "reason": data["code"], "message": data["detail"]}]
    response.data = {
        "error": {"code": response.status_code, "message": data["detail"], "errors": errors}
    }
    return response


class OpenDSRView(APIView):
    """An OpenDSR endpoint: a controller's API key, its rate, signed answers, spec errors."""

    authentication_classes = [ControllerKeyAuthentication]
    permission_classes = [IsController]
    throttle_classes = [ControllerThrottle]
    parser_classes = [JSONParser]
    renderer_classes = [OpenDSRJSONRenderer]

    def get_exception_handler(self) -> Any:
        return opendsr_exception_handler

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        # Rendered here, once, so the signature covers exactly the bytes that are sent.
        response.render()
        for name, value in signature_headers(response.content).items():
            response[name] = value
        response["Cache-Control"] = "no-store"
        return response


# --- Documentation ------------------------------------------------------------------------------


class OpenDSRErrorItemSerializer(serializers.Serializer):
    domain = serializers.CharField()
    reason = serializers.CharField()
    message = serializers.CharField()


class OpenDSRErrorObjectSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="The HTTP status.")
    message = serializers.CharField()
    errors = OpenDSRErrorItemSerializer(many=True)  # type: ignore[assignment]  # a field


class OpenDSRErrorSerializer(serializers.Serializer):
    """The spec's error answer; it never contains identity data."""

    error = OpenDSRErrorObjectSerializer()


_ERROR_TEXT = {
    400: "Invalid request (field messages in `errors`), or a request type the policy lacks.",
    401: "No API key, or an unknown or inactive one.",
    404: "No request with this subject_request_id from this controller.",
    409: "Not possible now: see the message (duplicate, reused id, not pending).",
    413: "The body is larger than 64 KiB.",
    415: "The body must be application/json.",
    429: "Too many requests from this controller; see `Retry-After`.",
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(OpenDSRErrorSerializer, description=_ERROR_TEXT[code])
        for code in codes
    }


_SIGNED = [
    OpenApiParameter(
        name,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=True,
        required=True,
        description=description,
    )
    for name, description in (
        ("X-OpenDSR-Processor-Domain", "The domain the signing certificate is issued for."),
        ("X-OpenDSR-Signature", "Base64 signature (SHA-256) of the raw response body."),
    )
]

_REQUEST_EXAMPLE = OpenApiExample(
    "Erasure request",
    value={
        "regulation": "gdpr",
        "subject_request_id": "a7551968-d5d6-44b2-9831-815ac9017798",
        "subject_request_type": "erasure",
        "submitted_time": "2026-10-02T15:00:00Z",
        "subject_identities": [
            {
                "identity_type": "email",
                "identity_value": "johndoe@example.com",
                "identity_format": "raw",
            }
        ],
        "api_version": "2.0",
        "status_callback_urls": ["https://dsr.merchant.example/opendsr/callbacks"],
    },
    request_only=True,
)

_ID_PARAMETER = OpenApiParameter(
    "subject_request_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The controller's subject_request_id (lowercase UUID v4).",
)


# --- Endpoints ----------------------------------------------------------------------------------


class DiscoveryView(OpenDSRView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=[TAG],
        operation_id="opendsr_discovery",
        summary="What this processor supports",
        description=(
            "Supported identities (an email in raw format is required with every request; the "
            "controller's customer id is kept as the account identifier) and request types, and "
            "the URL of the certificate that signs every answer and callback. No API key needed."
        ),
        auth=[],
        parameters=_SIGNED,
        responses={200: DiscoveryOutputSerializer, **_errors(429)},
    )
    def get(self, request: Request) -> Response:
        data = {
            "api_version": API_VERSION,
            "supported_identities": [
                {"identity_type": kind, "identity_format": form}
                for kind, form in SUPPORTED_IDENTITIES
            ],
            "supported_subject_request_types": list(OpenDSRType.values),
            "processor_certificate": certificate_url(),
        }
        return Response(DiscoveryOutputSerializer(data).data)


class CertificateView(OpenDSRView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    renderer_classes = [PEMRenderer]

    @extend_schema(
        tags=[TAG],
        operation_id="opendsr_certificate",
        summary="The processor's signing certificate (PEM)",
        auth=[],
        parameters=_SIGNED,
        responses={(200, "application/x-pem-file"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Response:
        return Response(processor_keys().certificate_pem)


class RequestCreateView(OpenDSRView):
    @extend_schema(
        tags=[TAG],
        operation_id="opendsr_request_create",
        summary="Forward a subject's request",
        description=(
            "Files the request under the processor organisation's policy in force, verified "
            "(the controller verified the subject). access -> access, portability -> "
            "portability, erasure -> deletion. Sending the same subject_request_id again returns "
            "the first receipt and changes nothing."
        ),
        request=RequestInputSerializer,
        parameters=_SIGNED,
        examples=[_REQUEST_EXAMPLE],
        responses={
            201: ReceiptOutputSerializer,
            **_errors(400, 401, 409, 413, 415, 429),
        },
    )
    def post(self, request: Request) -> Response:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            raise PayloadTooLarge(_("An OpenDSR request must be smaller than 64 KiB."))
        raw_body = request.body  # read before parsing: the receipt returns it as received
        controller = cast(Controller, request.auth)
        serializer = RequestInputSerializer(data=request.data, context={"controller": controller})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        receipt = opendsr_request_receive(
            controller=controller,
            subject_request_id=data["subject_request_id"],
            regulation=data["regulation"],
            request_type=data["subject_request_type"],
            identities=data["subject_identities"],
            email=data["email"],
            customer_id=data["customer_id"],
            submitted_time=data["submitted_time"],
            status_callback_urls=data.get("status_callback_urls", []),
            api_version=data.get("api_version", ""),
            raw_body=raw_body,
        )
        return Response(
            ReceiptOutputSerializer(receipt.opendsr_request).data, status=status.HTTP_201_CREATED
        )


class RequestDetailView(OpenDSRView):
    def _opendsr_request(self, request: Request, subject_request_id: str) -> OpenDSRRequest:
        try:
            wanted = UUID(subject_request_id)
        except ValueError:
            wanted = None
        found = (
            OpenDSRRequest.objects.select_related("controller", "request")
            .filter(controller=cast(Controller, request.auth), subject_request_id=wanted)
            .first()
            if wanted is not None
            else None
        )
        if found is None:
            raise exceptions.NotFound(_("No request with this subject_request_id."))
        return found

    @extend_schema(
        tags=[TAG],
        operation_id="opendsr_request_status",
        summary="A request's status",
        description=(
            "pending: received or verified, not yet worked on; in_progress: being worked on or on "
            "hold; completed; cancelled: cancelled by the controller, withdrawn by the subject, "
            "rejected or expired. expected_completion_time is the deadline that applies, "
            "extensions included."
        ),
        parameters=[_ID_PARAMETER, *_SIGNED],
        responses={200: StatusOutputSerializer, **_errors(401, 404, 429)},
    )
    def get(self, request: Request, subject_request_id: str) -> Response:
        found = self._opendsr_request(request, subject_request_id)
        return Response(StatusOutputSerializer(found).data)

    @extend_schema(
        tags=[TAG],
        operation_id="opendsr_request_cancel",
        summary="Cancel a pending request",
        description="Only while pending; the subject request is withdrawn. Repeating it is safe.",
        parameters=[_ID_PARAMETER, *_SIGNED],
        responses={202: CancellationOutputSerializer, **_errors(401, 404, 409, 429)},
    )
    def delete(self, request: Request, subject_request_id: str) -> Response:
        found = opendsr_request_cancel(
            opendsr_request=self._opendsr_request(request, subject_request_id)
        )
        received = found.cancelled_at or timezone.now()
        return Response(
            CancellationOutputSerializer(found, context={"received_time": received}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class NotFoundView(OpenDSRView):
    """Any other path under /v1/: a 404 in the spec's error shape, signed."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.NotFound()


# The OpenGDPR names of the same endpoints, kept for older controllers; documented once, above.
@extend_schema_view(post=extend_schema(exclude=True))
class LegacyRequestCreateView(RequestCreateView):
    pass


@extend_schema_view(get=extend_schema(exclude=True), delete=extend_schema(exclude=True))
class LegacyRequestDetailView(RequestDetailView):
    pass

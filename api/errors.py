"""Errors: every domain error mapped to one HTTP answer, in one shape, in this one place.

Every error the API returns is ``{"code": ..., "detail": ..., "errors": {...}}``: a stable code
for programs, a message for people (in the request's language), and for invalid input the
messages per field (``errors``; nested fields as dotted paths such as ``subject_identities.0``,
errors about the input as a whole under ``non_field_errors``). The OpenDSR views reshape the same
answer into the spec's error object (``opendsr.views``).

=========================================  ======  =====================
domain error                               status  code
=========================================  ======  =====================
invalid input, ``MissingReason``            400     invalid, missing_reason
a body that cannot be read                  400     parse_error
``ExtensionRefused``                        400     extension_refused
no or bad credentials                       401     not_authenticated, authentication_failed
role does not allow it                      403     permission_denied
unknown request, ``InvalidLink``            404     not_found, invalid_link
``IllegalTransition``                       409     illegal_transition
``IllegalAction`` (incl. ``ErasureRefused``)  409     illegal_action
``ExportRefused``, no export ready          409     export_refused, no_export_ready
OpenDSR: duplicate, id reused, not pending  409     duplicate_request, ...
OpenDSR: type not offered                   400     request_type_not_offered
a body too large (``RequestDataTooBig``)    413     payload_too_large
a body that is not JSON                     415     unsupported_media_type
too many requests                           429     throttled
=========================================  ======  =====================

Anything else is a bug: it is logged with its traceback and answered with a 500 that says
nothing about it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from exports.delivery import ExportRefused
from opendsr import services as opendsr
from requests_app.verification import InvalidLink
from requests_app.workflow import (
    ExtensionRefused,
    IllegalAction,
    IllegalTransition,
    MissingReason,
)

logger = logging.getLogger(__name__)

NON_FIELD = "non_field_errors"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request cannot be done in the state the resource is in.")
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


def api_exception(exc: Exception) -> Exception:
    """Return the API exception a domain error is answered with (others unchanged)."""
    if isinstance(exc, IllegalTransition):
        return Conflict(str(exc), code="illegal_transition")
    if isinstance(exc, ExtensionRefused):
        return exceptions.ValidationError({"amount": [str(exc)]}, code="extension_refused")
    if isinstance(exc, IllegalAction):
        return Conflict(str(exc), code="illegal_action")
    if isinstance(exc, MissingReason):
        return exceptions.ValidationError({NON_FIELD: [str(exc)]}, code="missing_reason")
    if isinstance(exc, InvalidLink):
        return exceptions.NotFound(
            _("This link is not valid: it is wrong, expired, already used or for another page."),
            code="invalid_link",
        )
    if isinstance(exc, ExportRefused):
        return Conflict(str(exc), code="export_refused")
    if isinstance(exc, opendsr.RequestTypeNotOffered):
        return exceptions.ValidationError(
            {"subject_request_type": [str(exc)]}, code="request_type_not_offered"
        )
    if isinstance(exc, opendsr.DuplicateOpenRequest):
        return Conflict(str(exc), code="duplicate_request")
    if isinstance(exc, opendsr.SubjectRequestIdReused):
        return Conflict(str(exc), code="subject_request_id_reused")
    if isinstance(exc, opendsr.NotPending):
        return Conflict(str(exc), code="not_pending")
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(serializers.as_serializer_error(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation | MultiPartParserError):
        return exceptions.ParseError()  # too many form fields or files, a broken multipart body
    return exc


def field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error detail into ``{"dotted.path": [messages]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            path = str(key) if not prefix or key == NON_FIELD else f"{prefix}.{key}"
            for name, messages in field_errors(value, path).items():
                flat.setdefault(name, []).extend(messages)
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            if item:
                for name, messages in field_errors(item, f"{prefix}.{index}").items():
                    flat.setdefault(name, []).extend(messages)
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD: [str(item) for item in items]}


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(exc, exceptions.ValidationError):
        # A validation error raised with one code (missing_reason...) keeps it; field errors are
        # "invalid" as a whole, their own codes being per field.
        own = set(_leaves(codes))
        return own.pop() if len(own) == 1 and own & _DOMAIN_VALIDATION_CODES else "invalid"
    return codes if isinstance(codes, str) else exc.default_code


_DOMAIN_VALIDATION_CODES = frozenset(
    {"missing_reason", "extension_refused", "request_type_not_offered"}
)


def _leaves(codes: Any) -> list[str]:
    if isinstance(codes, dict):
        return [leaf for value in codes.values() for leaf in _leaves(value)]
    if isinstance(codes, list):
        return [leaf for value in codes for leaf in _leaves(value)]
    return [str(codes)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler, with domain errors mapped and one error shape for all."""
    exc = api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):  # a bug, not input
        view = context.get("view")
        logger.error(
            "unhandled error in %s", type(view).__name__ if view else "the API", exc_info=exc
        )
        return Response(
            {"code": "server_error", "detail": str(_("Something went wrong on our side."))},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    body: dict[str, Any] = {"code": _code(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["detail"] = str(_("The input is not valid; see the messages per field."))
        body["errors"] = field_errors(exc.detail)
    else:
        body["detail"] = str(exc.detail)
    response.data = body
    return response


class NotFoundView(APIView):
    """Any other path under the API: a 404 in the API's error shape, never an HTML page."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.NotFound()


# --- Documentation ------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """The shape of every error answer."""

    code = serializers.CharField(
        help_text=(
            "Stable code: invalid, missing_reason, extension_refused, not_authenticated, "
            "authentication_failed, permission_denied, not_found, invalid_link, "
            "illegal_transition, illegal_action, throttled, ..."
        )
    )
    detail = serializers.CharField(help_text="What went wrong, in the request's language.")
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not .errors
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=(
            "Invalid input only: the messages per field, nested fields as dotted paths, "
            "errors about the input as a whole under non_field_errors."
        ),
    )


_DESCRIPTIONS = {
    400: "Invalid input: `errors` holds the messages per field.",
    401: "No credentials, or credentials that are wrong or inactive.",
    403: "Signed in, but the role does not allow this.",
    404: "No such request (or not one you may see), or a link that is not valid.",
    409: "Not possible in the request's current state (e.g. an illegal status change).",
    413: "The request body is too large.",
    429: "Too many requests; the `Retry-After` header says in how many seconds to try again.",
}

_EXAMPLES = {
    400: OpenApiExample(
        "Invalid input",
        value={
            "code": "invalid",
            "detail": "The input is not valid; see the messages per field.",
            "errors": {"email": ["Enter a valid email address."]},
        },
        response_only=True,
        status_codes=["400"],
    ),
    409: OpenApiExample(
        "Illegal transition",
        value={
            "code": "illegal_transition",
            "detail": "Request DSR-2026-000123 is “Completed” and cannot become “In progress”.",
        },
        response_only=True,
        status_codes=["409"],
    ),
    429: OpenApiExample(
        "Throttled",
        value={
            "code": "throttled",
            "detail": "Request was throttled. Expected available in 42 seconds.",
        },
        response_only=True,
        status_codes=["429"],
    ),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation, for ``extend_schema(responses=...)``."""
    return {
        code: OpenApiResponse(
            ErrorSerializer,
            description=_DESCRIPTIONS[code],
            examples=[_EXAMPLES[code]] if code in _EXAMPLES else [],
        )
        for code in codes
    }

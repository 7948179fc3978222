"""The OpenDSR v2 messages: what a controller sends, and what the processor answers and calls back.

Error messages never repeat a value the controller sent: the spec forbids identity data in
error bodies, so choice errors say "not supported" instead of quoting the input.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import PlainTextField
from opendsr.models import (
    Controller,
    OpenDSRCallback,
    OpenDSRRequest,
    OpenDSRStatus,
    OpenDSRType,
    Regulation,
)
from opendsr.signing import sign
from requests_app.forms import SubjectEmailField
from requests_app.models import SubjectRequest

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

API_VERSION = "2.0"

# The identity types of the spec (section 5.1) and formats (5.2); what we can act on is smaller.
IDENTITY_TYPES = (
    "controller_customer_id",
    "android_advertising_id",
    "android_id",
    "email",
    "fire_advertising_id",
    "ios_advertising_id",
    "ios_vendor_id",
    "microsoft_advertising_id",
    "microsoft_publisher_id",
    "roku_publisher_id",
    "roku_advertising_id",
)
IDENTITY_FORMATS = ("raw", "sha1", "md5", "sha256")
# A subject request is found and answered by email address, so a raw email is required; the
# controller's customer id is kept as the account identifier. Other identities are stored with
# the request but not acted on.
SUPPORTED_IDENTITIES = (("email", "raw"), ("controller_customer_id", "raw"))

# The controller's customer id is kept as the request's account identifier.
CUSTOMER_ID_MAX_LENGTH = SubjectRequest._meta.get_field("account_identifier").max_length or 0

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_NOT_SUPPORTED: dict[str, str | StrPromise] = {"invalid_choice": _("This value is not supported.")}


def compact_json(payload: dict[str, Any]) -> bytes:
    """Serialise ``payload`` exactly as the OpenDSR endpoints and callbacks send it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def with_processor_signature(payload: dict[str, Any]) -> dict[str, Any]:
    """Add ``processor_signature``: the signature of the body's other members, compact JSON.

    A signature cannot sign the body that contains it, so it covers the body as it is without
    this last member; the ``X-OpenDSR-Signature`` header covers the whole body as sent.
    """
    return {**payload, "processor_signature": sign(compact_json(payload))}


def certificate_url() -> str:
    return f"{settings.SITE_URL}{reverse('opendsr:certificate')}"


# --- What the controller sends ------------------------------------------------------------------


class IdentitySerializer(serializers.Serializer):
    identity_type = serializers.ChoiceField(choices=IDENTITY_TYPES, error_messages=_NOT_SUPPORTED)
    identity_value = PlainTextField(max_length=254)
    identity_format = serializers.ChoiceField(
        choices=IDENTITY_FORMATS, error_messages=_NOT_SUPPORTED
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The customer id becomes the request's account identifier, which holds no more.
        limit = CUSTOMER_ID_MAX_LENGTH
        if (
            attrs["identity_type"] == "controller_customer_id"
            and len(attrs["identity_value"]) > limit
        ):
            message = serializers.CharField.default_error_messages["max_length"]
            raise serializers.ValidationError(
                {"identity_value": [str(message).format(max_length=limit)]}, code="max_length"
            )
        return attrs


class RequestInputSerializer(serializers.Serializer):
    """An OpenDSR request (spec section 7.1.1). The controller comes from the API key."""

    regulation = serializers.ChoiceField(choices=Regulation.choices, error_messages=_NOT_SUPPORTED)
    subject_request_id = serializers.CharField(
        max_length=36,
        help_text="A lowercase UUID v4 chosen by the controller; sending it again is idempotent.",
    )
    subject_request_type = serializers.ChoiceField(
        choices=OpenDSRType.choices, error_messages=_NOT_SUPPORTED
    )
    subject_identities = IdentitySerializer(  # type: ignore[call-arg]  # ListSerializer's max_length
        many=True,
        allow_empty=False,
        max_length=20,
        help_text="Must include an email identity in raw format.",
    )
    submitted_time = serializers.DateTimeField(
        help_text="RFC 3339: when the subject made the request to the controller."
    )
    api_version = PlainTextField(max_length=10, required=False, allow_blank=True)
    status_callback_urls = serializers.ListField(
        child=serializers.URLField(max_length=2000),
        required=False,
        max_length=10,
        help_text="Each on one of the hosts registered for the controller; https only.",
    )
    extensions = serializers.DictField(
        required=False, help_text="Processor-specific elements, keyed by processor domain."
    )

    def validate_subject_request_id(self, value: str) -> UUID:
        if not _UUID4.match(value):
            raise serializers.ValidationError(_("Must be a lowercase UUID version 4."))
        return UUID(value)

    def validate_status_callback_urls(self, urls: list[str]) -> list[str]:
        controller: Controller = self.context["controller"]
        schemes = {"https", "http"} if settings.OPENDSR_CALLBACK_ALLOW_HTTP else {"https"}
        for url in urls:
            if url.split(":", 1)[0].lower() not in schemes:
                raise serializers.ValidationError(_("Callback URLs must use https."))
            if not controller.allows_callback_url(url):
                raise serializers.ValidationError(
                    _("A callback URL is not on a host registered for this controller.")
                )
        return list(dict.fromkeys(urls))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        identities = [dict(identity) for identity in attrs["subject_identities"]]
        emails = [
            i["identity_value"]
            for i in identities
            if (i["identity_type"], i["identity_format"]) == ("email", "raw")
        ]
        if not emails:
            raise serializers.ValidationError(
                {"subject_identities": [_("An email identity in raw format is required.")]}
            )
        try:
            email = SubjectEmailField(max_length=254).clean(emails[0])
        except DjangoValidationError as error:
            raise serializers.ValidationError({"subject_identities": error.messages}) from None
        customer_ids = [
            i["identity_value"]
            for i in identities
            if (i["identity_type"], i["identity_format"]) == ("controller_customer_id", "raw")
        ]
        return {
            **attrs,
            "subject_identities": identities,
            "email": email,
            "customer_id": customer_ids[0] if customer_ids else "",
        }


# --- What the processor answers -----------------------------------------------------------------


class IdentityPairSerializer(serializers.Serializer):
    identity_type = serializers.CharField()
    identity_format = serializers.CharField()


class DiscoveryOutputSerializer(serializers.Serializer):
    api_version = serializers.CharField()
    supported_identities = IdentityPairSerializer(many=True)
    supported_subject_request_types = serializers.ListField(
        child=serializers.ChoiceField(choices=OpenDSRType.choices)
    )
    processor_certificate = serializers.URLField(
        help_text="Where the certificate whose key signs every response and callback is."
    )


class _RequestOutputSerializer(serializers.Serializer):
    controller_id = serializers.CharField(source="controller.identifier")
    subject_request_id = serializers.UUIDField()
    api_version = serializers.SerializerMethodField()

    def get_api_version(self, obj: Any) -> str:
        return API_VERSION


class StatusOutputSerializer(_RequestOutputSerializer):
    """A request's status (spec section 8.3)."""

    expected_completion_time = serializers.DateTimeField()
    request_status = serializers.ChoiceField(choices=OpenDSRStatus.choices)

    def to_representation(self, instance: OpenDSRRequest) -> dict[str, Any]:
        data = super().to_representation(instance)
        return {
            "controller_id": data["controller_id"],
            "expected_completion_time": data["expected_completion_time"],
            "subject_request_id": data["subject_request_id"],
            "request_status": data["request_status"],
            "api_version": data["api_version"],
        }


class ReceiptOutputSerializer(_RequestOutputSerializer):
    """The answer to a new request (spec section 7.3)."""

    expected_completion_time = serializers.DateTimeField()
    received_time = serializers.DateTimeField()
    encoded_request = serializers.CharField(
        help_text="Base64 of the request body as received; controllers must not log or store it."
    )
    processor_signature = serializers.CharField(
        read_only=True,
        help_text=(
            "Base64 signature (SHA-256, the processor certificate's key) of this body without "
            "this member, as compact JSON; X-OpenDSR-Signature signs the whole body."
        ),
    )

    def to_representation(self, instance: OpenDSRRequest) -> dict[str, Any]:
        data = super().to_representation(instance)
        return with_processor_signature(
            {
                "controller_id": data["controller_id"],
                "expected_completion_time": data["expected_completion_time"],
                "received_time": data["received_time"],
                "encoded_request": data["encoded_request"],
                "subject_request_id": data["subject_request_id"],
                "api_version": data["api_version"],
            }
        )


class CancellationOutputSerializer(_RequestOutputSerializer):
    """The answer to a cancellation (spec section 9.2)."""

    received_time = serializers.SerializerMethodField()
    processor_signature = serializers.CharField(read_only=True)

    @extend_schema_field(serializers.DateTimeField(help_text="When the cancellation arrived."))
    def get_received_time(self, obj: OpenDSRRequest) -> str:
        moment = self.context["received_time"]
        return serializers.DateTimeField().to_representation(moment)

    def to_representation(self, instance: OpenDSRRequest) -> dict[str, Any]:
        data = super().to_representation(instance)
        return with_processor_signature(
            {
                "controller_id": data["controller_id"],
                "subject_request_id": data["subject_request_id"],
                "received_time": data["received_time"],
                "api_version": data["api_version"],
            }
        )


class CallbackBodySerializer(serializers.Serializer):
    """The body of a status callback (spec section 8.6)."""

    controller_id = serializers.CharField(source="opendsr_request.controller.identifier")
    expected_completion_time = serializers.DateTimeField(
        source="opendsr_request.expected_completion_time"
    )
    status_callback_url = serializers.URLField(source="url")
    subject_request_id = serializers.UUIDField(source="opendsr_request.subject_request_id")
    request_status = serializers.ChoiceField(choices=OpenDSRStatus.choices)
    api_version = serializers.SerializerMethodField()

    def get_api_version(self, obj: OpenDSRCallback) -> str:
        return API_VERSION

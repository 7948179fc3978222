"""Serializer fields shared by the REST API and the OpenDSR endpoints."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from requests_app.text import plain_text


class PlainTextField(serializers.CharField):
    """Free text under the rules the public form applies (``requests_app.text``).

    The value is normalised before ``max_length`` is checked, and a longer one is refused.
    """

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if not text:
            return text
        try:
            return plain_text(text, multiline=self.multiline)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages, code=error.code) from None

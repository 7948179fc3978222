"""How the OpenAPI schema names things (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``).

Every view nests its own ``InputSerializer`` / ``OutputSerializer``; the schema names their
components after the view (``HoldView.InputSerializer`` -> ``HoldInput``), so they never clash.
"""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(
        self, serializer: Any, direction: Literal["request", "response"]
    ) -> str:
        name: str = super().get_serializer_name(serializer, direction)
        owner, _dot, _rest = type(serializer).__qualname__.partition(".")
        if not _dot:
            return name
        return owner.removesuffix("View") + name

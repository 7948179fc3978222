"""How a controller proves who it is: ``Authorization: Bearer <API key>``.

The spec leaves controller authentication to the processor. Ours: each controller registered in
the admin gets an API key, shown once; we keep its SHA-256 only. A missing, unknown or
deactivated key is answered with 401 before anything else happens.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from opendsr.models import Controller
from opendsr.services import controller_for_key


class ControllerKeyAuthentication(BaseAuthentication):
    """Authenticate a controller by its API key; ``request.auth`` is the ``Controller``."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, Controller] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                _("The Authorization header must be: Bearer <API key>.")
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Unknown or inactive API key.")) from None
        controller = controller_for_key(key)
        if controller is None:
            raise exceptions.AuthenticationFailed(_("Unknown or inactive API key."))
        return AnonymousUser(), controller

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="opendsr"'


class IsController(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, Controller)


class ControllerKeyScheme(OpenApiAuthenticationExtension):
    target_class = ControllerKeyAuthentication
    name = "controllerApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "The controller's API key, issued when the controller is registered in the "
                "admin (OpenDSR controllers): Authorization: Bearer odsr_..."
            ),
        }

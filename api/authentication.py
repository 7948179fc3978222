"""How staff systems sign in to the API: ``Authorization: Token <key>`` of a staff API token.

Tokens are issued in the admin (Staff sign-in → API tokens) or by ``manage.py create_api_token``;
only their hash is stored (``staff_auth``). A request without the header is left to the next
authentication (the admin session). A wrong, expired or revoked key is a 401 and counts as a
failed log-in from the client's address; once the address is locked out (``staff_auth.lockout``)
every key from it is refused with 429 until the lock ends or a privacy officer lifts it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from staff_auth import lockout
from staff_auth.models import ApiToken
from staff_auth.tokens import api_token_authenticate


class StaffTokenAuthentication(BaseAuthentication):
    """Authenticate a staff member by an API token; ``request.auth`` is the ``ApiToken``."""

    keyword = b"token"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        http_request = request._request
        if not lockout.api_token_allowed(http_request):
            seconds = lockout.wait_seconds(http_request, lockout.api_token_credentials())
            raise exceptions.Throttled(
                wait=seconds,
                detail=_(
                    "Too many failed log-in attempts from this address; "
                    "ask a privacy officer to lift the lock, or wait."
                ),
            )
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                _("The Authorization header must be: Token <key>.")
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            key = ""
        token = api_token_authenticate(key)
        if token is None:
            lockout.api_token_failed(http_request)
            raise exceptions.AuthenticationFailed(_("Unknown, expired or revoked API token."))
        user: User = token.user
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


class StaffTokenScheme(OpenApiAuthenticationExtension):
    target_class = StaffTokenAuthentication
    name = "staffToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A staff API token, sent as Authorization: Token <key>. Issued in the admin "
                "(Staff sign-in → API tokens) or with manage.py create_api_token, shown once, "
                "named and valid until its expiry unless revoked; it acts with its staff "
                "member's role. Repeated failures lock the client's address out for a while "
                "(429 with Retry-After)."
            ),
        }

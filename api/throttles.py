"""Request rates for the API: per client address (public), per user (staff), per controller.

The rates are ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, read when a request is checked rather
than when this module is imported, so changing the settings (in tests, say) takes effect. The
client address is the web form's (``requests_app.limits.client_key``: the socket's unless
``TRUSTED_PROXY_COUNT`` trusts proxies), never DRF's own reading, which believes any
``X-Forwarded-For``. The public endpoints also keep the web form's own limits (``RATELIMIT_*``),
counted together with it; ``LimitReached`` answers those.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from requests_app.limits import Refusal, client_key


class LimitReached(Throttled):
    """A web form's limit refused the call: 429 with its message and ``Retry-After``."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(detail=refusal.message())
        self.wait = refusal.retry_after


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        rate: str | None = rates[str(self.scope)]
        return rate

    def get_ident(self, request: Request) -> str:
        return client_key(request._request)


class PublicThrottle(_SettingsRateThrottle):
    """The public endpoints: every client address gets the ``public`` rate."""

    scope = "public"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserThrottle(_SettingsRateThrottle):
    """Staff endpoints: the ``user`` rate per signed-in user (per address before signing in)."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str:
        user = request.user
        ident = f"user-{user.pk}" if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ControllerThrottle(_SettingsRateThrottle):
    """OpenDSR: the ``opendsr`` rate per controller (per address for unauthenticated calls)."""

    scope = "opendsr"

    def get_cache_key(self, request: Request, view: Any) -> str:
        controller = getattr(request, "auth", None)
        pk = getattr(controller, "pk", None)
        ident = f"controller-{pk}" if pk is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

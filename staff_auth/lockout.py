"""The staff log-in lockout: django-axes with two limits, and the page a locked-out client sees.

Every failed log-in (a wrong password on the admin's log-in page, an unknown, expired or revoked
API token) is recorded per username, address and user agent. A client is refused, even with the
right password, while in the last ``AXES_COOLOFF_TIME``

- its username has ``AXES_FAILURE_LIMIT`` failures from its address, or
- its address has ``LOGIN_FAILURE_LIMIT_PER_ADDRESS`` failures under any username.

Neither counts by username alone, so nobody can lock a colleague out from another address.
API tokens count under a name no account can have (``API_LOGIN_NAME``). Each failure in the
lockout starts the cool-off again; a privacy officer lifts a lock by deleting its attempts in the
admin ("Unlock"). The answer is the same whether or not the username exists.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_credentials, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Max, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _

# Usernames are letters, digits and @.+-_ only, so this names no account.
API_LOGIN_NAME = "(API token)"


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, with a limit per username at an address and one per address.

    Axes compares a single failure count with a single limit; this handler reports the
    username's failures at the address, or the limit itself once the address is locked.
    """

    def _recent(
        self, request: HttpRequest, credentials: dict[str, Any] | None
    ) -> tuple[QuerySet[AccessAttempt], QuerySet[AccessAttempt]]:
        """The attempts that still count: this username's at this address, and the address's."""
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        address = recent.filter(ip_address=request.axes_ip_address)  # type: ignore[attr-defined]
        return address.filter(username=get_client_username(request, credentials)), address

    def locked_until(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> datetime | None:
        """Return when the lockout of this username at this address ends, or None if none."""
        cool_off = get_cool_off(request) or timedelta()
        pair, address = (
            attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            for attempts in self._recent(request, credentials)
        )
        ends = [
            counted["last"] + cool_off
            for counted, limit in (
                (pair, get_failure_limit(request, credentials)),
                (address, settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS),
            )
            if (counted["failures"] or 0) >= limit
        ]
        return max(ends, default=None)

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        pair, address = (
            attempts.aggregate(failures=Sum("failures_since_start"))["failures"] or 0
            for attempts in self._recent(request, credentials)
        )
        if address >= settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS:
            return max(pair, get_failure_limit(request, credentials))
        return int(pair)

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """Forget this username's failures at this address (it just logged in), no others.

        Axes would also forget the whole address's, which would let anyone with an account
        reset the per-address count by logging in between guesses.
        """
        count, _deleted = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        ).delete()
        return count


def _handler() -> LockoutHandler:
    handler = AxesProxyHandler.get_implementation()
    if not isinstance(handler, LockoutHandler):
        raise ImproperlyConfigured("AXES_HANDLER must be staff_auth.lockout.LockoutHandler")
    return handler


def wait_seconds(request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
    """Return the seconds until this client's lockout ends (at least 1 while it is locked)."""
    AxesProxyHandler.update_request(request)
    until = _handler().locked_until(request, credentials)
    if until is None:
        return 0
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def api_token_credentials() -> dict[str, Any]:
    credentials: dict[str, Any] = get_credentials(API_LOGIN_NAME)
    return credentials


def api_token_allowed(request: HttpRequest) -> bool:
    """Whether API tokens may be tried from this request's address (it is not locked out)."""
    return bool(AxesProxyHandler.is_allowed(request, api_token_credentials()))


def api_token_failed(request: HttpRequest) -> None:
    """Record a wrong, expired or revoked API token as a failed log-in from the address.

    The call's body is neither read nor kept: axes would record ``request.POST``, and parsing a
    malformed or oversized body would raise before the failure counted, so a guesser could try
    keys without limit. Django marks an unparsable body the same way (``_mark_post_parse_error``).
    """
    request._post, request._files = QueryDict(), MultiValueDict()  # type: ignore[attr-defined]
    user_login_failed.send(__name__, credentials=api_token_credentials(), request=request)


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any]
) -> HttpResponse:
    """The answer to a locked-out log-in (``AXES_LOCKOUT_CALLABLE``): 429 with ``Retry-After``.

    The API gets its error shape; the admin a page. Neither names the username, so they read
    the same whether or not the account exists.
    """
    seconds = wait_seconds(request, credentials) or int(
        (get_cool_off(request) or timedelta()).total_seconds()
    )
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "code": "throttled",
                "detail": _(
                    "Too many failed log-in attempts from this address. Try again in "
                    "%(seconds)d seconds, or ask a privacy officer to lift the lock."
                )
                % {"seconds": seconds},
            },
            status=429,
        )
    else:
        # Rendered here: axes' middleware hands this on after the view, past template rendering.
        response = render(
            request,
            "staff_auth/locked_out.html",
            {
                **admin.site.each_context(request),
                "title": _("Log-in paused"),
                "minutes": _minutes(seconds),
            },
            status=429,
        )
    response["Retry-After"] = str(seconds)
    return response

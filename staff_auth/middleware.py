"""Holds a staff session without its second factor to the set-up page (staff_auth.two_factor)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from staff_auth.two_factor import device_confirmed, session_verified, two_factor_required


class TwoFactorMiddleware:
    """After django-otp's middleware: a staff session that lacks the second factor it needs.

    - It must set one up (none confirmed yet): every admin page leads to the set-up page.
    - It has a device but the session was not confirmed with a code (started before the device
      was set up): it is logged out and sent to the log-in page.
    - Outside the admin (the staff API's session log-in), it counts as not logged in.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.is_staff and not session_verified(request):
            has_device = device_confirmed(user) is not None
            if has_device or two_factor_required(user):
                held = self._hold(request, has_device=has_device)
                if held is not None:
                    return held
        return self.get_response(request)

    def _hold(self, request: HttpRequest, *, has_device: bool) -> HttpResponse | None:
        admin_root = reverse("admin:index")
        setup = reverse("staff_two_factor")
        if not request.path.startswith(admin_root):
            request.user = AnonymousUser()
            return None
        if request.path in (reverse("admin:logout"), reverse("admin:jsi18n")):
            return None
        if has_device:
            # Not the set-up page either: replacing a device takes a session confirmed by it.
            logout(request)
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('admin:login')}?{query}")
        return None if request.path == setup else HttpResponseRedirect(setup)

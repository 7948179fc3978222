"""The staff second factor: a time-based code from an authenticator app (TOTP, django-otp).

A staff member with a confirmed device gives its current code with the password on the admin's
log-in page; the session is then *verified* (django-otp keeps the device in the session). The
``STAFF_TWO_FACTOR`` setting says who must have one:

- ``optional`` (the default): anyone may set one up; nobody is made to;
- ``officers``: privacy officers (whoever may approve an erasure) and superusers must;
- ``all``: every staff member must.

Someone who must but has no device yet is sent to the set-up page after the password and can
reach nothing else (``TwoFactorMiddleware``); their session counts for nothing on the staff API
either. An officer who removes a colleague's lost device in the admin makes them set up a new
one at their next page; the removal is in the admin's history. The key is shown once, while the
device is being set up, and never again.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from django.conf import settings
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
    from django.http import HttpRequest

OPTIONAL = "optional"
OFFICERS = "officers"
ALL = "all"
CHOICES = (OPTIONAL, OFFICERS, ALL)

# Only privacy officers hold it (requests_app.roles); a string, so this layer imports no role.
_OFFICER_PERMISSION = "requests_app.approve_erasure"
DEVICE_NAME = "Authenticator app"


def two_factor_required(user: User | AnonymousUser) -> bool:
    """Return whether the setting makes this staff member use a second factor."""
    if not user.is_authenticated or not getattr(user, "is_staff", False):
        return False
    if settings.STAFF_TWO_FACTOR == ALL:
        return True
    if settings.STAFF_TWO_FACTOR == OFFICERS:
        return bool(getattr(user, "is_superuser", False) or user.has_perm(_OFFICER_PERMISSION))
    return False


def device_confirmed(user: AbstractBaseUser) -> TOTPDevice | None:
    """Return the staff member's confirmed device, if they have set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def device_pending(user: AbstractBaseUser) -> TOTPDevice:
    """Return the device being set up (created on first call; its key is shown until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def device_key(device: TOTPDevice) -> str:
    """Return the device's key in base32 (what authenticator apps take), in groups of four."""
    key = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[start : start + 4] for start in range(0, len(key), 4))


def device_confirm(request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Confirm ``device`` with a code it produced now; the session becomes verified.

    Any other device of the user (an older one, or one being set up in another tab) goes: a
    staff member has one authenticator at a time.
    """
    if not device.verify_token(token.replace(" ", "")):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    otp_login(request, device)
    return True


def session_verified(request: HttpRequest) -> bool:
    """Return whether this session's log-in was confirmed with a code (django-otp's middleware)."""
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified and is_verified())

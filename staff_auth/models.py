"""Staff API tokens (named, expiring, stored only as a hash) and failed staff log-ins."""

from __future__ import annotations

import hashlib
from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# New keys start with this, so a key pasted where it should not be is easy to recognise.
KEY_PREFIX = "dsr_"
HINT_LENGTH = 12


def api_token_hash(key: str) -> str:
    """Return the SHA-256 of a key: keys are at least 160 random bits, so no salt is needed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    """A staff member's key to the REST API (``Authorization: Token <key>``).

    The key is shown once when the token is created; only its SHA-256 and first characters are
    kept. It stops working when it expires, when it is revoked (deleted) or when its user is
    deactivated.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("staff member"),
        help_text=_("The API acts as this person, with their role."),
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What uses it, e.g. “ticketing system”.")
    )
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    key_hint = models.CharField(_("key starts with"), max_length=HINT_LENGTH, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return self.name

    def is_expired(self, at: datetime | None = None) -> bool:
        return self.expires_at <= (at or timezone.now())


class FailedLogin(AccessAttempt):
    """Failed log-ins as django-axes records them, shown to officers under Staff sign-in.

    One row per username, address and user agent, with how many times it failed; they lock the
    client out as ``staff_auth.lockout`` says, and deleting them lifts the lock.
    """

    class Meta:
        proxy = True
        verbose_name = _("failed log-in")
        verbose_name_plural = _("failed log-ins")

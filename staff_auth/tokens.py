"""Issuing and checking staff API tokens.

A token's key is 256 random bits shown once, when it is issued; the database keeps its SHA-256
(so a copy of the table signs nobody in) and its first characters, to tell tokens apart.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from staff_auth.models import HINT_LENGTH, KEY_PREFIX, ApiToken, api_token_hash

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Writing on every call would turn each read into a write; to the minute is enough to see which
# tokens are in use.
LAST_USED_PRECISION = timedelta(minutes=1)
# No key we issue or migrated is longer; longer input is not hashed at all.
KEY_MAX_LENGTH = 100


def api_token_issue(
    *, user: User, name: str, days: int, at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user`` valid for ``days`` days; return it and its key.

    The key is not stored: the caller shows it once. ``days`` is 1 to ``API_TOKEN_MAX_DAYS``.
    """
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValueError(f"a token is valid for 1 to {settings.API_TOKEN_MAX_DAYS} days")
    now = at or timezone.now()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=api_token_hash(key),
        key_hint=key[:HINT_LENGTH],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return token, key


def api_token_authenticate(key: str, *, at: datetime | None = None) -> ApiToken | None:
    """Return the token whose key is ``key`` if it may sign in now, noting its use; else None.

    It may if it exists (was not revoked), has not expired and its user is active.
    """
    if len(key) > KEY_MAX_LENGTH:
        return None
    now = at or timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=api_token_hash(key), expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    stale = now - LAST_USED_PRECISION
    if token.last_used_at is None or token.last_used_at <= stale:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token

"""The one-click unsubscribe link: signed per address and organisation, never stored.

The token is the address signed with the site's key under a salt naming the organisation, so a
link works only for the address and organisation it was made for, and nobody can make one for
another address. It does not expire: an unsubscribe link in an old newsletter must still work.
Put it in the business's own emails as (RFC 2369, RFC 8058)::

    List-Unsubscribe: <https://.../privacy/beshqozon/unsubscribe/TOKEN/>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

``manage.py unsubscribe_link ORGANISATION EMAIL`` prints both.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from policies.models import Organization
from requests_app.emails import absolute_url

# Longer input is not a token we made; refusing it early keeps verification bounded.
MAX_TOKEN_LENGTH = 600


def _signer(organization: Organization) -> signing.Signer:
    return signing.Signer(salt=f"effects.unsubscribe:{organization.slug}")


def unsubscribe_token(organization: Organization, email: str) -> str:
    return _signer(organization).sign_object(email.strip().lower())


def unsubscribe_email(organization: Organization, token: str) -> str | None:
    """The address ``token`` was made for in ``organization``, or ``None`` for a token that is not
    one of ours (altered, made for another organisation, or too long)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        email = _signer(organization).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    return email if isinstance(email, str) and "@" in email else None


def unsubscribe_url(organization: Organization, email: str) -> str:
    return absolute_url(
        reverse(
            "effects:unsubscribe",
            args=[organization.slug, unsubscribe_token(organization, email)],
        )
    )


def unsubscribe_headers(organization: Organization, email: str) -> dict[str, str]:
    """The headers a marketing email to ``email`` carries for one-click unsubscribing."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(organization, email)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }

"""Rate limits of the subject's pages and the public API: one count for both.

The web form and the API's twin endpoints count in the same django-ratelimit groups (the shared
cache), so a client cannot double its allowance by switching between them. The client address
is the socket's unless ``RATELIMIT_IP_META_KEY`` names a header a trusted proxy sets.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited


def over_limit(request: HttpRequest, *, group: str, rate: str, key: str | None = None) -> bool:
    """Count this attempt in ``group`` against ``rate`` and say whether it is over the limit.

    ``key`` is what is counted (an email address, say); by default, the client address.
    """
    if key is None:
        return bool(is_ratelimited(request, group=group, key="ip", rate=rate, increment=True))
    value = key
    return bool(
        is_ratelimited(
            request, group=group, key=lambda _group, _request: value, rate=rate, increment=True
        )
    )

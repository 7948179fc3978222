from __future__ import annotations

from django.core import checks
from django_ratelimit.checks import check_caches


def test_the_rate_limit_cache_passes_django_ratelimits_checks() -> None:
    errors = [message for message in check_caches(None) if message.level >= checks.ERROR]

    assert errors == []

from __future__ import annotations

import time
from typing import Any

from config.cache import RedisCacheWithFallback

# Nothing listens on port 1: connections are refused at once, as with Redis stopped.
DOWN = "redis://127.0.0.1:1/1"


def test_with_redis_down_the_cache_counts_in_memory_without_raising_or_waiting() -> None:
    cache = RedisCacheWithFallback(DOWN, {})

    started = time.monotonic()
    assert cache.add("limit", 1, timeout=60) is True
    assert cache.incr("limit") == 2
    assert cache.get("limit") == 2
    assert cache.add("limit", 1, timeout=60) is False

    assert time.monotonic() - started < 2


def test_with_redis_up_the_cache_counts_in_redis(settings: Any) -> None:
    location = settings.CACHES["default"]["LOCATION"]
    cache = RedisCacheWithFallback(location, {"KEY_PREFIX": "test-cache-fallback"})
    cache.delete("limit")
    other_process = RedisCacheWithFallback(location, {"KEY_PREFIX": "test-cache-fallback"})

    cache.add("limit", 1, timeout=60)
    cache.incr("limit")

    assert other_process.get("limit") == 2
    cache.delete("limit")

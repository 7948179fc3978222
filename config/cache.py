"""Django's Redis cache, counting in process memory while Redis cannot be reached.

The cache holds only counters (the rate limits, the API throttles), so losing it for a while is
acceptable and failing every page is not: when Redis does not answer within its timeouts the
operation goes to a small in-process cache instead, and for ``DOWN_SECONDS`` after that Redis is
not asked again, so each page pays the timeout at most once per pause. Limits keep counting, per
web process rather than for all, until Redis is back (SECURITY.md, "Broker down").
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

logger = logging.getLogger(__name__)

DOWN_SECONDS = 10.0
TIMEOUT_SECONDS = 1.0
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class RedisCacheWithFallback(RedisCache):
    """``RedisCache`` whose operations fall back to process memory while Redis is down."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        # One attempt within a second (redis-py would otherwise retry with backoff): a counter
        # is not worth holding a page up for.
        options = {**params.get("OPTIONS", {})}
        options.setdefault("socket_connect_timeout", TIMEOUT_SECONDS)
        options.setdefault("socket_timeout", TIMEOUT_SECONDS)
        options.setdefault("retry", Retry(NoBackoff(), 0))
        super().__init__(server, {**params, "OPTIONS": options})
        self._fallback = LocMemCache(
            f"redis-fallback-{id(self)}", {"TIMEOUT": params.get("TIMEOUT", 300)}
        )
        self._down_until = 0.0

    def _either(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                return getattr(super(), name)(*args, **kwargs)
            except _UNREACHABLE as exc:
                self._down_until = time.monotonic() + DOWN_SECONDS
                logger.warning("cache: Redis unavailable (%s), counting in memory", exc)
        return getattr(self._fallback, name)(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("add", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("get", *args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("set", *args, **kwargs)

    def touch(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("touch", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("delete", *args, **kwargs)

    def get_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("get_many", *args, **kwargs)

    def has_key(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("has_key", *args, **kwargs)

    def incr(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("incr", *args, **kwargs)

    def decr(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("decr", *args, **kwargs)

    def set_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("set_many", *args, **kwargs)

    def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("delete_many", *args, **kwargs)

    def clear(self) -> Any:
        self._fallback.clear()
        return self._either("clear")

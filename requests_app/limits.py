"""Rate limits of the subject's pages and the public API: fixed windows, one count for both.

The web form and the API's twin endpoints count in the same groups of the shared cache, so a
client cannot double its allowance by switching between them. A limit such as ``"10/h"`` allows
ten in each clock hour: the counter's key carries the window's number and expires when the window
ends, so no cache backend can make a window slide, and the wait is known to the second (the
``Retry-After`` of a 429). Forms ask ``limit_reached`` before validating and count with
``limit_count`` only what they accept, so invalid input costs a client nothing.

The client address is the socket's unless ``TRUSTED_PROXY_COUNT`` says how many proxies stand in
front of the tracker (``client_address``); the API's throttles read it the same way.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timeuntil
from django.utils.translation import gettext

# One IPv6 subscriber usually holds a whole /64: counting single addresses would let it rotate.
IPV6_PREFIX = 64
# Counters outlive their window by a little, so processes whose clocks differ slightly agree.
_EXPIRY_MARGIN = 5
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}
# django-ratelimit's "10/h", "100/5m" and DRF's "60/min", "600/hour".
_RATE = re.compile(r"(\d+)/(\d*)(s|sec|second|m|min|minute|h|hour|d|day)s?")


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class Rate:
    allowance: int
    seconds: int


def rate_parse(rate: str) -> Rate:
    """Parse ``"10/h"``, ``"60/min"`` or ``"100/5m"``: a count per (a multiple of) a unit."""
    match = _RATE.fullmatch(rate.strip().lower())
    seconds = _UNIT_SECONDS[match.group(3)[0]] * int(match.group(2) or 1) if match else 0
    if match is None or seconds == 0:
        raise ImproperlyConfigured(f"{rate!r} is not a rate such as 10/h, 60/min or 100/5m")
    return Rate(allowance=int(match.group(1)), seconds=seconds)


@dataclass(frozen=True)
class Refusal:
    """An attempt over a limit, which lifts when the window ends in ``retry_after`` seconds."""

    retry_after: int

    def message(self) -> str:
        """Say, in the active language, that too many came and how long to wait."""
        now = timezone.now()
        # In whole minutes, rounded up: "1 minute" rather than "0 minutes" or a count of seconds.
        wait = timeuntil(now + timedelta(minutes=math.ceil(self.retry_after / 60)), now)
        return gettext(
            "Too many requests have come from your network in a short time. Please try again "
            "in %(wait)s."
        ) % {"wait": wait}


def client_address(request: HttpRequest) -> str:
    """Return the client's IP address.

    With ``TRUSTED_PROXY_COUNT = 0`` (the default) it is the socket's and no header is believed.
    Behind N proxies, each of which appends the address it was reached from to
    ``X-Forwarded-For``, it is the N-th entry from the right, the one the outermost proxy wrote;
    entries further left came from the client and anyone could have written them. A header with
    fewer entries gives its first; one that is not an address gives the socket's.
    """
    remote: str = request.META.get("REMOTE_ADDR", "")
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    header: str = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [entry.strip() for entry in header.split(",") if entry.strip()]
    if not forwarded:
        return remote
    candidate = forwarded[-min(proxies, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def client_key(request: HttpRequest) -> str:
    """Return what per-address limits count: the client address, for IPv6 its /64 network."""
    address = client_address(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False).network_address)
    return str(parsed)


@dataclass(frozen=True)
class _Window:
    cache_key: str
    allowance: int
    ends_at: float

    @classmethod
    def current(cls, *, group: str, rate: str, key: str) -> _Window:
        parsed = rate_parse(rate)
        index = int(_now() // parsed.seconds)
        # Hashed: the keys count email addresses, which have no business in the cache in clear.
        digest = hashlib.sha256(key.encode()).hexdigest()
        return cls(
            cache_key=f"limit:{group}:{parsed.seconds}:{digest}:{index}",
            allowance=parsed.allowance,
            ends_at=(index + 1) * parsed.seconds,
        )

    def refusal(self) -> Refusal:
        return Refusal(retry_after=max(1, math.ceil(self.ends_at - _now())))

    def expiry(self) -> int:
        return math.ceil(self.ends_at - _now()) + _EXPIRY_MARGIN


def limit_reached(*, group: str, rate: str, key: str) -> Refusal | None:
    """Return a refusal if ``key`` has used up its allowance in ``group``; count nothing."""
    window = _Window.current(group=group, rate=rate, key=key)
    used = caches["default"].get(window.cache_key, 0)
    return window.refusal() if used >= window.allowance else None


def limit_count(*, group: str, rate: str, key: str) -> Refusal | None:
    """Count one attempt of ``key`` in ``group``; return a refusal if it is over the allowance."""
    window = _Window.current(group=group, rate=rate, key=key)
    used = _increment(window)
    return window.refusal() if used > window.allowance else None


def link_open_count(request: HttpRequest) -> Refusal | None:
    """Count the opening of a secret link from the client's address (every attempt counts)."""
    return limit_count(
        group="link-open-ip", rate=settings.RATELIMIT_LINK_OPEN_PER_IP, key=client_key(request)
    )


def _increment(window: _Window) -> int:
    cache = caches["default"]
    if cache.add(window.cache_key, 1, timeout=window.expiry()):
        return 1
    try:
        used: int = cache.incr(window.cache_key)
    except ValueError:  # it expired between the two calls, at the window's edge
        cache.set(window.cache_key, 1, timeout=window.expiry())
        return 1
    if type(cache).incr is BaseCache.incr:
        # Django's generic incr (the file and database caches) writes the value back with the
        # backend's default timeout, which would end the count five minutes after the last
        # attempt: put the window's end back.
        cache.touch(window.cache_key, timeout=window.expiry())
    return used

"""The rate limits: the client address, fixed windows on every cache backend, the refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.utils import translation

from requests_app.limits import (
    Rate,
    client_address,
    client_key,
    limit_count,
    limit_reached,
    rate_parse,
)

HOUR_START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _request(remote: str = "198.51.100.7", forwarded: str | None = None) -> Any:
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("10/h", Rate(10, 3600)),
        ("60/m", Rate(60, 60)),
        ("60/min", Rate(60, 60)),
        ("600/hour", Rate(600, 3600)),
        ("5/day", Rate(5, 86400)),
        ("100/5m", Rate(100, 300)),
        ("100000/min", Rate(100000, 60)),
    ],
)
def test_rates_are_read_in_django_ratelimits_and_drfs_notation(rate: str, parsed: Rate) -> None:
    assert rate_parse(rate) == parsed


@pytest.mark.parametrize("rate", ["10", "10/month", "ten/h", "10/0m", "10/hh"])
def test_a_rate_that_is_not_one_is_refused_with_its_value(rate: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=rate):
        rate_parse(rate)


def test_by_default_the_socket_address_is_the_clients_whatever_the_headers_say() -> None:
    request = _request(remote="198.51.100.7", forwarded="203.0.113.1, 203.0.113.2")

    assert client_address(request) == "198.51.100.7"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "client"),
    [
        # The proxy appends the address it was reached from; whatever is left of it is the
        # client's own writing.
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        # Fewer entries than proxies: the farthest one known.
        (2, "203.0.113.9", "203.0.113.9"),
        # Not an address, or no header: the socket's (the proxy's), so such clients share one.
        (1, "6.6.6.6, unknown", "10.0.0.1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_behind_trusted_proxies_the_address_the_outermost_one_saw_is_the_clients(
    settings: Any, proxies: int, forwarded: str, client: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_address(_request(remote="10.0.0.1", forwarded=forwarded)) == client
    assert client_address(_request(remote="10.0.0.1")) == "10.0.0.1"


def test_an_ipv6_client_is_counted_by_its_64_network() -> None:
    one = client_key(_request(remote="2001:db8:1:2:aaaa::1"))
    other = client_key(_request(remote="2001:db8:1:2:bbbb::9"))
    elsewhere = client_key(_request(remote="2001:db8:1:3::1"))

    assert one == other == "2001:db8:1:2::"
    assert elsewhere != one
    assert client_key(_request(remote="198.51.100.7")) == "198.51.100.7"


@pytest.fixture(params=["shared", "file", "local memory"])
def backend(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[str]:
    """Each cache backend the limits may count in: the tests' Redis, the embedded file cache."""
    if request.param == "file":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    elif request.param == "local memory":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    caches["default"].clear()
    yield request.param
    caches["default"].clear()


def test_a_window_does_not_slide_and_its_count_does_not_lapse_early(backend: str) -> None:
    limit = {"group": "test", "rate": "3/h", "key": "198.51.100.7"}
    # Twenty minutes apart: longer than a cache's default timeout, which must not end the count.
    with time_machine.travel(HOUR_START, tick=False) as traveller:
        for _ in range(3):
            assert limit_count(**limit) is None
            traveller.shift(timedelta(minutes=20) - timedelta(seconds=1))
        refusal = limit_count(**limit)
        assert refusal is not None
        assert refusal.retry_after == 3  # the window ends on the hour, not an hour after

        traveller.shift(timedelta(seconds=3))
        assert limit_count(**limit) is None


def test_asking_counts_nothing_and_other_keys_count_apart(backend: str) -> None:
    limit = {"group": "test", "rate": "1/h"}
    with time_machine.travel(HOUR_START + timedelta(minutes=15), tick=False):
        assert limit_reached(**limit, key="a") is None
        assert limit_reached(**limit, key="a") is None
        assert limit_count(**limit, key="a") is None

        reached = limit_reached(**limit, key="a")
        assert reached is not None
        assert reached.retry_after == 45 * 60
        assert limit_count(**limit, key="b") is None


def test_the_refusal_says_how_long_to_wait_in_the_visitors_language() -> None:
    with time_machine.travel(HOUR_START + timedelta(minutes=40, seconds=30), tick=False):
        limit_count(group="test", rate="1/h", key="a")
        refusal = limit_count(group="test", rate="1/h", key="a")
    assert refusal is not None

    with translation.override("en"):
        message = refusal.message().replace("\xa0", " ")

    assert refusal.retry_after == 19 * 60 + 30
    assert message == (
        "Too many requests have come from your network in a short time. Please try again in "
        "20 minutes."
    )

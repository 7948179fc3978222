"""The health endpoint that load balancers and operators poll."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from outbox.relay import backlog


def database_state() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the type is reported, never the details
        return f"down ({type(exc).__name__})"
    return "ok"


def broker_state() -> str:
    url = settings.CELERY_BROKER_URL
    timeout = settings.HEALTHZ_TIMEOUT_SECONDS
    # Socket timeouts apply to Redis; the SQLAlchemy transport passes options to create_engine.
    options = (
        {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if url.startswith(("redis://", "rediss://"))
        else {}
    )
    try:
        with Connection(url, connect_timeout=timeout, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # any failure means "down"; the type is reported, never the details
        return f"down ({type(exc).__name__})"
    return "ok"


def outbox_state() -> dict[str, int] | str:
    """Return how much work waits for the broker (``pending``, ``oldest_seconds``)."""
    try:
        return backlog()
    except Exception as exc:  # the database is down: reported under "database" already
        return f"unknown ({type(exc).__name__})"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Report whether the database and the Celery broker answer: 200 if both do, 503 if not.

    With the broker down the public pages still work (their work waits in the outbox); ``outbox``
    says how many tasks wait and how old the oldest is, in seconds.
    """
    checks = {"database": database_state(), "broker": broker_state()}
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": checks,
            "outbox": outbox_state(),
        },
        status=200 if healthy else 503,
    )

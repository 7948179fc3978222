"""Status callbacks: each OpenDSR status change is POSTed, signed, to every callback URL.

Every status change appends an audit event, so saving an event with a new status is the one
moment every change (from the admin, the API, a beat job, a controller) passes through; after
its transaction commits, ``callbacks_dispatch`` compares each linked request's OpenDSR status
with the one last reported. A change is claimed by a conditional update of ``reported_status``
(so two runs never report it twice), recorded as one ``OpenDSRCallback`` per URL, and each is
delivered by its own task, retried with exponential backoff until the controller answers 2xx.

Delivery is at least once: a controller may see a callback again and should treat it as the
status it states. Only the current status is reported: two changes in quick succession may be
reported as the second alone. A callback goes only to a host the controller still allows, never
follows a redirect, and records every attempt (HTTP status or error) for staff to see.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from datetime import datetime
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from opendsr.models import (
    OpenDSRCallback,
    OpenDSRRequest,
    opendsr_status_expression,
)
from opendsr.serializers import CallbackBodySerializer, compact_json
from opendsr.signing import signature_headers
from outbox.api import enqueue
from requests_app.models import RequestEvent

logger = logging.getLogger(__name__)


class CallbackFailed(Exception):
    """The controller did not accept a callback; the task retries it later."""


def callbacks_dispatch(*, request_id: int | None = None, at: datetime | None = None) -> int:
    """Queue a callback per URL for every status change not yet reported; return how many.

    ``request_id`` limits the run to one subject request. Safe to run again or concurrently.
    """
    now = at or timezone.now()
    changed = (
        OpenDSRRequest.objects.annotate(current=opendsr_status_expression())
        .exclude(reported_status=F("current"))
        .order_by("pk")
    )
    if request_id is not None:
        changed = changed.filter(request_id=request_id)
    queued = 0
    for pk, reported, current, urls in changed.values_list(
        "pk", "reported_status", "current", "status_callback_urls"
    ):
        queued += _report(pk=pk, reported=reported, current=current, urls=urls, at=now)
    return queued


@transaction.atomic
def _report(*, pk: int, reported: str, current: str, urls: list[str], at: datetime) -> int:
    claimed = OpenDSRRequest.objects.filter(pk=pk, reported_status=reported).update(
        reported_status=current
    )
    if claimed != 1:
        return 0  # another run reported this change
    callbacks = OpenDSRCallback.objects.bulk_create(
        OpenDSRCallback(opendsr_request_id=pk, url=url, request_status=current, created_at=at)
        for url in urls
    )
    for callback in callbacks:
        enqueue("opendsr.deliver_status_callback", callback.pk)
    return len(callbacks)


def callback_body(callback: OpenDSRCallback) -> bytes:
    return compact_json(CallbackBodySerializer(callback).data)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead the processor to a host the controller never registered.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` and return the HTTP status (an error status too)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("callback URLs are http(s) only")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked above
    try:
        with _opener.open(request, timeout=settings.OPENDSR_CALLBACK_TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def _record(
    callback: OpenDSRCallback,
    *,
    at: datetime,
    status: int | None = None,
    error: str = "",
    delivered: bool = False,
) -> None:
    OpenDSRCallback.objects.filter(pk=callback.pk).update(
        attempts=F("attempts") + 1,
        last_attempt_at=at,
        response_status=status,
        last_error=error[:300],
        delivered_at=at if delivered else None,
    )


def callback_deliver(*, callback_id: int, at: datetime | None = None) -> bool:
    """Send one callback; return True once delivered, False when it no longer should be sent.

    Raise ``CallbackFailed`` when the controller could not be reached or did not answer 2xx, so
    the task retries; each attempt is recorded.
    """
    callback = (
        OpenDSRCallback.objects.select_related(
            "opendsr_request__controller", "opendsr_request__request"
        )
        .filter(pk=callback_id)
        .first()
    )
    if callback is None or callback.delivered_at is not None:
        return callback is not None
    now = at or timezone.now()
    controller = callback.opendsr_request.controller
    if not controller.is_active or not controller.allows_callback_url(callback.url):
        _record(
            callback,
            at=now,
            error="not sent: the controller is inactive or no longer allows this host",
        )
        return False
    body = callback_body(callback)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "DSR-Tracker-OpenDSR/2.0",
        **signature_headers(body),
    }
    try:
        status = _post(callback.url, body, headers)
    except (OSError, HTTPException, ValueError) as error:  # URLError and timeouts are OSErrors
        _record(callback, at=now, error=f"{type(error).__name__}: {error}")
        raise CallbackFailed(f"callback {callback.pk}: {type(error).__name__}") from error
    if 200 <= status < 300:
        _record(callback, at=now, status=status, delivered=True)
        return True
    _record(callback, at=now, status=status, error=f"HTTP {status}")
    raise CallbackFailed(f"callback {callback.pk}: HTTP {status}")


@receiver(post_save, sender=RequestEvent, dispatch_uid="opendsr-status-callbacks")
def _status_changed(
    sender: type[RequestEvent], instance: RequestEvent, created: bool, **kwargs: Any
) -> None:
    if not created or not instance.to_status:
        return
    request_id = instance.request_id
    if OpenDSRRequest.objects.filter(request_id=request_id).exists():
        enqueue("opendsr.dispatch_status_callbacks", request_id)

"""The callbacks systems send their answers to: an HTTP system's, an OpenDSR processor's.

Both are public (the systems have no account) and trust nothing but the signature:

- ``webhook``: an HTTP system's answer to one of its tasks (docs/webhooks.md). The body is read
  up to ``SYSTEM_ANSWER_MAX_BYTES`` (413 beyond), its HMAC signature checked with that system's
  secret (401), its timestamp inside the replay window and its signature not seen before on the
  task (409: a replay), then validated against the schema (400) and landed on the task, which
  must be open (409). A signed answer that is malformed also fails the task, with the reason;
  nothing of an unsigned or refused one is kept.
- ``opendsr``: a processor's status callback for the request it received for one of our tasks,
  signed with the key of the certificate pinned when the request was sent (``processors``).

Errors are ``{"error": {"code": ..., "message": ...}}`` and never repeat what was sent. An
address whose callbacks are refused (unknown task, bad signature) ``REFUSALS_RATE`` times is
answered 429 until the window ends: guessing costs the guesser, a working system is never slowed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from requests_app.limits import client_key, limit_count, limit_reached
from systems import processors
from systems.handlers import AnswerRefused, task_fail
from systems.models import SystemKind, SystemTask
from systems.webhooks import (
    KEPT_RECORDS,
    SIGNATURE_HEADER,
    SignatureRefused,
    WebhookError,
    answer_apply,
    answer_parse,
    secret_read,
    signature_check,
)

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
REFUSALS_RATE = "30/10m"
REFUSALS_GROUP = "system-callback-refused"


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _refused(request: HttpRequest, status: int, code: str, message: str) -> JsonResponse:
    """An error that counts against the sender's address (an unknown task, a bad signature)."""
    limit_count(group=REFUSALS_GROUP, rate=REFUSALS_RATE, key=client_key(request))
    return _error(status, code, message)


def _too_many(request: HttpRequest) -> JsonResponse | None:
    refusal = limit_reached(group=REFUSALS_GROUP, rate=REFUSALS_RATE, key=client_key(request))
    if refusal is None:
        return None
    response = _error(429, "too_many_refused", _("Too many refused callbacks from this address."))
    response["Retry-After"] = str(refusal.retry_after)
    return response


class BodyTooLarge(Exception):
    pass


def read_body(request: HttpRequest) -> bytes:
    """The request body, read in chunks up to ``SYSTEM_ANSWER_MAX_BYTES``."""
    limit = settings.SYSTEM_ANSWER_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    parts: list[bytes] = []
    size = 0
    while chunk := request.read(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)


def _is_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json"


def _task(task_id: int, kind: str) -> SystemTask | None:
    return (
        SystemTask.objects.select_related("system", "request")
        .filter(pk=task_id, system__kind=kind)
        .first()
    )


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, task_id: int) -> JsonResponse:
    """An HTTP system's signed answer to its task."""
    if (too_many := _too_many(request)) is not None:
        return too_many
    task = _task(task_id, SystemKind.HTTP)
    if task is None:
        return _refused(request, 404, "unknown_task", _("No task of an HTTP system has this id."))
    if not _is_json(request):
        return _error(415, "not_json", _("The body must be application/json."))
    try:
        raw = read_body(request)
    except BodyTooLarge:
        return _error(
            413,
            "too_large",
            _("An answer must be at most %(limit)d bytes.")
            % {"limit": settings.SYSTEM_ANSWER_MAX_BYTES},
        )
    try:
        secret = secret_read(task.system)
    except WebhookError as error:
        logger.error("callback for task %s: %s", task.pk, error)
        return _error(503, "not_configured", _("The tracker cannot check signatures right now."))
    try:
        signed_at = signature_check(secret, request.headers, raw)
    except SignatureRefused as error:
        logger.warning("callback for task %s refused: %s", task.pk, error)
        return _refused(request, 401, "bad_signature", str(error))
    given = request.headers.get(SIGNATURE_HEADER, "").strip().lower()
    return _webhook_land(task, raw, given=given, signed_at=signed_at)


def _webhook_land(task: SystemTask, raw: bytes, *, given: str, signed_at: int) -> JsonResponse:
    with transaction.atomic():
        locked = (
            SystemTask.objects.select_for_update()
            .select_related("system", "request")
            .get(pk=task.pk)
        )
        evidence = dict(locked.evidence or {})
        seen = [
            entry
            for entry in evidence.get("http_callbacks", [])
            if entry.get("at", 0) >= signed_at - settings.SYSTEM_HTTP_REPLAY_SECONDS
        ]
        if any(entry.get("signature") == given for entry in seen):
            return _error(409, "replayed", _("This callback was received already."))
        if not locked.is_open:
            return _error(409, "task_settled", _("This task is no longer open."))
        try:
            answer = answer_parse(raw, task=locked)
        except WebhookError as error:
            message = _("the system's callback was refused: %(error)s") % {"error": error}
            task_fail(locked, message, retryable=False)
            return _error(400, "invalid_answer", str(error))
        evidence["http_callbacks"] = [*seen, {"at": signed_at, "signature": given}][-KEPT_RECORDS:]
        SystemTask.objects.filter(pk=locked.pk).update(evidence=evidence)
        locked.evidence = evidence
        try:
            landed = answer_apply(locked, answer, by=locked.system.name)
        except AnswerRefused as error:
            transaction.set_rollback(True)
            return _error(409, "refused", str(error))
    return JsonResponse({"task_id": str(landed.pk), "status": landed.status})


@csrf_exempt
@require_POST
def opendsr(request: HttpRequest, task_id: int) -> JsonResponse:
    """An OpenDSR processor's signed status callback for the request of one of our tasks."""
    if (too_many := _too_many(request)) is not None:
        return too_many
    task = _task(task_id, SystemKind.OPENDSR)
    if task is None:
        return _refused(
            request, 404, "unknown_task", _("No task of an OpenDSR processor has this id.")
        )
    if not _is_json(request):
        return _error(415, "not_json", _("The body must be application/json."))
    try:
        raw = read_body(request)
    except BodyTooLarge:
        return _error(413, "too_large", _("A status callback is a few hundred bytes."))
    try:
        status = processors.callback_receive(task, raw, request.headers)
    except processors.SignatureInvalid as error:
        return _refused(request, 401, "bad_signature", str(error))
    except processors.NotThisRequest as error:
        return _error(409, "not_this_request", str(error))
    except processors.ProcessorError as error:
        return _error(400, "invalid_callback", str(error))
    return JsonResponse({"task_id": str(task.pk), "status": status})
